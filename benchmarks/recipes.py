"""A recipe's test accuracy over seeds and ensembled; seed N trains in runs/recipes/NAME/seed-N, or is read back."""

import json
import statistics
import sys
from pathlib import Path

from benchmarks.common import benchmark_parser, parse_settings, spread, table, write_results
from mnist_cnn.analysis import evaluation_report
from mnist_cnn.calibration import expected_calibration_error, with_temperature
from mnist_cnn.config import config_for
from mnist_cnn.data import load_data
from mnist_cnn.model import load_model
from mnist_cnn.train import train_and_evaluate

RUNS = Path("runs/recipes")
PERCENTS = ("test_accuracy", "test_ece", "test_ece_uncalibrated")


def seed_run(recipe: str, overrides: dict, seed: int, data, folder: Path) -> dict:
    """Train one seed (or read back its finished run), score it on the test set once, and log its figures."""
    if not (folder / "results.json").exists():
        train_and_evaluate(config_for(recipe, seed=seed, **overrides), data, folder, verbose=2)
    results, history = (json.loads((folder / f"{name}.json").read_text()) for name in ("results", "history"))
    report = evaluation_report(load_model(folder / "model.keras"), data[1])
    uncalibrated = with_temperature(report.probabilities, 1 / (results["temperature"] or 1.0))
    figures = {"seed": seed, "validation_accuracy": history.get("val_accuracy", [None])[-1]}
    figures |= {"test_accuracy": report.accuracy, "test_ece": report.calibration_error}
    figures["test_ece_uncalibrated"] = expected_calibration_error(uncalibrated, report.true_labels)
    figures |= {"temperature": results["temperature"], "train_s": results["timings_s"]["train"]}
    print(json.dumps(figures), file=sys.stderr, flush=True)
    return figures


def markdown(results: dict) -> str:
    """The table of the seeds, then their means and spreads, and the ensemble's accuracy."""
    runs = results["runs"]
    percent = {key: spread([run[key] for run in runs], 100, unit="%") for key in PERCENTS}
    seeds, rows = ", ".join(str(run["seed"]) for run in runs), []
    for run in runs:
        validation = "n/a" if run["validation_accuracy"] is None else f"{run['validation_accuracy']:.2%}"
        temperature = "none" if run["temperature"] is None else f"{run['temperature']:.2f}"
        percents = [f"{run[key]:.2%}" for key in PERCENTS]
        rows.append([run["seed"], validation, *percents, temperature, f"{run['train_s']:.0f}"])
    summary = [
        f"- Test accuracy, mean ± standard deviation (range): {percent['test_accuracy']}",
        f"- Test ECE: {percent['test_ece']}; without the temperature: {percent['test_ece_uncalibrated']}",
        f"- Training time: median {statistics.median(run['train_s'] for run in runs):.0f} s",
        f"- Ensemble of the {len(runs)} models (mean probabilities): test accuracy "
        f"{results['ensemble_test_accuracy']:.2%}",
    ]
    intro = f"Recipe `{results['recipe']}` {results['overrides'] or ''} on {results['data']}, seeds {seeds}."
    header = ["seed", "validation accuracy", "test accuracy", "test ECE", "test ECE without temperature"]
    header += ["temperature", "training time (s)"]
    return "\n".join([intro, "", *table(header, rows), "", *summary])


def main() -> None:
    parser = benchmark_parser(__doc__, seeds=[1, 2, 3])
    parser.add_argument("recipe")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="override config values")
    parser.add_argument("--name", help="results name (default: the recipe's)")
    args = parser.parse_args()
    name, overrides = args.name or args.recipe, parse_settings(args.set)
    data = load_data(args.dataset, args.data)
    runs = [seed_run(args.recipe, overrides, seed, data, RUNS / name / f"seed-{seed}") for seed in args.seeds]
    models = [load_model(RUNS / name / f"seed-{seed}" / "model.keras") for seed in args.seeds]
    source = f"{args.dataset} ({Path(args.data).name if args.data else 'default source'})"
    results = {"recipe": args.recipe, "overrides": overrides, "data": source, "runs": runs}
    results["ensemble_test_accuracy"] = evaluation_report(models, data[1]).accuracy
    write_results(f"recipes-{name}", results, markdown(results))


if __name__ == "__main__":
    main()
