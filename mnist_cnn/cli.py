"""The `mnist-cnn` command line: its arguments, and the one line printed for an error.

mnist-cnn train [--recipe fast|seed|accurate|gpu] [--dataset mnist|fashion|sample] [--data PATH] [--output DIR] ...
mnist-cnn evaluate MODEL [MODEL ...] [--dataset ...] [--plots DIR]
mnist-cnn summary [--filters N] [--kernel-size N] [--pool-size N] [--diagram PATH]
mnist-cnn predict MODEL IMAGE [IMAGE ...] [--top K] [--json] [--explain DIR]
mnist-cnn export MODEL [--format saved_model|litert|onnx] [--output PATH]
mnist-cnn demo MODEL [--host HOST] [--port PORT]
mnist-cnn sheet [--paper a4|letter] [--output PATH]
mnist-cnn tune MODEL SOURCE [SOURCE ...] [--output DIR] [--replace] [--restart] [--dataset ...] [--epochs N] ...

The hyperparameters' flags are made from `Config`'s fields (tune's from `TuneSettings`'), their help from each
field's description. Building and
parsing the arguments imports no Keras: the backend is chosen once they are read and checked, and only then are the
commands (mnist_cnn.commands, which import Keras: seconds) imported, so that `--help`, `--version` and a mistyped
argument are answered at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from mnist_cnn import __version__
from mnist_cnn.backend import BACKENDS, use_backend
from mnist_cnn.config import DEFAULT_RECIPE, RECIPES, Config, TuneSettings, config_for
from mnist_cnn.data import DATASETS, DIGIT_DATASETS
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.export import FORMATS
from mnist_cnn.interrupts import TERMINATED_STATUS, Terminated, terminate_as_interrupt
from mnist_cnn.quiet import DEBUG_VARIABLE, debugging

# How a flag reads the value of a Config field of each type (bools are switches, choices names).
FLAG_TYPES = {"int": int, "float": float, "str": str}
# `summary` takes only what changes the layers it prints (their shapes and parameters): the network of every recipe
# is the seed's, and dropout's rate shows in neither the table nor the diagram.
NETWORK_FIELDS = ("filters", "kernel_size", "pool_size")
MODEL_HELP = "a model that train saved, e.g. runs/mnist-fast/model.keras"
BACKEND_HELP = (
    "the Keras backend (default: KERAS_BACKEND, else ~/.keras/keras.json, else the first installed of "
    + ", ".join(BACKENDS)
    + ")"
)
RECIPE_HELP = (
    f"{DEFAULT_RECIPE} (default): the least time to 99%%; accurate: the most accurate; seed: the course's; "
    "gpu: fast, sized for a GPU. The hyperparameters below show each recipe's values"
)
# train's switches, all off unless given.
TRAIN_SWITCHES = {
    "--dry-run": "one epoch of two batches, to check that all works",
    "--restart": "discard the run in --output, finished or not",
    "--replace": "replace a finished run in --output (an unfinished one is resumed)",
    "--benchmark": "print cloudmesh StopWatch's benchmark table",
}
# tune's switches: train's, for the new run's folder.
TUNE_SWITCHES = {flag: TRAIN_SWITCHES[flag] for flag in ("--restart", "--replace")}
SOURCES_HELP = (
    "a photo or scan of a filled sheet (mnist-cnn sheet writes one to print), or a folder of subfolders 0 ... 9 of "
    "image files of one digit each"
)
# mnist_cnn.sheet.PAPERS' names: not imported, so that the parser imports no drawing library.
PAPERS = ("a4", "letter")
# The sheet is written as both; --output names either.
SHEET_SUFFIXES = (".pdf", ".png")
TOP_DIGITS = (1, 10)
PORTS = (1, 65535)
DEFAULT_PORT = 7860
DEFAULT_HOST = "127.0.0.1"
DEFAULT_DIAGRAM = Path("cnn-mnist.png")
# Ctrl-C's exit status, as a shell reports a process that SIGINT ended.
INTERRUPTED_STATUS = 130
# More than one line, or longer than this, is a library's report in an OSError, not a reason.
LONGEST_REASON = 200


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        with terminate_as_interrupt():  # SIGTERM (kill, a scheduler) stops a command as Ctrl-C does
            return run_command(args)
    except MnistCnnError as error:
        print(f"error: {error}", file=sys.stderr)
    except KeyboardInterrupt as interrupt:
        terminated = isinstance(interrupt, Terminated)
        print(f"interrupted{' by SIGTERM' if terminated else ''}{resume_note(args)}", file=sys.stderr)
        return TERMINATED_STATUS if terminated else INTERRUPTED_STATUS
    except OSError as error:  # A full disk, a folder without write permission, ...
        print(f"error: {describe_os_error(error)}", file=sys.stderr)
    except Exception as error:
        if debugging():
            raise
        print(
            f"error: unexpected {type(error).__name__}: {error} (set {DEBUG_VARIABLE}=1 for details)", file=sys.stderr
        )
    return 1


def resume_note(args: argparse.Namespace) -> str:
    """What an interrupted command adds to its line: how to resume the training run it stopped, if one."""
    output = getattr(args, "output", None)  # train names its default folder here (commands.train)
    if args.command not in ("train", "tune") or output is None:
        return ""
    return f"; run the same command to resume from the last finished epoch saved in {output}"


def run_command(args: argparse.Namespace) -> int:
    """Check the settings, choose the backend, and only then import Keras (with the commands) and run the command."""
    if args.takes_config:
        args.config = config_from(args)
    if getattr(args, "takes_tune_settings", False):
        args.settings = tune_settings_from(args)
    use_backend(getattr(args, "backend", None))
    from mnist_cnn import commands

    return getattr(commands, args.command)(args)


def describe_os_error(error: OSError) -> str:
    """ "FILE: what is wrong", or what is wrong alone where the error names no file.

    Some libraries (h5py, under Keras' checkpoints) put a whole report in `strerror`: then the system's words for the
    error number, and the file named in the report, make the line.
    """
    reason = error.strerror or str(error) or type(error).__name__
    filename = error.filename
    if "\n" in reason or len(reason) > LONGEST_REASON:
        named = re.search(r"filename = '([^']+)'", reason)
        filename = filename or (named.group(1) if named else None)
        reason = os.strerror(error.errno) if error.errno else reason.splitlines()[0]
    return f"{filename}: {reason}" if filename else reason


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command and its flags; building it and parsing import no Keras."""
    parser = argparse.ArgumentParser(prog="mnist-cnn", description="Train, evaluate and use the MNIST CNN.")
    add_backend_flag(parser)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    for add in (add_train, add_evaluate, add_summary, add_predict, add_export, add_demo, add_sheet, add_tune):
        add(commands)
    return parser


def add_backend_flag(parser: argparse.ArgumentParser) -> None:
    """--backend, before the command or after it: unset, it leaves the choice to use_backend's defaults."""
    parser.add_argument("--backend", choices=BACKENDS, default=argparse.SUPPRESS, help=BACKEND_HELP)


def add_command(
    commands: argparse._SubParsersAction, name: str, purpose: str, takes_config: bool = False
) -> argparse.ArgumentParser:
    """A command's parser, which also takes --backend; `takes_config`: the command's Config is read from its flags."""
    command = commands.add_parser(name, help=purpose, description=purpose[0].upper() + purpose[1:] + ".")
    command.set_defaults(command=name, takes_config=takes_config)
    add_backend_flag(command)
    return command


def add_train(commands: argparse._SubParsersAction) -> None:
    """`train`: a recipe, its data, the run's folders and switches, and every hyperparameter."""
    train = add_command(commands, "train", "train and evaluate a model, saving it with its history", takes_config=True)
    train.add_argument("--recipe", choices=RECIPES, default=DEFAULT_RECIPE, help=RECIPE_HELP)
    add_data_flags(train)
    output_help = "the run's folder (default: runs/DATASET-RECIPE, or runs/dry-run, replaced by the next dry run)"
    train.add_argument("--output", metavar="DIR", type=Path, help=output_help)
    train.add_argument("--plots", metavar="DIR", type=Path, help="save the figures of the run as PNG files here")
    tensorboard_help = "log each epoch for TensorBoard here (tensorboard --logdir DIR)"
    train.add_argument("--tensorboard", metavar="DIR", type=Path, help=tensorboard_help)
    for flag, text in TRAIN_SWITCHES.items():
        train.add_argument(flag, action="store_true", help=text)
    every_field = [setting.name for setting in dataclasses.fields(Config)]
    add_config_flags(train, every_field, "hyperparameters (default: the --recipe's value, listed for each recipe)")


def add_evaluate(commands: argparse._SubParsersAction) -> None:
    """`evaluate`: one model or several (an ensemble), and the data to test them on."""
    purpose = "test a saved model, or the ensemble of several: accuracy and per-digit scores"
    evaluate = add_command(commands, "evaluate", purpose)
    models_help = f"{MODEL_HELP}; several: their mean probabilities"
    evaluate.add_argument("models", nargs="+", type=Path, metavar="MODEL", help=models_help)
    add_data_flags(evaluate)
    evaluate.add_argument("--plots", metavar="DIR", type=Path, help="save the confusion matrix and worst mistakes")


def add_summary(commands: argparse._SubParsersAction) -> None:
    """`summary`: the network's own settings, and where to draw it."""
    summary = add_command(commands, "summary", "print the model's layers and draw its diagram", takes_config=True)
    diagram_help = "a PNG file (default: %(default)s)"
    summary.add_argument("--diagram", metavar="PATH", type=Path, default=DEFAULT_DIAGRAM, help=diagram_help)
    add_config_flags(summary, NETWORK_FIELDS, "the network (default: the one every recipe trains)")


def add_predict(commands: argparse._SubParsersAction) -> None:
    """`predict`: a model, image files, and how to show the answers."""
    predict = add_command(commands, "predict", "predict the digit in image files (PNG, JPEG, ...)")
    add_model(predict)
    predict.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="an image file of one digit")
    low, high = TOP_DIGITS
    top_help = f"show the K most likely digits, K from {low} to {high} (default: %(default)s)"
    predict.add_argument("--top", metavar="K", type=int_between(low, high), default=1, help=top_help)
    predict.add_argument("--json", action="store_true", help="print the predictions as JSON")
    explain_help = "save a picture for each image in DIR: the pixels that made the model answer (occlusion maps)"
    predict.add_argument("--explain", metavar="DIR", type=Path, help=explain_help)


