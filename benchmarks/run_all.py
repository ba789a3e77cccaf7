"""Benchmarks of this package against the seed notebook's code and plain PyTorch, measured in the same run.

    python benchmarks/run_all.py --data ../shared/data [--rounds 7] [--accuracy-rounds 3] [--skip-accuracy]

Speed: each round measures every runner once, each in a fresh process, in an order that rotates from round to round;
the table gives medians over the rounds. Training throughput is one epoch of --train-images images after a warm-up
epoch; inference throughput is the whole test set; latency is one image; memory is the process's peak RSS. The seed
code runs twice (`seed` and `seed-again`): the gap between the two is the noise floor of the machine.

Time to accuracy: each round gives every runner the round's own seed, in an order that rotates from round to round.
Each trains until its test accuracy, measured after every epoch with the clock stopped, reaches the target (99.0%),
or its recipe ends. Test accuracy is measured here, not used to choose anything: the package's recipes were chosen
on validation data (benchmarks/search.py). The table gives each runner's median time to the target, how many rounds
reached it, and the median over rounds of its time against the seed code's and PyTorch's in the same round.

Results go to benchmarks/results/NAME.json (with every run's raw figures) and .md, and the Markdown is printed. A part
that is skipped (--skip-speed, --skip-accuracy) keeps the figures of the earlier results of the same name.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

from mnist_cnn.config import config_for
from mnist_cnn.files import atomic_path, write_json

HERE = Path(__file__).parent
SPEED_RUNNERS = ("seed", "seed-again", "package-seed", "package-fast", "torch")
ACCURACY_RUNNERS = ("seed", "package-seed", "package-fast", "torch")
PEERS = ("seed", "torch")
SEED_EPOCHS = 10


def measure(runner: str, task: str, args: argparse.Namespace, *options: str) -> dict:
    command = [sys.executable, str(HERE / "measure.py"), runner, task, "--dataset", args.dataset, *options]
    if args.data:
        command += ["--data", args.data]
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        raise SystemExit(f"{runner} {task} failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def rotated(runners: tuple[str, ...], round_number: int) -> tuple[str, ...]:
    """The runners in an order that starts one further along in each round."""
    shift = round_number % len(runners)
    return runners[shift:] + runners[:shift]


def speed_benchmark(args: argparse.Namespace) -> dict[str, list[dict]]:
    """Every runner's speed figures, one dict per round."""
    runs: dict[str, list[dict]] = {runner: [] for runner in (*SPEED_RUNNERS, "gemm")}
    for round_number in range(args.rounds):
        for runner in rotated((*SPEED_RUNNERS, "gemm"), round_number):
            runs[runner].append(measure(runner, "speed", args, "--train-images", str(args.train_images)))
            print(f"  round {round_number + 1}/{args.rounds} {runner}: {runs[runner][-1]}", file=sys.stderr)
    return runs


def median_of(runs: list[dict], metric: str) -> float:
    return statistics.median(run[metric] for run in runs)


def accuracy_benchmark(args: argparse.Namespace) -> list[dict]:
    """Per round: its seed, and each runner's test accuracy and training time after each epoch until the target."""
    rounds = []
    for round_number in range(args.accuracy_rounds):
        seed = round_number + 1
        curves = {}
        for runner in rotated(ACCURACY_RUNNERS, round_number):
            recipe = runner.removeprefix("package-")
            epochs = config_for(recipe).epochs if runner.startswith("package-") else SEED_EPOCHS
            options = ("--epochs", str(epochs), "--seed", str(seed), "--stop-at", str(args.target))
            curves[runner] = measure(runner, "accuracy", args, *options)["curve"]
            print(f"  accuracy round {round_number + 1} {runner}: {curves[runner]}", file=sys.stderr)
        rounds.append({"seed": seed, "curves": {runner: curves[runner] for runner in ACCURACY_RUNNERS}})
    return rounds


def time_to(curve: list[dict], target: float) -> float | None:
    return next((point["train_s"] for point in curve if point["test_accuracy"] >= target), None)


def epochs_to(curve: list[dict], target: float) -> int | None:
    return next((epoch for epoch, point in enumerate(curve, 1) if point["test_accuracy"] >= target), None)


