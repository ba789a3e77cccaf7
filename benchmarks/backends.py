"""The package and the seed notebook's code on each Keras backend (TensorFlow, JAX, PyTorch), measured in the same run.

    python -m benchmarks.backends --data ../shared/data [--rounds 3] [--train-images 3200] [--runners seed ...]
    python -m benchmarks.backends --interleaved --clock cpu ...   a backend's runners in one process, taking turns

Each measurement is benchmarks.measure's, in a fresh process with KERAS_BACKEND set, the order rotating from round to
round; the table gives medians over the rounds against the seed code on TensorFlow and on the same backend.
"""

import argparse
import importlib.util
import statistics
import sys

from benchmarks.common import measured, rotated, table, write_results
from mnist_cnn.backend import BACKENDS

RUNNERS = ("seed", "package-fast-float32", "package-fast-float32-batches", "package-fast")


def speed(runner: str, args: argparse.Namespace, backend: str = "tensorflow") -> dict:
    """One runner's speed figures on one backend, from a fresh process."""
    return measured(runner, "speed", args, "--train-images", str(args.train_images), KERAS_BACKEND=backend)


def interleaved(backend: str, args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """Each runner's training rates on one backend, the runners taking turns in one process, by both clocks."""
    options = ["--rounds", str(args.rounds), "--warmup-images", str(args.warmup_images)]
    options += ["--train-images", str(args.train_images)]
    return measured(",".join(args.runners), "interleaved", args, *options, KERAS_BACKEND=backend)


def markdown(rates: dict[tuple[str, str], list[float]], pipeline: list[float], args: argparse.Namespace) -> str:
    """The table of medians, each against the seed code on TensorFlow and on its own backend."""
    median = {pair: statistics.median(values) for pair, values in rates.items()}
    reference = median.get(("tensorflow", "seed"))
    how = f"the runners of a backend in one process, taking turns epoch by epoch, timed by the {args.clock} clock"
    unit = "images per CPU second" if args.interleaved and args.clock == "cpu" else "images/s"
    lines = [
        f"Training {unit}, medians of {args.rounds} rounds of one epoch of {args.train_images:,} images after a"
        f" warm-up epoch, {args.dataset}, {how if args.interleaved else 'each in a fresh process'}.",
        "",
    ]
    rows = []
    for (backend, runner), rate in median.items():
        versus_tf = f"{rate / reference:.2f}" if reference else "n/a"
        versus_seed = f"{rate / median[backend, 'seed']:.2f}" if (backend, "seed") in median else "n/a"
        rounds = ", ".join(f"{value:.0f}" for value in rates[backend, runner])
        rows.append([backend, runner, f"{rate:,.0f}", versus_tf, versus_seed, rounds])
    header = [
        "backend",
        "runner",
        f"train {unit}",
        "vs seed code on TensorFlow",
        "vs seed code on this backend",
        "rounds",
    ]
    lines += table(header, rows)
    pipeline_line = f"The `accurate` recipe's input pipeline alone: {statistics.median(pipeline):,.0f} images/s."
    return "\n".join([*lines, "", pipeline_line])


def measure_apart(pairs: list[tuple[str, str]], args: argparse.Namespace) -> dict[tuple[str, str], list[float]]:
    """Each (backend, runner)'s training rate in each round, each in a fresh process, the order rotating."""
    rates: dict[tuple[str, str], list[float]] = {pair: [] for pair in pairs}
    for round_number in range(args.rounds):
        for backend, runner in rotated(pairs, round_number * len(args.runners)):
            rates[backend, runner].append(speed(runner, args, backend)["train_images_per_s"])
            print(f"  round {round_number + 1} {backend} {runner}: {rates[backend, runner][-1]:.0f}", file=sys.stderr)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data", help="a data path, as mnist-cnn train --data")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--train-images", type=int, default=3200)
    parser.add_argument("--runners", nargs="+", default=RUNNERS, help="`seed` first: the reference")
    parser.add_argument("--backends", nargs="+", default=BACKENDS, choices=BACKENDS)
    parser.add_argument("--interleaved", action="store_true", help="one process a backend, runners taking turns")
    parser.add_argument("--warmup-images", type=int, default=640, help="with --interleaved (default: %(default)s)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="with --interleaved: what times")
    args = parser.parse_args()
    backends = [backend for backend in args.backends if importlib.util.find_spec(backend)]  # the installed ones
    pairs = [(backend, runner) for backend in backends for runner in args.runners]
    figures = {"interleaved": args.interleaved, "clock": args.clock, "rounds": args.rounds}
    if args.interleaved:
        measured = {backend: interleaved(backend, args) for backend in backends}
        rates = {(backend, runner): measured[backend][args.clock][runner] for backend, runner in pairs}
        other = "cpu" if args.clock == "wall" else "wall"
        figures["rates_by_the_other_clock"] = {f"{b} {r}": measured[b][other][r] for b, r in pairs}
    else:
        rates = measure_apart(pairs, args)
    pipeline = [speed("pipeline", args)["images_per_s"] for _ in range(1 if args.interleaved else args.rounds)]
    figures |= {"train_images": args.train_images, "pipeline_images_per_s": pipeline}
    figures["rates"] = {f"{backend} {runner}": values for (backend, runner), values in rates.items()}
    write_results("backends", figures, markdown(rates, pipeline, args))


if __name__ == "__main__":
    main()
