"""The commands of `mnist-cnn`, one function each, called by mnist_cnn.cli with the arguments it read and checked.

Importing this module imports Keras and its backend (seconds): mnist_cnn.cli does it only once a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from cloudmesh.common.StopWatch import StopWatch

from mnist_cnn import backend
from mnist_cnn.analysis import EvaluationReport, evaluation_report, format_scores, most_confident_errors
from mnist_cnn.config import Config
from mnist_cnn.data import DataUnavailableError, Split, load_data, split_validation
from mnist_cnn.demo import check_port_free, launch_demo
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.export import default_export_path, export_model
from mnist_cnn.model import build_model, load_model, plot_architecture
from mnist_cnn.novelty import VALIDATION_REFUSED, DigitReader, novelty_for
from mnist_cnn.plots import plot_confusion_matrix, plot_digits, plot_explanation, plot_history, save_figure
from mnist_cnn.predict import answer_text, predict_files
from mnist_cnn.runs import RunConflictError, RunFiles, RunFolder
from mnist_cnn.sheet import read_sheet, write_sheet
from mnist_cnn.train import train_and_evaluate
from mnist_cnn.tune import TuneResult, check_source_kept, fine_tune, user_digits

RUNS_FOLDER = Path("runs")
DRY_RUN_FOLDER = RUNS_FOLDER / "dry-run"
# How tune names the dataset it mixes in and tests on.
DATASET_NAMES = {"mnist": "MNIST", "sample": "MNIST sample"}
# Keras' `verbose` for one line per epoch.
ONE_LINE_PER_EPOCH = 2


def train(args: argparse.Namespace) -> int:
    """`mnist-cnn train`: train and evaluate the recipe with the flags given, and print the scores and files saved."""
    config = args.config
    dataset, data = load_command_data(args)
    # A dry run's own folder holds nothing worth keeping: the next dry run replaces it.
    replace_finished = args.replace or (args.dry_run and args.output is None)
    output = args.output = args.output or default_output(dataset, args)  # main() names it if interrupted.
    print(describe_split(dataset, data, config))
    verbose = "auto" if sys.stdout.isatty() else ONE_LINE_PER_EPOCH  # Without a terminal, no redrawn bar.
    result = train_and_evaluate(
        config,
        data,
        RunFolder(output, restart=args.restart, replace=replace_finished),
        verbose=verbose,
        tensorboard_dir=args.tensorboard,
        load_s=StopWatch.get("load", digits=4),  # load_command_data's, timed by load_data
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


def default_output(dataset: str, args: argparse.Namespace) -> Path:
    """runs/DATASET-RECIPE, or runs/dry-run. A finished run there is kept: unless --replace or --restart asks to
    replace it, RunConflictError says how to keep both."""
    if args.dry_run:
        return DRY_RUN_FOLDER
    return kept_finished_run(RUNS_FOLDER / f"{dataset}-{args.recipe}", args)


def kept_finished_run(folder: Path, args: argparse.Namespace) -> Path:
    """`folder`, unless it holds a finished run that neither --replace nor --restart asks to replace: then
    RunConflictError says how to keep both."""
    if RunFiles(folder).finished and not (args.replace or args.restart):
        raise RunConflictError(
            f"{folder} holds a finished run: to keep both, give this one its own folder (--output {free_folder(folder)}"
            "); to replace it, --replace"
        )
    return folder


def free_folder(folder: Path) -> Path:
    """FOLDER-2, else FOLDER-3, ...: the first of them that does not exist."""
    number = 2
    while folder.with_name(f"{folder.name}-{number}").exists():
        number += 1
    return folder.with_name(f"{folder.name}-{number}")


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


def evaluate(args: argparse.Namespace) -> int:
    """`mnist-cnn evaluate`: score a model, or several models' mean probabilities, on the test set."""
    models = [load_model(path) for path in args.models]
    _, data = load_command_data(args)
    report = evaluation_report(models, data[1])  # as train scores it, to the digit (the novelty's model differs)
    refused = None
    if len(models) == 1:
        reader = DigitReader(models[0], novelty_for(models[0], args.models[0]))
        refused = float(np.mean(reader.read(data[1][0])[1] > reader.check.threshold))
    print(format_scores(report.scores))
    ensemble = f" (the mean probabilities of {len(models)} models)" if len(models) > 1 else ""
    print(f"\nTest calibration error (ECE): {100 * report.calibration_error:.2f}%")
    print(f"Test accuracy: {100 * report.accuracy:.2f}%{ensemble}")
    if refused is not None:
        print(
            f"Taken for not a digit: {100 * refused:.2f}% of the test digits "
            f"(the threshold refuses {VALIDATION_REFUSED:.1%} of the validation digits)"
        )
    if args.plots:
        print_saved_plots(save_plots(args.plots, data, report))
    return 0


def summary(args: argparse.Namespace) -> int:
    """`mnist-cnn summary`: print the network's layers and draw its diagram."""
    model = build_model(args.config)
    print(f"Backend: {backend.name()}")
    model.summary()
    diagram = plot_architecture(model, args.diagram)
    if diagram is not None:
        print(f"Saved the architecture diagram to {diagram}")
    return 0