def add_export(commands: argparse._SubParsersAction) -> None:
    """`export`: a model, a format, and where to write it."""
    export = add_command(commands, "export", "export a saved model for serving: SavedModel, LiteRT or ONNX")
    add_model(export)
    export.add_argument("--format", choices=FORMATS, default="saved_model", help="default: %(default)s")
    export.add_argument("--output", metavar="PATH", type=Path, help="default: beside the model, e.g. model.onnx")


def add_demo(commands: argparse._SubParsersAction) -> None:
    """`demo`: a model, and the address to serve its page on."""
    demo = add_command(commands, "demo", "a web page to draw or upload a digit and see the model's answer")
    add_model(demo)
    host_help = "the address to serve on (default: %(default)s, this machine only)"
    demo.add_argument("--host", default=DEFAULT_HOST, help=host_help)
    port_help = "the TCP port to serve on (default: %(default)s)"
    demo.add_argument("--port", type=int_between(*PORTS), default=DEFAULT_PORT, help=port_help)


def add_sheet(commands: argparse._SubParsersAction) -> None:
    """`sheet`: the paper, and where to write the sheet."""
    sheet = add_command(commands, "sheet", "write a sheet to print and fill in with your digits for tune, PDF and PNG")
    sheet.add_argument("--paper", choices=PAPERS, default=PAPERS[0], help="default: %(default)s")
    output_help = "the PDF, the PNG written beside it, or the PNG (default: sheet-PAPER.pdf)"
    sheet.add_argument("--output", metavar="PATH", type=sheet_path, help=output_help)
    read_help = (
        "instead, read photos of filled sheets: print what was read and save each one's contact sheet (every box as "
        "read) as PHOTO-contact.png in this folder, to check before tune"
    )
    sheet.add_argument("--read", nargs="+", type=Path, metavar="PHOTO", help=read_help)