def median_ratio(times: list[dict], runner: str, peer: str) -> tuple[float | None, int]:
    """The median over rounds of runner's time / peer's time, and the number of rounds where both reached it."""
    ratios = [
        round_times[runner] / round_times[peer] for round_times in times if round_times[runner] and round_times[peer]
    ]
    return (statistics.median(ratios) if ratios else None), len(ratios)


def number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def training_flops_per_image() -> float:
    """Multiply-adds x 2 of one image's forward pass through the seed's network, times 3 for a training step
    (the forward pass, and the backward pass's two products per layer)."""
    from mnist_cnn.model import build_model

    forward = 0
    for layer in build_model().layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        output_positions = int(np.prod(layer.output.shape[1:-1])) if len(layer.output.shape) > 2 else 1
        forward += 2 * output_positions * int(np.prod(kernel.shape))
    return 3 * forward


def speed_markdown(results: dict) -> list[str]:
    runs = dict(results["speed"])
    gemm_runs = runs.pop("gemm")
    gemm = {metric: median_of(gemm_runs, metric) for metric in ("float32_gflops", "bfloat16_gflops")}
    medians = {
        runner: {metric: median_of(measured, metric) for metric in measured[0]} for runner, measured in runs.items()
    }
    flops = training_flops_per_image()

    def share_of_gemm(figures: dict) -> str:
        dtype = "bfloat16" if figures["bfloat16"] else "float32"
        return f"{figures['train_images_per_s'] * flops / 1e9 / gemm[f'{dtype}_gflops']:.0%} of {dtype}"

    def versus(runner: str, metric: str, peer: str) -> str:
        return number(medians[runner][metric] / medians[peer][metric])

    lines = [
        f"Machine: {results['speed_machine']}.",
        "",
        f"Speed, medians of {results['rounds']} rounds (training: one epoch of {results['train_images']:,} images"
        " after a warm-up epoch; inference: the whole test set):",
        "",
        f"Matrix multiply (2048x2048, TensorFlow): {gemm['float32_gflops']:.0f} GFLOP/s in float32,"
        f" {gemm['bfloat16_gflops']:.0f} in bfloat16. A training step costs {flops / 1e6:.1f} MFLOP an image.",
        "",
        "| runner | train images/s | vs seed | vs PyTorch | share of GEMM rate | predict images/s | vs seed"
        " | vs PyTorch | one-image latency, ms | peak memory, MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for runner, figures in medians.items():
        lines.append(
            f"| {runner} | {number(figures['train_images_per_s'], 0)} | {versus(runner, 'train_images_per_s', 'seed')} "
            f"| {versus(runner, 'train_images_per_s', 'torch')} | {share_of_gemm(figures)} "
            f"| {number(figures['predict_images_per_s'], 0)} "
            f"| {versus(runner, 'predict_images_per_s', 'seed')} | {versus(runner, 'predict_images_per_s', 'torch')} "
            f"| {figures['latency_ms']:.2f} | {figures['peak_rss_mb']:,.0f} |"
        )
    noise = medians["seed-again"]["train_images_per_s"] / medians["seed"]["train_images_per_s"]
    lines += [
        "",
        f"Noise floor: `seed-again` runs the seed code again; its training throughput is {noise:.2f}x `seed`'s. The"
        " seed notebook predicts no single image: its latency is Keras' `model.predict` on one image, the package's"
        " `predict_on_batch`. PyTorch's is its forward pass.",
        "",
    ]
    return lines


def accuracy_markdown(results: dict) -> list[str]:
    rounds, target = results["accuracy"], results["target"]
    times = [{runner: time_to(curve, target) for runner, curve in one["curves"].items()} for one in rounds]
    lines = [
        f"Machine: {results['accuracy_machine']}.",
        "",
        f"Time to {100 * target:.1f}% test accuracy: training time only (the clock stops while test accuracy is"
        f" measured after each epoch); {len(rounds)} rounds, seeds {', '.join(str(one['seed']) for one in rounds)}."
        " Ratios are medians over the rounds where both runners reached the target.",
        "",
        "| runner | reached | time to target, median (s) | each round (s) | epochs | vs seed | vs PyTorch"
        " | training images/s, whole epochs | vs seed |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    throughput = {runner: epoch_throughput(results, runner) for runner in ACCURACY_RUNNERS}
    for runner in ACCURACY_RUNNERS:
        each = [round_times[runner] for round_times in times]
        reached = [time for time in each if time is not None]
        epochs = [epochs_to(one["curves"][runner], target) for one in rounds]
        cells = []
        for peer in PEERS:
            ratio, count = median_ratio(times, runner, peer)
            cells.append(f"{number(ratio)} ({count})" if runner != peer else "1.00")
        lines.append(
            f"| {runner} | {len(reached)}/{len(rounds)} | {number(statistics.median(reached) if reached else None, 0)} "
            f"| {', '.join(number(time, 0) if time else 'missed' for time in each)} "
            f"| {', '.join(str(epoch) if epoch else '-' for epoch in epochs)} | {cells[0]} | {cells[1]} "
            f"| {number(throughput[runner], 0)} | {number(throughput[runner] / throughput['seed'])} |"
        )
    return lines + [
        "",
        "Training images/s, whole epochs: the median over every epoch of every round of the images an epoch trains on"
        " (the package's recipes hold out 10% for validation, and validate after each epoch) over its time.",
        "",
    ]


def epoch_throughput(results: dict, runner: str) -> float:
    """The median, over every epoch of every round, of the images trained on over the epoch's time."""
    images = results.get("train_set_images", 60_000)
    if runner.startswith("package-"):
        images = round(images * (1 - config_for(runner.removeprefix("package-")).validation_split))
    durations = []
    for one in results["accuracy"]:
        times = [point["train_s"] for point in one["curves"][runner]]
        durations += [later - earlier for earlier, later in zip([0.0, *times], times, strict=False)]
    return statistics.median(images / duration for duration in durations)


def markdown(results: dict) -> str:
    data = f" ({results['data']})" if results.get("data") else ""
    lines = [f"Dataset: {results['dataset']}{data}.", ""]
    if results.get("speed"):
        lines += speed_markdown(results)
    if results.get("accuracy"):
        lines += accuracy_markdown(results)
    return "\n".join(lines)


def write_results(name: str, results: dict, table: str) -> None:
    """Keep `results` in results/NAME.json and their Markdown `table` in results/NAME.md, and print the table."""
    write_json(HERE / "results" / f"{name}.json", results)
    with atomic_path(HERE / "results" / f"{name}.md") as temporary:
        temporary.write_text(table)
    print(table)


def machine() -> str:
    import keras
    import tensorflow as tf

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__}, PyTorch {torch_version}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", help="mnist, fashion or sample (default: mnist)")
    parser.add_argument("--data", help="a data path, as mnist-cnn train --data")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--train-images", type=int, default=12800)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--accuracy-rounds", type=int, default=3, help="time-to-accuracy rounds (default: 3)")
    parser.add_argument("--target", type=float, default=0.99, help="test accuracy to time (default: 0.99)")
    parser.add_argument("--name", default=None, help="results file name (default: the dataset's)")
    args = parser.parse_args()

    name = args.name or args.dataset
    path = HERE / "results" / f"{name}.json"
    earlier = json.loads(path.read_text()) if path.exists() else {}
    this_machine = machine()
    results = {
        "dataset": args.dataset,
        "data": Path(args.data).name if args.data else None,
        "rounds": args.rounds,
        "train_images": args.train_images,
        "target": args.target,
    }

    def keep_earlier(*keys: str) -> None:
        """A part that is skipped keeps its figures, and the machine they were measured on, from the earlier
        results of the same name, if any."""
        results.update({key: earlier[key] for key in keys if key in earlier})

    if args.skip_speed:
        keep_earlier("speed", "speed_machine", "rounds", "train_images")
    else:
        results.update(speed=speed_benchmark(args), speed_machine=this_machine)
    if args.skip_accuracy:
        keep_earlier("accuracy", "accuracy_machine", "target")
    else:
        results.update(accuracy=accuracy_benchmark(args), accuracy_machine=this_machine)
    write_results(name, results, markdown(results))


if __name__ == "__main__":
    main()
