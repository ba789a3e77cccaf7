"""This package against the seed notebook's code and plain PyTorch, measured in the same run (`make bench`).

    python -m benchmarks.run_all --data ../shared/data [--rounds 7] [--accuracy-rounds 3] [--skip-accuracy]

Each measurement runs in a fresh process (benchmarks.measure), the order rotating from round to round; how and what
it measures: docs/benchmarks.md. Results go to benchmarks/results/NAME.{json,md} (NAME: --name, else the dataset).
"""

import argparse
import statistics
import sys

import numpy as np

from benchmarks.common import measured, rotated, table, time_to, write_results
from benchmarks.measure import GEMM_SIDE

SPEED_RUNNERS = ("seed", "seed-again", "package-seed", "package-fast", "torch")
ACCURACY_RUNNERS = ("seed", "package-seed", "package-fast", "torch")
PEERS = ("seed", "torch")


def speed_runs(args: argparse.Namespace) -> dict[str, list[dict]]:
    """Every runner's speed figures (and the machine's matrix-multiply rate), one dict per round."""
    runs: dict[str, list[dict]] = {runner: [] for runner in (*SPEED_RUNNERS, "gemm")}
    for round_number in range(args.rounds):
        for runner in rotated([*SPEED_RUNNERS, "gemm"], round_number):
            runs[runner].append(measured(runner, "speed", args, "--train-images", str(args.train_images)))
            print(f"  round {round_number + 1}/{args.rounds} {runner}: {runs[runner][-1]}", file=sys.stderr)
    return runs


def accuracy_rounds(args: argparse.Namespace) -> list[dict]:
    """Per round: its seed, and each runner's test accuracy and training time after each epoch, and epoch's images."""
    rounds = []
    for round_number in range(args.accuracy_rounds):
        seed, results = round_number + 1, {}
        for runner in rotated(list(ACCURACY_RUNNERS), round_number):
            options = ("--seed", str(seed), "--target", str(args.target), "--stop")
            results[runner] = measured(runner, "accuracy", args, *options)
            print(f"  accuracy round {round_number + 1} {runner}: {results[runner]['curve']}", file=sys.stderr)
        curves = {runner: results[runner]["curve"] for runner in ACCURACY_RUNNERS}
        images = {runner: results[runner]["images_per_epoch"] for runner in ACCURACY_RUNNERS}
        rounds.append({"seed": seed, "curves": curves, "images_per_epoch": images})
    return rounds


def number(value: float | None, digits: int = 2) -> str:
    """A figure for a table, "n/a" for none."""
    return "n/a" if value is None else f"{value:,.{digits}f}"


def median_figures(runs: list[dict]) -> dict[str, float]:
    """Each figure's median over the runs."""
    return {
        key: statistics.median(run[key] for run in runs) for key, value in runs[0].items() if not isinstance(value, str)
    }


def training_flops_per_image() -> float:
    """Twice the multiply-adds of one image's forward pass, times 3 for a training step (forward and backward)."""
    from mnist_cnn.model import build_model

    forward = 0
    for layer in build_model().layers:
        if getattr(layer, "kernel", None) is not None:
            positions = int(np.prod(layer.output.shape[1:-1])) if len(layer.output.shape) > 2 else 1
            forward += 2 * positions * int(np.prod(layer.kernel.shape))
    return 3 * forward


def speed_markdown(results: dict) -> list[str]:
    """The speed table: medians over the rounds, and each runner against the seed code and PyTorch."""
    runs = dict(results["speed"])
    gemm = median_figures(runs.pop("gemm"))
    medians = {name: median_figures(one) for name, one in runs.items()}
    flops, rows = training_flops_per_image(), []
    for runner, figures in medians.items():
        dtype = "bfloat16" if figures["bfloat16"] else "float32"
        share = figures["train_images_per_s"] * flops / 1e9 / gemm[f"{dtype}_gflops"]
        train, predict = (
            [f"{figures[key]:,.0f}", *versus(medians, runner, key)]
            for key in ("train_images_per_s", "predict_images_per_s")
        )
        memory = f"{figures['peak_rss_mb']:,.0f}"
        rows.append([runner, *train, f"{share:.0%} of {dtype}", *predict, f"{figures['latency_ms']:.2f}", memory])
    header = ["runner", "train images/s", "vs seed", "vs PyTorch", "share of GEMM rate", "predict images/s", "vs seed"]
    header += ["vs PyTorch", "one-image latency, ms", "peak memory, MB"]
    noise = medians["seed-again"]["train_images_per_s"] / medians["seed"]["train_images_per_s"]
    return [
        f"Speed, medians of {results['rounds']} rounds (training: one epoch of {results['train_images']:,} images"
        " after a warm-up epoch; inference: the whole test set).",
        "",
        f"Matrix multiply ({GEMM_SIDE}x{GEMM_SIDE}, TensorFlow): {gemm['float32_gflops']:.0f} GFLOP/s in float32,"
        f" {gemm['bfloat16_gflops']:.0f} in bfloat16. A training step costs {flops / 1e6:.1f} MFLOP an image.",
        "",
        *table(header, rows),
        "",
        f"Noise floor: `seed-again`'s training throughput is {noise:.2f}x `seed`'s.",
        "",
    ]


