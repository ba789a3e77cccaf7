"""Accuracy of the recipes over several seeds: the figures the README gives, and the ensemble of the seeds' models.

    python benchmarks/recipes.py fast --data ../shared/data [--seeds 1 2 3] [--set epochs=2 ...] [--name NAME]

Each seed trains `mnist-cnn train --recipe RECIPE --seed N` would (train_and_evaluate, the validation split held out)
into runs/recipes/NAME/seed-N; a seed whose run is already there is read back, not trained again. Printed and written
to benchmarks/results/recipes-NAME.{json,md}: per seed the final validation accuracy (what recipes are chosen on),
then the test accuracy, its calibration error (ECE) with and without the fitted temperature and the training time;
their mean and spread; and the test accuracy of the seeds' models as one ensemble (their mean probabilities).
"""

import argparse
import ast
import json
import statistics
import sys
from pathlib import Path

from mnist_cnn.analysis import evaluation_report
from mnist_cnn.calibration import expected_calibration_error, with_temperature
from mnist_cnn.config import config_for
from mnist_cnn.data import load_data
from mnist_cnn.model import load_model
from mnist_cnn.train import train_and_evaluate

HERE = Path(__file__).parent
RUNS = Path("runs/recipes")


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """`["epochs=2", "max_shift=0.1"]` as `{"epochs": 2, "max_shift": 0.1}`."""
    return {name: ast.literal_eval(value) for name, value in (pair.split("=", 1) for pair in pairs)}


def seed_run(recipe: str, overrides: dict, seed: int, data, folder: Path) -> dict:
    """Train one seed (or read back its finished run) and score it on the test set once."""
    if not (folder / "results.json").exists():
        train_and_evaluate(config_for(recipe, seed=seed, **overrides), data, output_dir=folder, verbose=2)
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


def mean_and_spread(values: list[float]) -> str:
    """The mean ± standard deviation (min to max), in percent."""
    mean, spread = 100 * statistics.mean(values), 100 * statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.2f}% ± {spread:.2f} ({100 * min(values):.2f} to {100 * max(values):.2f})"


def markdown(results: dict) -> str:
    runs = results["runs"]
    lines = [
        f"Recipe `{results['recipe']}` {results['overrides'] or ''} on {results['data']}, seeds "
        f"{', '.join(str(run['seed']) for run in runs)}; {results['machine']}.",
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
        f"- Test accuracy, mean ± standard deviation (range): {mean_and_spread([r['test_accuracy'] for r in runs])}",
        f"- Test ECE: {mean_and_spread([r['test_ece'] for r in runs])}; without the temperature: "
        f"{mean_and_spread([r['test_ece_uncalibrated'] for r in runs])}",
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

    sys.path.insert(0, str(HERE))
    from run_all import machine, write_results

    name = args.name or args.recipe
    overrides = parse_overrides(args.set)
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
        "machine": machine(),
        "runs": runs,
        "ensemble_test_accuracy": evaluation_report(models, data[1]).accuracy,
    }
    write_results(f"recipes-{name}", results, markdown(results))


if __name__ == "__main__":
    main()
