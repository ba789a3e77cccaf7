"""The `mnist-cnn` command line: a thin caller of the library that does the printing.

mnist-cnn train [--recipe seed|best] [--dataset mnist|fashion|sample] [--data PATH] [--output DIR] [--epochs N] ...
mnist-cnn evaluate MODEL [--dataset ...] [--plots DIR]
mnist-cnn summary [--diagram PATH]
mnist-cnn predict MODEL IMAGE... [--top K] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from cloudmesh.common.StopWatch import StopWatch

from mnist_cnn.analysis import EvaluationReport, evaluation_report, format_scores, most_confident_errors
from mnist_cnn.config import RECIPES, Config, config_for
from mnist_cnn.data import DATASETS, Split, load_data
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.model import build_model, load_model, plot_architecture
from mnist_cnn.plots import plot_confusion_matrix, plot_digits, plot_history, save_figure
from mnist_cnn.predict import predict_files
from mnist_cnn.train import train_and_evaluate

DEBUG_VARIABLE = "MNIST_CNN_DEBUG"
FLAG_TYPES = {"int": int, "float": float, "str": str, "int | None": int}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.command(args)
    except MnistCnnError as error:
        print(f"error: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        output = getattr(args, "output", None)
        resume = f"; run the same command to resume from the last finished epoch saved in {output}" if output else ""
        print(f"interrupted{resume}", file=sys.stderr)
        return 130
    except OSError as error:  # A full disk, a folder without write permission, ...
        print(f"error: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
    except Exception as error:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        print(
            f"error: unexpected {type(error).__name__}: {error} (set {DEBUG_VARIABLE}=1 for details)", file=sys.stderr
        )
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mnist-cnn", description="Train, evaluate and use the MNIST CNN.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def add_data_flags(command: argparse.ArgumentParser) -> None:
        command.add_argument("--dataset", choices=DATASETS, default="mnist", help="default: %(default)s")
        command.add_argument("--data", metavar="PATH", help="a Keras .npz file or a folder of the four IDX files")

    train = commands.add_parser("train", help="train and evaluate a model, saving it with its history")
    train.add_argument(
        "--recipe", choices=RECIPES, default="best", help="best (default) or seed: the course notebook's recipe"
    )
    add_data_flags(train)
    train.add_argument("--output", metavar="DIR", type=Path, help="default: runs/DATASET-RECIPE (runs/dry-run)")
    train.add_argument("--plots", metavar="DIR", type=Path, help="save the figures of the run as PNG files here")
    train.add_argument("--dry-run", action="store_true", help="one epoch of two batches, to check that all works")
    train.add_argument("--benchmark", action="store_true", help="print cloudmesh StopWatch's benchmark table")
    add_config_flags(train)
    train.set_defaults(command=train_command)

    evaluate = commands.add_parser("evaluate", help="test a saved model: accuracy and per-digit scores")
    evaluate.add_argument("model", type=Path)
    add_data_flags(evaluate)
    evaluate.add_argument("--plots", metavar="DIR", type=Path, help="save the confusion matrix and worst mistakes")
    evaluate.set_defaults(command=evaluate_command)

    summary = commands.add_parser("summary", help="print the model's layers and draw its diagram")
    summary.add_argument("--diagram", metavar="PATH", type=Path, default=Path("cnn-mnist.png"))
    add_config_flags(summary)
    summary.set_defaults(command=summary_command)

    predict = commands.add_parser("predict", help="predict the digit in image files (PNG, JPEG, ...)")
    predict.add_argument("model", type=Path)
    predict.add_argument("images", nargs="+", type=Path)
    predict.add_argument("--top", type=int, default=1, help="show the K most likely digits (default: 1)")
    predict.add_argument("--json", action="store_true", help="print the predictions as JSON")
    predict.set_defaults(command=predict_command)
    return parser


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag for each Config field, e.g. --batch-size; unset flags keep the recipe's value."""
    group = parser.add_argument_group("hyperparameters (default: the recipe's value; the seed's shown)")
    for field in dataclasses.fields(Config):
        flag = "--" + field.name.replace("_", "-")
        group.add_argument(flag, type=FLAG_TYPES[field.type], metavar=field.name.upper(), help=f"{field.default}")


def config_from(args: argparse.Namespace) -> Config:
    overrides = {field.name: getattr(args, field.name) for field in dataclasses.fields(Config)}
    if getattr(args, "dry_run", False):
        overrides.update(epochs=1, steps_per_epoch=2)
    return config_for(getattr(args, "recipe", "seed"), **overrides)


def train_command(args: argparse.Namespace) -> int:
    config = config_from(args)
    default_output = "dry-run" if args.dry_run else f"{args.dataset}-{args.recipe}"
    output = args.output = args.output or Path("runs") / default_output  # main() names it if interrupted.
    data = load_data(args.dataset, args.data)
    (x_train, _), (x_test, _) = data
    print(f"{args.dataset}: {len(x_train):,} training and {len(x_test):,} test images; recipe {args.recipe}")
    result = train_and_evaluate(config, data, output_dir=output)
    report = evaluation_report(result.model, data[1])
    print(f"\n{format_scores(report.scores)}")
    print(f"\nTest accuracy: {100 * result.test_accuracy:.1f}%")
    files = result.files
    print(f"Saved {files.model}, {files.best_model.name}, {files.history.name} and {files.results.name} in {output}")
    if args.plots:
        print_saved_plots(save_plots(args.plots, data, report, result.history))
    if args.benchmark:
        StopWatch.benchmark(sysinfo=False)
    return 0


def evaluate_command(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    data = load_data(args.dataset, args.data)
    report = evaluation_report(model, data[1])
    print(format_scores(report.scores))
    print(f"\nTest accuracy: {100 * report.accuracy:.1f}%")
    if args.plots:
        print_saved_plots(save_plots(args.plots, data, report))
    return 0


def summary_command(args: argparse.Namespace) -> int:
    model = build_model(config_from(args))
    model.summary()
    diagram = plot_architecture(model, args.diagram)
    if diagram is not None:
        print(f"Saved the architecture diagram to {diagram}")
    return 0


def predict_command(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    predictions = predict_files(model, args.images, top=max(1, args.top))
    if args.json:
        print(json.dumps([dataclasses.asdict(prediction) for prediction in predictions], indent=2))
    for prediction in predictions:
        if prediction.error:
            print(f"error: {prediction.error}", file=sys.stderr)
        elif not args.json:
            ranked = ", ".join(f"{digit} ({probability:.1%})" for digit, probability in prediction.top)
            print(f"{prediction.file}: {ranked}")
    return 1 if any(prediction.error for prediction in predictions) else 0


def save_plots(
    folder: Path, data: tuple[Split, Split], report: EvaluationReport, history: dict | None = None
) -> list[Path]:
    """Save the run's figures as PNG files in `folder`: samples, training curves, confusion matrix, mistakes."""
    (x_train, y_train), test = data
    worst = most_confident_errors(report.true_labels, report.probabilities)
    figures = {
        "samples.png": plot_digits(x_train[:32], y_train[:32].argmax(axis=1), title="Training digits"),
        "confusion_matrix.png": plot_confusion_matrix(report.matrix),
        "misclassified.png": plot_digits(
            test[0][worst],
            report.true_labels[worst],
            report.predicted_labels[worst],
            title="Most confident mistakes: predicted (true)",
        ),
    }
    if history:
        figures["training_curves.png"] = plot_history(history)
    return [save_figure(figure, Path(folder) / name) for name, figure in figures.items()]


def print_saved_plots(paths: list[Path]) -> None:
    print(f"Saved plots: {', '.join(str(path) for path in paths)}")
