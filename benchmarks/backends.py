"""Training images/s of the package and the seed code on each installed Keras backend, each by benchmarks.measure."""

import argparse
import importlib.util
import statistics
import sys

from benchmarks.common import benchmark_parser, measured, rotated, table, write_results
from mnist_cnn.backend import BACKENDS

RUNNERS = ("seed", "package-fast-float32", "package-fast-float32-batches", "package-fast")


def markdown(rates: dict[tuple[str, str], list[float]], pipeline: list[float], args: argparse.Namespace) -> str:
    """The table of medians, each against the seed code on TensorFlow and on its own backend."""
    median = {pair: statistics.median(values) for pair, values in rates.items()}
    how = f"the runners of a backend in one process, taking turns epoch by epoch, timed by the {args.clock} clock"
    unit = "images per CPU second" if args.interleaved and args.clock == "cpu" else "images/s"
    intro = (
        f"Training {unit}, medians of {args.rounds} rounds of one epoch of {args.train_images:,} images after a"
        f" warm-up epoch, {args.dataset}, {how if args.interleaved else 'each in a fresh process'}."
    )
    rows = []
    for (backend, runner), rate in median.items():
        seeds = (median.get(("tensorflow", "seed")), median.get((backend, "seed")))
        ratios = [f"{rate / seed:.2f}" if seed else "n/a" for seed in seeds]
        rows.append([backend, runner, f"{rate:,.0f}", *ratios, ", ".join(f"{v:.0f}" for v in rates[backend, runner])])
    versus = "vs seed code on"
    header = ["backend", "runner", f"train {unit}", f"{versus} TensorFlow", f"{versus} this backend", "rounds"]
    pipeline_line = f"The `accurate` recipe's input pipeline alone: {statistics.median(pipeline):,.0f} images/s."
    return "\n".join([intro, "", *table(header, rows), "", pipeline_line])


def main() -> None:
    parser = benchmark_parser(__doc__)
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
    timed = ["--train-images", str(args.train_images)]
    if args.interleaved:
        options = ["--rounds", str(args.rounds), "--warmup-images", str(args.warmup_images), *timed]
        runners = ",".join(args.runners)
        by_clock = {b: measured(runners, "interleaved", args, *options, KERAS_BACKEND=b) for b in backends}
        rates = {(backend, runner): by_clock[backend][args.clock][runner] for backend, runner in pairs}
        other = "cpu" if args.clock == "wall" else "wall"
        figures["rates_by_the_other_clock"] = {f"{b} {r}": by_clock[b][other][r] for b, r in pairs}
    else:  # each in a fresh process, the order rotating from round to round
        rates = {pair: [] for pair in pairs}
        for round_number in range(args.rounds):
            for backend, runner in rotated(pairs, round_number * len(args.runners)):
                rate = measured(runner, "speed", args, *timed, KERAS_BACKEND=backend)["train_images_per_s"]
                rates[backend, runner].append(rate)
                print(f"  round {round_number + 1} {backend} {runner}: {rate:.0f}", file=sys.stderr)
    runs = range(1 if args.interleaved else args.rounds)
    pipeline = [measured("pipeline", "speed", args, *timed, KERAS_BACKEND="tensorflow")["images_per_s"] for _ in runs]
    figures |= {"train_images": args.train_images, "pipeline_images_per_s": pipeline}
    figures["rates"] = {f"{backend} {runner}": values for (backend, runner), values in rates.items()}
    write_results("backends", figures, markdown(rates, pipeline, args))


if __name__ == "__main__":
    main()
