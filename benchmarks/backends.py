"""The package and the seed notebook's code on each Keras backend (TensorFlow, JAX, PyTorch), measured in the same run.

    python benchmarks/backends.py --data ../shared/data [--rounds 3] [--train-images 3200] [--runners seed ...]
    (about 10 minutes here)

Each round measures every runner on every backend once, each in a fresh process (benchmarks/measure.py with
KERAS_BACKEND set), in an order that rotates from round to round; the table gives medians over the rounds, and each
figure against the seed code on TensorFlow (the seed notebook as it ran) and on the same backend. Training: one epoch
of --train-images images after a warm-up epoch. `package-fast-float32` is the `fast` recipe in float32, which feeds
Keras the arrays (nothing is augmented); `package-fast-float32-batches` the same through the package's batches (a
PyDataset), as the `accurate` recipe's augmented images go (and as `fast` did before). The last line is the
`accurate` recipe's input pipeline alone (mnist_cnn.pipeline, shuffling, shifting and rotating batches of 128), which
is the same NumPy code on every backend.
Results go to benchmarks/results/backends.json and .md, and the Markdown is printed.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from mnist_cnn.backend import BACKENDS, installed

HERE = Path(__file__).parent
RUNNERS = ("seed", "package-fast-float32", "package-fast-float32-batches", "package-fast")
PIPELINE = """
import json, sys, time
from mnist_cnn.config import config_for
from mnist_cnn.data import load_data
from mnist_cnn.pipeline import TrainingBatches
(train, _) = load_data(sys.argv[1], sys.argv[2] or None)
batches = TrainingBatches(train, config_for("accurate"))
start = time.perf_counter()
count = sum(len(batches[index][0]) for index in range(len(batches)))
print(json.dumps({"images_per_s": count / (time.perf_counter() - start)}))
"""


# --interleaved: one process a backend, the runners training in turn, epoch by epoch, so that a machine shared with
# other work slows each runner alike; one warm-up epoch each, of --warmup-images images. Timed by the wall clock and by
# the process's CPU time (--clock cpu: images per CPU second, which other processes on the machine change far less).
INTERLEAVED = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from measure import make_runner
from mnist_cnn.data import load_raw
runners = sys.argv[2].split(",")
rounds, train_images, warmup_images = (int(value) for value in sys.argv[3:6])
(x, y), _ = load_raw(sys.argv[6], sys.argv[7] or None)
made = {name: make_runner(name, len(x), 42) for name in runners}
timed = {}
for name, runner in made.items():
    runner.train_epoch(runner.prepare(x[:warmup_images], y[:warmup_images]))
    timed[name] = runner.prepare(x[:train_images], y[:train_images])
rates = {clock: {name: [] for name in runners} for clock in ("wall", "cpu")}
for round_number in range(rounds):
    shift = round_number % len(runners)
    for name in runners[shift:] + runners[:shift]:
        wall, cpu = time.perf_counter(), time.process_time()
        made[name].train_epoch(timed[name])
        rates["wall"][name].append(train_images / (time.perf_counter() - wall))
        rates["cpu"][name].append(train_images / (time.process_time() - cpu))
print(json.dumps(rates))
"""