def add_tune(commands: argparse._SubParsersAction) -> None:
    """`tune`: a model, the user's digits, the new run's folder and switches, MNIST's data, the settings."""
    purpose = "fine-tune a saved model on your handwriting (photos of filled sheets, or folders of digit files)"
    tune = add_command(commands, "tune", purpose)
    tune.set_defaults(takes_tune_settings=True)
    add_model(tune)
    tune.add_argument("sources", nargs="+", type=Path, metavar="SOURCE", help=SOURCES_HELP)
    output_help = "the new run's folder (default: runs/NAME-tuned, NAME the model's run folder's, or its file's)"
    tune.add_argument("--output", metavar="DIR", type=Path, help=output_help)
    for flag, text in TUNE_SWITCHES.items():
        tune.add_argument(flag, action="store_true", help=text)
    add_data_flags(tune, DIGIT_DATASETS)  # digits to mix in: not Fashion-MNIST's clothes
    group = tune.add_argument_group("fine-tuning (mnist_cnn.tune says how the defaults were chosen)")
    for setting in dataclasses.fields(TuneSettings):
        values = f"default: {show_value(setting.default)}"
        group.add_argument(config_flag(setting.name), help=described(setting, values), **config_flag_kind(setting))


def sheet_path(text: str) -> Path:
    """An argparse type: a path ending in .pdf or .png, else the parser's one-line error."""
    if Path(text).suffix.lower() not in SHEET_SUFFIXES:
        raise argparse.ArgumentTypeError(f"the sheet is written as a .pdf and a .png: not {text!r}")
    return Path(text)


