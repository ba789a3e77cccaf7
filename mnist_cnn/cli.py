"""The `mnist-cnn` command line: a thin caller of the library that does the printing.

mnist-cnn train [--recipe fast|accurate|seed] [--dataset mnist|fashion|sample] [--data PATH] [--output DIR] ...
mnist-cnn evaluate MODEL [MODEL ...] [--dataset ...] [--plots DIR]
mnist-cnn summary [--diagram PATH]
mnist-cnn predict MODEL IMAGE... [--top K] [--json] [--explain DIR]
mnist-cnn export MODEL [--format saved_model|litert|onnx] [--output PATH]
mnist-cnn demo MODEL [--host 127.0.0.1] [--port 7860]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import re
import sys
from pathlib import Path

from cloudmesh.common.StopWatch import StopWatch

from mnist_cnn import backend
from mnist_cnn.analysis import EvaluationReport, evaluation_report, format_scores, most_confident_errors
from mnist_cnn.backend import BACKENDS
from mnist_cnn.config import DEFAULT_RECIPE, RECIPES, Config, config_for
from mnist_cnn.data import DATASETS, DataUnavailableError, Split, load_data, split_validation
from mnist_cnn.demo import check_port_free, launch_demo
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.export import FORMATS, default_export_path, export_model
from mnist_cnn.model import build_model, load_model, plot_architecture
from mnist_cnn.plots import plot_confusion_matrix, plot_digits, plot_explanation, plot_history, save_figure
from mnist_cnn.predict import predict_files
from mnist_cnn.quiet import DEBUG_VARIABLE, debugging
from mnist_cnn.train import train_and_evaluate

FLAG_TYPES = {"int": int, "float": float, "str": str, "int | None": int, "bool": bool}


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
        print(f"error: {describe_os_error(error)}", file=sys.stderr)
    except Exception as error:
        if debugging():
            raise
        print(
            f"error: unexpected {type(error).__name__}: {error} (set {DEBUG_VARIABLE}=1 for details)", file=sys.stderr
        )
    return 1


def describe_os_error(error: OSError) -> str:
    """ "FILE: what is wrong", or what is wrong alone where the error names no file.

    Some libraries (h5py, under Keras' checkpoints) put a whole report in `strerror`: then the system's words for the
    error number, and the file named in the report, make the line.
    """
    reason = error.strerror or str(error) or type(error).__name__
    filename = error.filename
    if "\n" in reason or len(reason) > 200:
        named = re.search(r"filename = '([^']+)'", reason)
        filename = filename or (named.group(1) if named else None)
        reason = os.strerror(error.errno) if error.errno else reason.splitlines()[0]
    return f"{filename}: {reason}" if filename else reason


def build_parser() -> argparse.ArgumentParser:
    # --backend is read in mnist_cnn.__main__, before Keras is imported; here it is only described.
    backend_flag = argparse.ArgumentParser(add_help=False)
    backend_flag.add_argument(
        "--backend",
        choices=BACKENDS,
        default=argparse.SUPPRESS,
        help="the Keras backend (default: KERAS_BACKEND, else ~/.keras/keras.json, else tensorflow where installed)",
    )
    parser = argparse.ArgumentParser(
        prog="mnist-cnn", description="Train, evaluate and use the MNIST CNN.", parents=[backend_flag]
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    commands.add_parser = functools.partial(commands.add_parser, parents=[backend_flag])

    def add_data_flags(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--dataset",
            choices=DATASETS,
            help="default: mnist, or the sample shipped in the package (saying so) where MNIST cannot be had",
        )
        command.add_argument("--data", metavar="PATH", help="a Keras .npz file or a folder of the four IDX files")

    train = commands.add_parser("train", help="train and evaluate a model, saving it with its history")
    train.add_argument(
        "--recipe",
        choices=RECIPES,
        default=DEFAULT_RECIPE,
        help=f"{DEFAULT_RECIPE} (default): the least time to 99%%; accurate: the most accurate; seed: the course's; "
        "gpu: fast, sized for a GPU",
    )
    add_data_flags(train)
    train.add_argument("--output", metavar="DIR", type=Path, help="default: runs/DATASET-RECIPE (runs/dry-run)")
    train.add_argument("--plots", metavar="DIR", type=Path, help="save the figures of the run as PNG files here")
    train.add_argument(
        "--tensorboard", metavar="DIR", type=Path, help="log each epoch for TensorBoard here (tensorboard --logdir DIR)"
    )
    train.add_argument("--dry-run", action="store_true", help="one epoch of two batches, to check that all works")
    train.add_argument("--restart", action="store_true", help="discard the run in --output, finished or not")
    train.add_argument(
        "--replace", action="store_true", help="replace a finished run in --output (an unfinished one is resumed)"
    )
    train.add_argument("--benchmark", action="store_true", help="print cloudmesh StopWatch's benchmark table")
    add_config_flags(train)
    train.set_defaults(command=train_command)

    evaluate = commands.add_parser(
        "evaluate", help="test a saved model, or the ensemble of several: accuracy and per-digit scores"
    )
    evaluate.add_argument("models", nargs="+", type=Path, metavar="MODEL", help="several: average their probabilities")
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
    predict.add_argument(
        "--explain",
        metavar="DIR",
        type=Path,
        help="save a picture for each image in DIR: the pixels that made the model answer (occlusion maps)",
    )
    predict.set_defaults(command=predict_command)

    export = commands.add_parser("export", help="export a saved model for serving: SavedModel, LiteRT or ONNX")
    export.add_argument("model", type=Path)
    export.add_argument("--format", choices=FORMATS, default="saved_model", help="default: %(default)s")
    export.add_argument("--output", metavar="PATH", type=Path, help="default: beside the model, e.g. model.onnx")
    export.set_defaults(command=export_command)

    demo = commands.add_parser("demo", help="a web page to draw or upload a digit and see the model's answer")
    demo.add_argument("model", type=Path)
    demo.add_argument("--host", default="127.0.0.1", help="default: %(default)s (this machine only)")
    demo.add_argument("--port", type=int, default=7860, help="default: %(default)s")
    demo.set_defaults(command=demo_command)
    return parser


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag for each Config field, e.g. --batch-size; unset flags keep the recipe's value."""
    group = parser.add_argument_group("hyperparameters (default: the recipe's value; the seed's shown)")
    for field in dataclasses.fields(Config):
        flag = "--" + field.name.replace("_", "-")
        if field.type == "bool":
            group.add_argument(flag, action=argparse.BooleanOptionalAction, help=f"{field.default}")
        else:
            group.add_argument(flag, type=FLAG_TYPES[field.type], metavar=field.name.upper(), help=f"{field.default}")


def config_from(args: argparse.Namespace) -> Config:
    overrides = {field.name: getattr(args, field.name) for field in dataclasses.fields(Config)}
    if getattr(args, "dry_run", False):
        overrides.update(epochs=1, steps_per_epoch=2)
    return config_for(getattr(args, "recipe", "seed"), **overrides)


def train_command(args: argparse.Namespace) -> int:
    config = config_from(args)
    dataset, data = load_command_data(args)
    default_output = "dry-run" if args.dry_run else f"{dataset}-{args.recipe}"
    output = args.output = args.output or Path("runs") / default_output  # main() names it if interrupted.
    print(describe_split(dataset, data, config))
    verbose = "auto" if sys.stdout.isatty() else 2  # Without a terminal, one line per epoch, not a redrawn bar.
    result = train_and_evaluate(
        config,
        data,
        output_dir=output,
        verbose=verbose,
        restart=args.restart,
        tensorboard_dir=args.tensorboard,
        replace_finished=args.replace,
    )
    report = result.report
    print(f"\n{format_scores(report.scores)}")
    print(f"\nBackend: {result.backend}; devices: {', '.join(result.devices)}")
    print(f"Precision: {result.precision}" + (" (auto)" if config.precision == "auto" else ""))
    if len(result.devices) > 1:
        scaled, count = result.trained_config, len(result.devices)
        print(
            f"Devices: {count}, data-parallel; global batch {scaled.batch_size} and learning rate "
            f"{scaled.learning_rate:g} ({count} times the per-device values)"
        )
    if result.temperature is not None:
        print(f"Probabilities calibrated on the validation images: temperature {result.temperature:.2f}")
    print(f"Test calibration error (ECE): {100 * result.test_calibration_error:.2f}%")
    print(f"\nTest accuracy: {100 * result.test_accuracy:.1f}%")
    files = result.files
    saved = [path.name for path in (files.best_model, files.history, files.results) if path.exists()]
    print(f"Saved {files.model}, {', '.join(saved)} in {output}")
    if args.plots:
        print_saved_plots(save_plots(args.plots, data, report, result.history))
    if args.benchmark:
        StopWatch.benchmark(sysinfo=False)
    return 0


def load_command_data(args: argparse.Namespace) -> tuple[str, tuple[Split, Split]]:
    """The dataset the command asked for, and its data. With neither --dataset nor --data, MNIST, or where it cannot
    be had, the sample shipped in the package, saying so on standard error."""
    if args.dataset is not None or args.data is not None:
        dataset = args.dataset or "mnist"
        return dataset, load_data(dataset, args.data)
    try:
        return "mnist", load_data("mnist")
    except DataUnavailableError as error:
        note = (
            f"note: {error.short} Training on the real MNIST sample shipped in the package instead. For the full set: "
        )
        print(note + error.advice, file=sys.stderr)
        return "sample", load_data("sample")


def describe_split(dataset: str, data: tuple[Split, Split], config: Config) -> str:
    """One line: how many images train, validate and test."""
    train, (x_test, _) = data
    (x_train, _), validation = split_validation(train, config.validation_split)
    if validation is None:
        return f"{dataset}: {len(x_train):,} training and {len(x_test):,} test images (no validation split)"
    return (
        f"{dataset}: {len(x_train):,} training, {len(validation[0]):,} validation (the last "
        f"{config.validation_split:.0%} of the training images) and {len(x_test):,} test images"
    )


def evaluate_command(args: argparse.Namespace) -> int:
    models = [load_model(path) for path in args.models]
    _, data = load_command_data(args)
    report = evaluation_report(models, data[1])
    print(format_scores(report.scores))
    ensemble = f" (the mean probabilities of {len(models)} models)" if len(models) > 1 else ""
    print(f"\nTest calibration error (ECE): {100 * report.calibration_error:.2f}%")
    print(f"Test accuracy: {100 * report.accuracy:.2f}%{ensemble}")
    if args.plots:
        print_saved_plots(save_plots(args.plots, data, report))
    return 0


def summary_command(args: argparse.Namespace) -> int:
    model = build_model(config_from(args))
    print(f"Backend: {backend.name()}")
    model.summary()
    diagram = plot_architecture(model, args.diagram)
    if diagram is not None:
        print(f"Saved the architecture diagram to {diagram}")
    return 0


def predict_command(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    predictions = predict_files(model, args.images, top=max(1, args.top), explain=args.explain is not None)
    if args.json:
        print(json.dumps([prediction.summary() for prediction in predictions], indent=2))
    for prediction in predictions:
        if prediction.error:
            print(f"error: {prediction.error}", file=sys.stderr)
        elif not args.json:
            ranked = ", ".join(f"{digit} ({probability:.1%})" for digit, probability in prediction.top)
            print(f"{prediction.file}: {ranked}")
    if args.explain is not None:
        pictures = [
            save_figure(
                plot_explanation(prediction.explanation, prediction.original, Path(prediction.file).name),
                args.explain / f"{Path(prediction.file).stem}.png",
            )
            for prediction in predictions
            if prediction.explanation is not None
        ]
        print(
            f"Saved the explanations: {', '.join(str(path) for path in pictures)}",
            file=sys.stderr if args.json else sys.stdout,
        )
    return 1 if any(prediction.error for prediction in predictions) else 0


def export_command(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    path = export_model(model, args.output or default_export_path(args.model, args.format), args.format)
    print(f"Exported {args.model} as {args.format} to {path}")
    return 0


def demo_command(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    check_port_free(args.host, args.port)
    print(f"Serving {args.model} on http://{args.host}:{args.port} (Ctrl-C stops it)", flush=True)
    launch_demo(model, args.host, args.port)
    return 0


def save_plots(
    folder: Path, data: tuple[Split, Split], report: EvaluationReport, history: dict | None = None
) -> list[Path]:
    """Save the run's figures as PNG files in `folder`: samples, training curves, confusion matrix, mistakes."""
    (x_train, y_train), test = data
    worst = most_confident_errors(report.true_labels, report.probabilities)
    figures = {
        "samples.png": plot_digits(x_train[:32], y_train[:32].argmax(axis=1), title="Training digits"),
        "confusion_matrix.png": plot_confusion_matrix(report.matrix),
    }
    if len(worst):  # A model without mistakes has none to show.
        figures["misclassified.png"] = plot_digits(
            test[0][worst],
            report.true_labels[worst],
            report.predicted_labels[worst],
            title="Most confident mistakes: predicted (true)",
        )
    if history:
        figures["training_curves.png"] = plot_history(history)
    return [save_figure(figure, Path(folder) / name) for name, figure in figures.items()]


def print_saved_plots(paths: list[Path]) -> None:
    print(f"Saved plots: {', '.join(str(path) for path in paths)}")