def predict(args: argparse.Namespace) -> int:
    """`mnist-cnn predict`: the digits in image files; a file that cannot be read is its own error line, exit 1."""
    model = load_model(args.model)
    check = novelty_for(model, args.model)
    predictions = predict_files(model, args.images, top=args.top, explain=args.explain is not None, check=check)
    if args.json:
        print(json.dumps([prediction.summary() for prediction in predictions], indent=2))
    for prediction in predictions:
        if prediction.error:
            print(f"error: {prediction.error}", file=sys.stderr)
        elif not args.json:
            print(f"{prediction.file}: {answer_text(prediction, check.threshold)}")
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


def export(args: argparse.Namespace) -> int:
    """`mnist-cnn export`: write a saved model in a serving format."""
    model = load_model(args.model)
    path = export_model(model, args.output or default_export_path(args.model, args.format), args.format)
    print(f"Exported {args.model} as {args.format} to {path}")
    return 0


def demo(args: argparse.Namespace) -> int:
    """`mnist-cnn demo`: serve the draw-or-upload page until Ctrl-C."""
    model = load_model(args.model)
    check_port_free(args.host, args.port)
    print(f"Serving {args.model} on http://{args.host}:{args.port} (Ctrl-C stops it)", flush=True)
    launch_demo(DigitReader(model, novelty_for(model, args.model)), args.host, args.port)
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
    """One line naming the figures saved."""
    print(f"Saved plots: {', '.join(str(path) for path in paths)}")


def tune(args: argparse.Namespace) -> int:
    """`mnist-cnn tune`: fine-tune a model on the user's digits as a new run; print what was read of each source, the
    scores before and after, and the files saved. Bad input is one error line before anything is written."""
    source = load_model(args.model)  # a bad model file is told before any photo is read
    check_source_kept(args.model, args.output)  # before "--replace" could be advised for the source's own folder
    output = args.output = kept_finished_run(args.output or default_tuned_folder(args.model), args)
    digits = user_digits(args.sources)
    for read in digits.sources:
        print("\n  ".join(source_lines(read.path, read.count, read.problems)))
    dataset, data = load_command_data(args)
    dataset = DATASET_NAMES.get(dataset, dataset)
    print(
        f"Fine-tuning {args.model} on your {len(digits.labels)} digits (some of each held out to score it) with "
        f"{dataset}'s training digits mixed in, into {output}"
    )
    result = fine_tune(
        args.model,
        digits,
        RunFolder(output, restart=args.restart, replace=args.replace),
        mnist=data,
        settings=args.settings,
        source=source,
        verbose="auto" if sys.stdout.isatty() else ONE_LINE_PER_EPOCH,
    )
    print(f"\n{tuned_scores(result, dataset, len(data[1][0]))}")
    print(
        f"Saved the tuned model {result.run.files.model} (with its results and tuning.json); {args.model} is unchanged"
    )
    for path in result.contact_sheets:
        print(f"Contact sheet of what was read, to check: {path}")
    return 0


def default_tuned_folder(model: Path) -> Path:
    """runs/NAME-tuned: NAME the model's run folder's (runs/mnist-fast/model.keras: mnist-fast), else its file's."""
    name = model.parent.name if model.name == "model.keras" and model.parent.name else model.stem
    return RUNS_FOLDER / f"{name}-tuned"


def tuned_scores(result: TuneResult, dataset: str, test_size: int) -> str:
    """The scores before and after, one line each: the user's held-out digits, then the test set's."""
    if result.held_out_digits:
        held_out = (
            f"Your {result.held_out_digits} held-out digits (never trained on): {result.held_out_before:.1%} -> "
            f"{result.held_out_after:.1%}"
        )
    else:
        held_out = "None of your digits held out to score it: give at least two of a digit"
    recorded = " (before: the source run's results.json)" if result.mnist_test_before_from == "results.json" else ""
    return (
        f"{held_out}\n{dataset} test accuracy ({test_size:,} digits): {result.mnist_test_before:.2%} -> "
        f"{result.mnist_test_after:.2%}{recorded}"
    )


def sheet(args: argparse.Namespace) -> int:
    """`mnist-cnn sheet`: write the sheet to print and fill in, as a PDF and a PNG; or read photos of filled ones."""
    if args.read:
        return read_sheets(args.read)
    output = args.output or Path(f"sheet-{args.paper}.pdf")
    pdf, png = (write_sheet(output.with_suffix(suffix), args.paper) for suffix in (".pdf", ".png"))
    print(f"Saved {pdf} and {png} ({args.paper}): print one, write a digit in each box, photograph the whole sheet,")
    print("then teach a model your handwriting: mnist-cnn tune MODEL PHOTO")
    return 0


def read_sheets(photos: list[Path]) -> int:
    """`mnist-cnn sheet --read`: what each photo's boxes hold, and its contact sheet saved to check; a photo that
    cannot be read is its own error line, exit 1."""
    status = 0
    for photo in photos:
        try:
            reading = read_sheet(photo)
        except MnistCnnError as error:
            print(f"error: {error}", file=sys.stderr)
            status = 1
            continue
        print("\n  ".join(source_lines(photo, len(reading.digits()[1]), reading.problems())))
        contact = reading.save_contact_sheet(Path(f"{photo.stem}-contact.png"))
        print(f"  what was read in each box, to check: {contact}")
    return status


def source_lines(path: Path, count: int, problems: list[str]) -> list[str]:
    """What was read of one source of digits, as tune and sheet --read print it: the count, then each problem."""
    return [f"{path}: {count} digits read" + (f", {len(problems)} not learnt:" if problems else ""), *problems]