def add_data_flags(command: argparse.ArgumentParser, datasets: tuple[str, ...] = DATASETS) -> None:
    """--dataset and --data: which images a command trains or tests on (one of `datasets`)."""
    dataset_help = "default: mnist, or the sample shipped in the package (saying so) where MNIST cannot be had"
    command.add_argument("--dataset", choices=datasets, help=dataset_help)
    command.add_argument("--data", metavar="PATH", help="a Keras .npz file or a folder of the four IDX files")


def add_model(command: argparse.ArgumentParser) -> None:
    """The MODEL argument of a command that loads one model."""
    command.add_argument("model", metavar="MODEL", type=Path, help=MODEL_HELP)


def int_between(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`, else the parser's one-line error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, not {value}")
        return value

    return parse


def add_config_flags(parser: argparse.ArgumentParser, names: list[str] | tuple[str, ...], title: str) -> None:
    """A flag for each of these Config fields, e.g. --batch-size, its help the field's description with each recipe's
    value; unset flags keep the recipe's value."""
    group = parser.add_argument_group(title)
    fields = {setting.name: setting for setting in dataclasses.fields(Config)}
    for name in names:
        group.add_argument(config_flag(name), help=config_flag_help(fields[name]), **config_flag_kind(fields[name]))


def config_flag(name: str) -> str:
    """A Config field's flag: batch_size's is --batch-size."""
    return "--" + name.replace("_", "-")


def config_flag_kind(setting: dataclasses.Field) -> dict[str, object]:
    """How argparse reads a Config field's flag: a switch (--calibrate, --no-calibrate), a choice, or a value."""
    if setting.type == "bool":
        return {"action": argparse.BooleanOptionalAction}
    if "choices" in setting.metadata:
        return {"choices": setting.metadata["choices"]}
    return {"type": FLAG_TYPES[setting.type.removesuffix(" | None")], "metavar": setting.name.upper()}


def config_flag_help(setting: dataclasses.Field) -> str:
    """A Config field's description, then its range and each recipe's value, as --help shows them."""
    return described(setting, recipe_values(setting.name))


def described(setting: dataclasses.Field, values: str) -> str:
    """A settings field's description, then its range and, in brackets, `values`, as --help shows them."""
    accepted = setting.metadata.get("range")
    limits = f"; {accepted}" if accepted is not None else ""
    return f"{setting.metadata['help']}{limits} ({values})".replace("%", "%%")


def recipe_values(name: str) -> str:
    """A Config field's value in each recipe, the default recipe's first: "default: the recipe's; fast: 2, seed: 10,
    ...", or "default: 128" where all recipes agree."""
    order = [DEFAULT_RECIPE, *(recipe for recipe in RECIPES if recipe != DEFAULT_RECIPE)]
    values = {recipe: show_value(getattr(RECIPES[recipe], name)) for recipe in order}
    if len(set(values.values())) == 1:
        return f"default: {values[DEFAULT_RECIPE]}"
    return "default: the recipe's; " + ", ".join(f"{recipe}: {value}" for recipe, value in values.items())


def show_value(value: object) -> str:
    """A hyperparameter's value as a user types it: on/off, 0.005, all (steps_per_epoch's None)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "all"
    return f"{value:g}" if isinstance(value, float) else str(value)


def config_from(args: argparse.Namespace) -> Config:
    """The command's Config: its recipe (the seed's for `summary`) with the flags given.

    --validation-split 0 leaves no images to calibrate on: with a recipe that calibrates, it turns calibration off,
    saying so, unless --calibrate asks for both (an error, from Config).
    """
    overrides = {setting.name: getattr(args, setting.name, None) for setting in dataclasses.fields(Config)}
    if getattr(args, "dry_run", False):
        overrides.update(epochs=1, steps_per_epoch=2)
    recipe = getattr(args, "recipe", "seed")
    if overrides["validation_split"] == 0 and overrides["calibrate"] is None and RECIPES[recipe].calibrate:
        overrides["calibrate"] = False
        print(
            "note: calibration is off: --validation-split 0 leaves no images to fit its temperature on", file=sys.stderr
        )
    return config_for(recipe, **overrides)


def tune_settings_from(args: argparse.Namespace) -> TuneSettings:
    """tune's TuneSettings: the defaults with the flags given."""
    given = {setting.name: getattr(args, setting.name) for setting in dataclasses.fields(TuneSettings)}
    return TuneSettings(**{name: value for name, value in given.items() if value is not None})