def versus(medians: dict, runner: str, metric: str) -> list[str]:
    """A runner's figure over the seed code's and over PyTorch's."""
    return [number(medians[runner][metric] / medians[peer][metric]) for peer in PEERS]


def epoch_throughput(results: dict, runner: str) -> float:
    """The median, over every epoch of every round, of the images trained on over the epoch's time."""
    rates = []
    for one in results["accuracy"]:
        times = [point["train_s"] for point in one["curves"][runner]]
        durations = [later - earlier for earlier, later in zip([0.0, *times], times, strict=False)]
        rates += [one["images_per_epoch"][runner] / duration for duration in durations]
    return statistics.median(rates)


def epochs_to(curve: list[dict], target: float) -> int | None:
    """The epoch in which the curve first reached `target`, or None."""
    return next((epoch for epoch, point in enumerate(curve, 1) if point["test_accuracy"] >= target), None)


def median_ratio(times: list[dict], runner: str, peer: str) -> str:
    """The median over rounds of runner's time / peer's, and (in brackets) the rounds where both reached it."""
    ratios = [each[runner] / each[peer] for each in times if each[runner] and each[peer]]
    return "1.00" if runner == peer else f"{number(statistics.median(ratios) if ratios else None)} ({len(ratios)})"


def accuracy_markdown(results: dict) -> list[str]:
    """The time-to-accuracy table."""
    rounds, target = results["accuracy"], results["target"]
    times = [{runner: time_to(curve, target) for runner, curve in one["curves"].items()} for one in rounds]
    throughput = {runner: epoch_throughput(results, runner) for runner in ACCURACY_RUNNERS}
    rows = []
    for runner in ACCURACY_RUNNERS:
        each = [round_times[runner] for round_times in times]
        reached = [time for time in each if time is not None]
        epochs = [epochs_to(one["curves"][runner], target) for one in rounds]
        rows.append(
            [runner, f"{len(reached)}/{len(rounds)}", number(statistics.median(reached) if reached else None, 0)]
            + [", ".join(number(time, 0) if time else "missed" for time in each)]
            + [", ".join(str(epoch) if epoch else "-" for epoch in epochs)]
            + [median_ratio(times, runner, peer) for peer in PEERS]
            + [number(throughput[runner], 0), number(throughput[runner] / throughput["seed"])]
        )
    header = ["runner", "reached", "time to target, median (s)", "each round (s)", "epochs", "vs seed", "vs PyTorch"]
    header += ["training images/s, whole epochs", "vs seed"]
    return [
        f"Time to {100 * target:.1f}% test accuracy: training time only (the clock stops while test accuracy is"
        f" measured after each epoch); {len(rounds)} rounds, seeds {', '.join(str(one['seed']) for one in rounds)}."
        " Ratios are medians over the rounds where both runners reached the target.",
        "",
        *table(header, rows),
        "",
        "Training images/s, whole epochs: the median over every epoch of every round.",
        "",
    ]


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
    parser.add_argument("--name", help="results file name (default: the dataset's)")
    args = parser.parse_args()
    results = {"dataset": args.dataset, "rounds": args.rounds, "train_images": args.train_images, "target": args.target}
    lines = []
    if not args.skip_speed:
        results["speed"] = speed_runs(args)
        lines += speed_markdown(results)
    if not args.skip_accuracy:
        results["accuracy"] = accuracy_rounds(args)
        lines += accuracy_markdown(results)
    write_results(args.name or args.dataset, results, "\n".join(lines))


if __name__ == "__main__":
    main()