def measure_interleaved(backend: str, args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """Training images a second of each runner on one backend, each round, the runners taking turns in one process:
    {"wall": {runner: rates}, "cpu": {runner: rates}}."""
    command = [sys.executable, "-c", INTERLEAVED, str(HERE), ",".join(args.runners), str(args.rounds)]
    command += [str(args.train_images), str(args.warmup_images), args.dataset, args.data or ""]
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    finished = subprocess.run(command, capture_output=True, text=True, env=environment)
    if finished.returncode != 0:
        raise SystemExit(f"the runners on {backend} failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def measure(backend: str, runner: str, args: argparse.Namespace) -> float:
    """Training images a second of one runner on one backend, in a fresh process."""
    command = [sys.executable, str(HERE / "measure.py"), runner, "speed", "--dataset", args.dataset]
    command += ["--train-images", str(args.train_images), *(["--data", args.data] if args.data else [])]
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    finished = subprocess.run(command, capture_output=True, text=True, env=environment)
    if finished.returncode != 0:
        raise SystemExit(f"{runner} on {backend} failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])["train_images_per_s"]


def pipeline_rate(args: argparse.Namespace) -> float:
    command = [sys.executable, "-c", PIPELINE, args.dataset, args.data or ""]
    finished = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if finished.returncode != 0:
        raise SystemExit(f"the pipeline failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])["images_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data", help="a data path, as mnist-cnn train --data")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--train-images", type=int, default=3200)
    parser.add_argument("--runners", nargs="+", default=RUNNERS, help="`seed` first: the reference, built first")
    parser.add_argument("--interleaved", action="store_true", help="one process a backend, runners taking turns")
    parser.add_argument("--warmup-images", type=int, default=640, help="with --interleaved (default: %(default)s)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="with --interleaved: what times")
    parser.add_argument("--backends", nargs="+", default=BACKENDS, choices=BACKENDS)
    args = parser.parse_args()
    backends = [backend for backend in args.backends if installed(backend)]
    runners = args.runners
    pairs = [(backend, runner) for backend in backends for runner in runners]
    rates: dict[tuple[str, str], list[float]] = {pair: [] for pair in pairs}
    pipeline: list[float] = []
    started = time.perf_counter()
    other_clock: dict[str, list[float]] = {}  # with --interleaved, the rates by the clock not chosen
    if args.interleaved:
        for backend in backends:
            measured = measure_interleaved(backend, args)
            for runner, values in measured[args.clock].items():
                rates[backend, runner] = values
                other_clock[f"{backend} {runner}"] = measured["cpu" if args.clock == "wall" else "wall"][runner]
                print(f"  {backend} {runner}: {', '.join(f'{value:.0f}' for value in values)}", file=sys.stderr)
        pipeline.append(pipeline_rate(args))
    for round_number in range(0 if args.interleaved else args.rounds):
        shift = round_number * len(runners) % len(pairs)
        for backend, runner in pairs[shift:] + pairs[:shift]:
            rates[backend, runner].append(measure(backend, runner, args))
            print(f"  round {round_number + 1} {backend} {runner}: {rates[backend, runner][-1]:.0f}", file=sys.stderr)
        pipeline.append(pipeline_rate(args))
    median = {pair: statistics.median(values) for pair, values in rates.items()}
    reference = median.get(("tensorflow", "seed"))
    how = (
        f"the runners of a backend in one process, taking turns epoch by epoch, timed by the {args.clock} clock"
        if args.interleaved
        else "each in a fresh process"
    )
    unit = "images per CPU second" if args.interleaved and args.clock == "cpu" else "images/s"
    lines = [
        f"Training {unit} on this CPU ({os.cpu_count()} cores), medians of {args.rounds} rounds of one epoch of "
        f"{args.train_images:,} images after a warm-up epoch, {args.dataset}, {how}; "
        f"{time.perf_counter() - started:.0f} s in all.",
        "",
        f"| backend | runner | train {unit} | vs seed code on TensorFlow | vs seed code on this backend | rounds |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for backend, runner in pairs:
        rate = median[backend, runner]
        versus_tf = f"{rate / reference:.2f}" if reference else "n/a"
        versus_seed = f"{rate / median[backend, 'seed']:.2f}" if (backend, "seed") in median else "n/a"
        rounds = ", ".join(f"{value:.0f}" for value in rates[backend, runner])
        lines.append(f"| {backend} | {runner} | {rate:,.0f} | {versus_tf} | {versus_seed} | {rounds} |")
    lines += [
        "",
        f"The `accurate` recipe's input pipeline alone (shuffle, shift, rotate; NumPy and SciPy, any backend): "
        f"{statistics.median(pipeline):,.0f} images/s.",
        "",
    ]
    table = "\n".join(lines)
    results = {
        "interleaved": args.interleaved,
        "clock": args.clock if args.interleaved else "wall",
        **({"rates_by_the_other_clock": other_clock} if args.interleaved else {}),
        "rounds": args.rounds,
        "train_images": args.train_images,
        "rates": {f"{backend} {runner}": values for (backend, runner), values in rates.items()},
        "pipeline_images_per_s": pipeline,
    }
    sys.path.insert(0, str(HERE))
    from run_all import write_results

    write_results("backends", results, table)


if __name__ == "__main__":
    main()
