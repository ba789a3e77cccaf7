"""Benchmarks of this package against the seed notebook's code and plain PyTorch, measured in the same run.

    python benchmarks/run_all.py [--dataset fashion] [--rounds 5] [--skip-accuracy]

Speed: each round measures every runner once, each in a fresh process, in an order that rotates from round to round;
the table gives medians over the rounds. Training throughput is one epoch of --train-images images after a warm-up
epoch; inference throughput is the whole test set; latency is one image; memory is the process's peak RSS.

Time-to-accuracy: each runner trains epoch by epoch (the clock stops while test accuracy is measured) and the table
gives the training time until test accuracy first reaches the target: 99.0% on MNIST; on any other dataset the
accuracy the seed's code reaches after its 10 epochs in this same run.

Results go to benchmarks/results/RESULTS_NAME.json and .md, and the Markdown table is printed.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

from mnist_cnn.config import config_for
from mnist_cnn.files import atomic_path, write_json

HERE = Path(__file__).parent
SPEED_RUNNERS = ("seed", "package-seed", "package-best", "torch")
ACCURACY_RUNNERS = ("seed", "package-seed", "package-best", "torch")
PEERS = ("seed", "torch")
MNIST_TARGET = 0.99
SEED_EPOCHS = 10


def measure(runner: str, task: str, args: argparse.Namespace, *options: str) -> dict:
    command = [sys.executable, str(HERE / "measure.py"), runner, task, "--dataset", args.dataset, *options]
    if args.data:
        command += ["--data", args.data]
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        raise SystemExit(f"{runner} {task} failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def speed_benchmark(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    runs: dict[str, list[dict]] = {runner: [] for runner in SPEED_RUNNERS}
    for round_number in range(args.rounds):
        shift = round_number % len(SPEED_RUNNERS)
        for runner in SPEED_RUNNERS[shift:] + SPEED_RUNNERS[:shift]:
            runs[runner].append(measure(runner, "speed", args, "--train-images", str(args.train_images)))
            print(f"  round {round_number + 1}/{args.rounds} {runner}: {runs[runner][-1]}", file=sys.stderr)
    return {
        runner: {metric: statistics.median(run[metric] for run in measured) for metric in measured[0]}
        for runner, measured in runs.items()
    }


def time_to(curve: list[dict], target: float) -> float | None:
    return next((point["train_s"] for point in curve if point["test_accuracy"] >= target), None)


def accuracy_benchmark(args: argparse.Namespace) -> dict:
    curves = {}
    for runner in ACCURACY_RUNNERS:
        recipe = runner.removeprefix("package-")
        epochs = config_for(recipe).epochs if runner.startswith("package-") else SEED_EPOCHS
        curves[runner] = measure(runner, "accuracy", args, "--epochs", str(epochs))["curve"]
        print(f"  {runner}: {curves[runner]}", file=sys.stderr)
    target = MNIST_TARGET if args.dataset == "mnist" else curves["seed"][-1]["test_accuracy"]
    return {
        "target": target,
        "curves": curves,
        "time_to_target_s": {runner: time_to(curve, target) for runner, curve in curves.items()},
    }


def ratio(numerator: float | None, denominator: float | None) -> str:
    return f"{numerator / denominator:.2f}" if numerator and denominator else "n/a"


def markdown(results: dict) -> str:
    lines = [f"Dataset: {results['dataset']}. Machine: {results['machine']}.", ""]
    speed = results.get("speed")
    if speed:
        lines += [
            f"Speed, medians of {results['rounds']} runs each "
            f"(training: one epoch of {results['train_images']:,} images):",
            "",
            "| runner | train images/s | predict images/s | latency, 1 image (ms) | peak memory (MB) |"
            " train speed vs seed | vs PyTorch |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for runner, figures in speed.items():
            lines.append(
                f"| {runner} | {figures['train_images_per_s']:,.0f} | {figures['predict_images_per_s']:,.0f} "
                f"| {figures['latency_ms']:.2f} | {figures['peak_rss_mb']:,.0f} "
                f"| {ratio(figures['train_images_per_s'], speed['seed']['train_images_per_s'])}x "
                f"| {ratio(figures['train_images_per_s'], speed['torch']['train_images_per_s'])}x |"
            )
        lines.append("")
    accuracy = results.get("accuracy")
    if accuracy:
        times = accuracy["time_to_target_s"]
        lines += [
            f"Time to {100 * accuracy['target']:.2f}% test accuracy (training time only, one run each):",
            "",
            "| runner | epochs | final test accuracy | time to target (s) | time vs seed | time vs PyTorch |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for runner, curve in accuracy["curves"].items():
            reached = f"{times[runner]:.0f}" if times[runner] else "not reached"
            lines.append(
                f"| {runner} | {len(curve)} | {100 * curve[-1]['test_accuracy']:.2f}% | {reached} "
                f"| {ratio(times[runner], times['seed'])} | {ratio(times[runner], times['torch'])} |"
            )
    return "\n".join(lines) + "\n"


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
    parser.add_argument("--dataset", default="fashion", help="mnist, fashion or sample (default: fashion)")
    parser.add_argument("--data", help="a data path, as mnist-cnn train --data")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--train-images", type=int, default=12800)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--name", default=None, help="results file name (default: the dataset's)")
    args = parser.parse_args()

    results = {"dataset": args.dataset, "machine": machine(), "rounds": args.rounds, "train_images": args.train_images}
    if not args.skip_speed:
        results["speed"] = speed_benchmark(args)
    if not args.skip_accuracy:
        results["accuracy"] = accuracy_benchmark(args)
    name = args.name or args.dataset
    write_json(HERE / "results" / f"{name}.json", results)
    table = markdown(results)
    with atomic_path(HERE / "results" / f"{name}.md") as temporary:
        temporary.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
