"""This package against the seed notebook's code and plain PyTorch, measured in the same run (`make bench`)."""

import argparse
import statistics
import sys

import numpy as np

from benchmarks.common import benchmark_parser, measured, rotated, table, time_to, write_results
from mnist_cnn.model import build_model

SPEED_RUNNERS = ("seed", "seed-again", "package-seed", "package-fast", "torch")
RUNNERS = ("seed", "package-seed", "package-fast", "torch")  # timed to the target
PEERS = ("seed", "torch")
RATES = ("train_images_per_s", "predict_images_per_s")


def rounds(args: argparse.Namespace, runners: tuple[str, ...], count: int, task: str, *options: str) -> list[dict]:
    """Each round's figures of each runner, round N on seed N, each in a fresh process, the order rotating."""
    results = []
    for number in range(count):
        results.append({})
        for runner in rotated(runners, number):
            result = results[-1][runner] = measured(runner, task, args, *options, f"--seed={number + 1}")
            print(f"  {task} round {number + 1}/{count} {runner}: {result.get('curve', result)}", file=sys.stderr)
    return results


def median(values: list[float], digits: int = 2) -> str:
    """The median of the values for a table, "n/a" for none."""
    return f"{statistics.median(values):,.{digits}f}" if values else "n/a"


def medians(runs: list[dict], runner: str) -> dict[str, float]:
    """Each of a runner's figures, its median over the rounds."""
    first = runs[0][runner]
    return {key: statistics.median(one[runner][key] for one in runs) for key in first if key not in ("runner", "seed")}


def training_flops_per_image() -> float:
    """Twice the multiply-adds of one image's forward pass, times 3 for a training step (forward and backward)."""
    kernels = [layer for layer in build_model().layers if getattr(layer, "kernel", None) is not None]
    # Each kernel is applied at every output position of its layer: each pixel for a convolution, once for a dense one.
    return 3 * sum(2 * float(np.prod(layer.output.shape[1:-1]) * np.prod(layer.kernel.shape)) for layer in kernels)


def epochs_to(curve: list[dict], target: float) -> int | None:
    """The epoch in which the curve first reached `target`, or None."""
    return next((epoch for epoch, point in enumerate(curve, 1) if point["test_accuracy"] >= target), None)


def speed_markdown(args: argparse.Namespace, runs: list[dict]) -> str:
    """The speed table: medians over the rounds, and each runner against the seed code and PyTorch."""
    gemm, figures = medians(runs, "gemm"), {runner: medians(runs, runner) for runner in SPEED_RUNNERS}
    flops, rows = training_flops_per_image(), []
    for runner, mine in figures.items():
        dtype = "bfloat16" if mine["bfloat16"] else "float32"
        share = mine["train_images_per_s"] * flops / 1e9 / gemm[f"{dtype}_gflops"]
        versus = {rate: [f"{mine[rate] / figures[peer][rate]:.2f}" for peer in PEERS] for rate in RATES}
        train, predict = ([f"{mine[rate]:,.0f}", *versus[rate]] for rate in RATES)
        memory = f"{mine['peak_rss_mb']:,.0f}"
        rows.append([runner, *train, f"{share:.0%} of {dtype}", *predict, f"{mine['latency_ms']:.2f}", memory])
    header = ["runner", "train images/s", "vs seed", "vs PyTorch", "share of GEMM rate", "predict images/s", "vs seed"]
    header += ["vs PyTorch", "one-image latency, ms", "peak memory, MB"]
    noise = figures["seed-again"]["train_images_per_s"] / figures["seed"]["train_images_per_s"]
    noise_floor = f"Noise floor: `seed-again`'s training throughput is {noise:.2f}x `seed`'s."
    intro = (
        f"Speed, medians of {args.rounds} rounds (training: one epoch of {args.train_images:,} images after a warm-up"
        f" epoch; inference: the whole test set). Matrix multiply ({gemm['side']:.0f}x{gemm['side']:.0f},"
        f" TensorFlow): {gemm['float32_gflops']:.0f} GFLOP/s in float32, {gemm['bfloat16_gflops']:.0f} in bfloat16."
        f" A training step costs {flops / 1e6:.1f} MFLOP an image."
    )
    return "\n".join([intro, "", *table(header, rows), "", noise_floor])


def accuracy_markdown(args: argparse.Namespace, runs: list[dict]) -> str:
    """The time-to-accuracy table: each runner's time to the target over the rounds, against the peers'."""
    times = {runner: [time_to(one[runner]["curve"], args.target) for one in runs] for runner in RUNNERS}
    epoch_rates = {runner: [rate for one in runs for rate in one[runner]["epoch_images_per_s"]] for runner in RUNNERS}
    rates = {runner: statistics.median(each) for runner, each in epoch_rates.items()}
    rows = []
    for runner, each in times.items():
        reached = [time for time in each if time is not None]
        epochs = [str(epochs_to(one[runner]["curve"], args.target) or "-") for one in runs]
        in_each = ", ".join(f"{seconds:,.0f}" if seconds else "missed" for seconds in each)
        row = [runner, f"{len(reached)}/{len(runs)}", median(reached, 0), in_each, ", ".join(epochs)]
        for peer in PEERS:  # the rounds in which both reached it
            ratios = [mine / theirs for mine, theirs in zip(each, times[peer], strict=True) if mine and theirs]
            row.append("1.00" if peer == runner else f"{median(ratios)} ({len(ratios)})")
        rows.append([*row, f"{rates[runner]:,.0f}", f"{rates[runner] / rates['seed']:.2f}"])
    header = ["runner", "reached", "time to target, median (s)", "each round (s)", "epochs", "vs seed", "vs PyTorch"]
    header += ["training images/s, whole epochs", "vs seed"]
    intro = (
        f"Time to {100 * args.target:.1f}% test accuracy, training time only (the clock stopped while testing after"
        f" each epoch); {len(runs)} rounds, seeds 1 to {len(runs)}. Ratios: medians over the rounds both reached it."
    )
    return "\n".join([intro, "", *table(header, rows)])


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--train-images", type=int, default=12800)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--accuracy-rounds", type=int, default=3, help="time-to-accuracy rounds (default: 3)")
    parser.add_argument("--target", type=float, default=0.99, help="test accuracy to time (default: 0.99)")
    parser.add_argument("--name", help="results file name (default: the dataset's)")
    args = parser.parse_args()
    results, parts = dict(vars(args)), []
    if not args.skip_speed:
        timed = f"--train-images={args.train_images}"
        results["speed"] = rounds(args, (*SPEED_RUNNERS, "gemm"), args.rounds, "speed", timed)
        parts.append(speed_markdown(args, results["speed"]))
    if not args.skip_accuracy:
        target = f"--target={args.target}"
        results["accuracy"] = rounds(args, RUNNERS, args.accuracy_rounds, "accuracy", target, "--stop")
        parts.append(accuracy_markdown(args, results["accuracy"]))
    write_results(args.name or args.dataset, results, "\n\n".join(parts))


if __name__ == "__main__":
    main()
