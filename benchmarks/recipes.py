"""Accuracy of a recipe over several seeds, and of the seeds' models as one ensemble: the figures the README gives.

    python -m benchmarks.recipes fast --data ../shared/data [--seeds 1 2 3] [--set epochs=2 ...] [--name NAME]

Each seed trains as `mnist-cnn train --recipe RECIPE --seed N` would, into runs/recipes/NAME/seed-N (a finished run is
read back, not trained again), and is scored on the test set once.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

from benchmarks.common import parse_settings, spread, write_results
from mnist_cnn.analysis import evaluation_report
from mnist_cnn.calibration import expected_calibration_error, with_temperature
from mnist_cnn.config import config_for
from mnist_cnn.data import load_data
from mnist_cnn.model import load_model
from mnist_cnn.train import train_and_evaluate

RUNS = Path("runs/recipes")


def seed_run(recipe: str, overrides: dict, seed: int, data, folder: Path) -> dict:
    """Train one seed (or read back its finished run) and score it on the test set once."""
    if not (folder / "results.json").exists():
        train_and_evaluate(config_for(recipe, seed=seed, **overrides), data, folder, verbose=2)
    results = json.loads((folder / "results.json").read_text())
    history = json.loads((folder / "history.json").read_text())
    report = evaluation_report(load_model(folder / "model.keras"), data[1])
    temperature = results["temperature"] or 1.0
    uncalibrated = with_temperature(report.probabilities, 1 / temperature)
    return {
        "seed": seed,
        "validation_accuracy": history["val_accuracy"][-1] if "val_accuracy" in history else None,
        "test_accuracy": report.accuracy,
        "test_ece": report.calibration_error,
        "test_ece_uncalibrated": expected_calibration_error(uncalibrated, report.true_labels),
        "temperature": results["temperature"],
        "train_s": results["timings_s"]["train"],
    }


def percent(runs: list[dict], figure: str) -> str:
    """A figure's mean ± standard deviation (range) over the runs, in percent."""
    return spread([run[figure] for run in runs], 100, unit="%")


def markdown(results: dict) -> str:
    """The table of the seeds, then their means and spreads, and the ensemble's accuracy."""
    runs = results["runs"]
    lines = [
        f"Recipe `{results['recipe']}` {results['overrides'] or ''} on {results['data']}, seeds "
        f"{', '.join(str(run['seed']) for run in runs)}.",
        "",
        "| seed | validation accuracy | test accuracy | test ECE | test ECE without temperature | temperature"
        " | training time (s) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        validation = "n/a" if run["validation_accuracy"] is None else f"{100 * run['validation_accuracy']:.2f}%"
        temperature = "none" if run["temperature"] is None else f"{run['temperature']:.2f}"
        lines.append(
            f"| {run['seed']} | {validation} | {100 * run['test_accuracy']:.2f}% | {100 * run['test_ece']:.2f}% "
            f"| {100 * run['test_ece_uncalibrated']:.2f}% | {temperature} | {run['train_s']:.0f} |"
        )
    lines += [
        "",
        f"- Test accuracy, mean ± standard deviation (range): {percent(runs, 'test_accuracy')}",
        f"- Test ECE: {percent(runs, 'test_ece')}; without the temperature: {percent(runs, 'test_ece_uncalibrated')}",
        f"- Training time: median {statistics.median(r['train_s'] for r in runs):.0f} s",
        f"- Ensemble of the {len(runs)} models (mean probabilities): test accuracy "
        f"{100 * results['ensemble_test_accuracy']:.2f}%",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data", help="a data path, as mnist-cnn train --data")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="override config values")
    parser.add_argument("--name", help="results name (default: the recipe's)")
    args = parser.parse_args()

    name = args.name or args.recipe
    overrides = parse_settings(args.set)
    data = load_data(args.dataset, args.data)
    runs = []
    for seed in args.seeds:
        runs.append(seed_run(args.recipe, overrides, seed, data, RUNS / name / f"seed-{seed}"))
        print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    models = [load_model(RUNS / name / f"seed-{seed}" / "model.keras") for seed in args.seeds]
    results = {
        "recipe": args.recipe,
        "overrides": overrides,
        "data": f"{args.dataset} ({Path(args.data).name if args.data else 'default source'})",
        "runs": runs,
        "ensemble_test_accuracy": evaluation_report(models, data[1]).accuracy,
    }
    write_results(f"recipes-{name}", results, markdown(results))


if __name__ == "__main__":
    main()
