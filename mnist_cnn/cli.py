"""The `mnist-cnn` command line: its arguments, and the one line printed for an error.

mnist-cnn train [--recipe fast|seed|accurate|gpu] [--dataset mnist|fashion|sample] [--data PATH] [--output DIR] ...
mnist-cnn evaluate MODEL [MODEL ...] [--dataset ...] [--plots DIR]
mnist-cnn summary [--filters N] [--kernel-size N] [--pool-size N] [--diagram PATH]
mnist-cnn predict MODEL IMAGE [IMAGE ...] [--top K] [--json] [--explain DIR]
mnist-cnn export MODEL [--format saved_model|litert|onnx] [--output PATH]
mnist-cnn demo MODEL [--host HOST] [--port PORT]

The commands themselves (mnist_cnn.commands) import Keras and its backend, which takes seconds; this module imports
them only once the arguments are read and checked, so that `--help`, `--version` and a mistyped argument are answered
at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from mnist_cnn import __version__
from mnist_cnn.backend import BACKENDS
from mnist_cnn.config import CHOICES, DEFAULT_RECIPE, RECIPES, Config, config_for
from mnist_cnn.data import DATASETS
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.export import FORMATS
from mnist_cnn.quiet import DEBUG_VARIABLE, debugging

FLAG_TYPES = {"int": int, "float": float, "str": str, "int | None": int, "bool": bool}
# What each hyperparameter's flag sets, with its unit; the values are the recipes' (mnist_cnn/config.py).
FIELD_HELP = {
    "filters": "filters of each of the four convolutions",
    "kernel_size": "side of the convolutions' square kernels, in pixels",
    "pool_size": "side of the max poolings' square windows, in pixels",
    "dropout": "fraction of the flattened features dropped at each training step, in [0, 1)",
    "batch_size": "images in a training step, per device",
    "epochs": "passes over the training images",
    "optimizer": "Keras' optimizer, with its defaults but for the learning rate",
    "learning_rate": "learning rate (the peak of the cosine schedule), per device",
    "lr_schedule": "constant, or cosine: a linear warm-up, then cosine decay to zero by the last epoch",
    "warmup_epochs": "length of the cosine schedule's warm-up, in epochs (a fraction of one allowed)",
    "label_smoothing": "fraction of each one-hot label spread over the other nine digits, in [0, 1)",
    "max_shift": "augmentation: shift training images at random up to this fraction of their side (0.1: 2.8 "
    "pixels); 0: off; needs --input-pipeline batches",
    "max_rotation": "augmentation: rotate training images at random up to this fraction of a full turn (0.03: "
    "10.8 degrees); 0: off; needs --input-pipeline batches",
    "input_pipeline": "arrays: model.fit on NumPy arrays, as the seed does; batches: the package's own batches, "
    "shuffled every epoch and augmented; auto: batches where the images are augmented, arrays otherwise",
    "steps_per_epoch": "train on the first STEPS_PER_EPOCH x BATCH_SIZE images only, for quick checks",
    "validation_split": "fraction of the training images (the last ones) held out to validate on: it picks the best "
    "epoch and the temperature; 0: none, and no calibration",
    "calibrate": "fit a temperature on the validation images, so that a 90% answer is right about 90% of the time",
    "precision": "Keras' dtype policy; auto: the fastest the hardware runs natively",
    "steps_per_execution": "training steps run in one call of the compiled step",
    "jit_compile": "compile the training step (XLA on TensorFlow, torch.compile on PyTorch; JAX always compiles)",
    "devices": "train data-parallel on this many devices (GPUs, else CPUs), or all",
    "seed": "random seed of the initial weights, the shuffling and the augmentation",
}
# `summary` takes only what changes the layers it prints (their shapes and parameters): the network of every recipe
# is the seed's, and dropout's rate shows in neither the table nor the diagram.
NETWORK_FIELDS = ("filters", "kernel_size", "pool_size")
MODEL_HELP = "a model that train saved, e.g. runs/mnist-fast/model.keras"
TOP_DIGITS = (1, 10)
PORTS = (1, 65535)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.takes_config:
            args.config = config_from(args)
        from mnist_cnn import commands  # Keras and the backend: only now that the arguments are right.

        return getattr(commands, args.command)(args)
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
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    commands.add_parser = functools.partial(commands.add_parser, parents=[backend_flag])

    def add_command(name: str, purpose: str, takes_config: bool = False) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=purpose, description=purpose[0].upper() + purpose[1:] + ".")
        command.set_defaults(command=name, takes_config=takes_config)
        return command

    def add_data_flags(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--dataset",
            choices=DATASETS,
            help="default: mnist, or the sample shipped in the package (saying so) where MNIST cannot be had",
        )
        command.add_argument("--data", metavar="PATH", help="a Keras .npz file or a folder of the four IDX files")

    def add_model(command: argparse.ArgumentParser) -> None:
        command.add_argument("model", metavar="MODEL", type=Path, help=MODEL_HELP)

    train = add_command("train", "train and evaluate a model, saving it with its history", takes_config=True)
    train.add_argument(
        "--recipe",
        choices=RECIPES,
        default=DEFAULT_RECIPE,
        help=f"{DEFAULT_RECIPE} (default): the least time to 99%%; accurate: the most accurate; seed: the course's; "
        "gpu: fast, sized for a GPU. The hyperparameters below show each recipe's values",
    )
    add_data_flags(train)
    train.add_argument(
        "--output",
        metavar="DIR",
        type=Path,
        help="the run's folder (default: runs/DATASET-RECIPE, or runs/dry-run, replaced by the next dry run)",
    )
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
    add_config_flags(
        train,
        [field.name for field in dataclasses.fields(Config)],
        "hyperparameters (default: the --recipe's value, listed for each recipe)",
    )

    evaluate = add_command("evaluate", "test a saved model, or the ensemble of several: accuracy and per-digit scores")
    evaluate.add_argument(
        "models", nargs="+", type=Path, metavar="MODEL", help=f"{MODEL_HELP}; several: their mean probabilities"
    )
    add_data_flags(evaluate)
    evaluate.add_argument("--plots", metavar="DIR", type=Path, help="save the confusion matrix and worst mistakes")

    summary = add_command("summary", "print the model's layers and draw its diagram", takes_config=True)
    summary.add_argument(
        "--diagram", metavar="PATH", type=Path, default=Path("cnn-mnist.png"), help="a PNG file (default: %(default)s)"
    )
    add_config_flags(summary, NETWORK_FIELDS, "the network (default: the one every recipe trains)")

    predict = add_command("predict", "predict the digit in image files (PNG, JPEG, ...)")
    add_model(predict)
    predict.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="an image file of one digit")
    predict.add_argument(
        "--top",
        metavar="K",
        type=int_between(*TOP_DIGITS),
        default=1,
        help=f"show the K most likely digits, K from {TOP_DIGITS[0]} to {TOP_DIGITS[1]} (default: %(default)s)",
    )
    predict.add_argument("--json", action="store_true", help="print the predictions as JSON")
    predict.add_argument(
        "--explain",
        metavar="DIR",
        type=Path,
        help="save a picture for each image in DIR: the pixels that made the model answer (occlusion maps)",
    )

    export = add_command("export", "export a saved model for serving: SavedModel, LiteRT or ONNX")
    add_model(export)
    export.add_argument("--format", choices=FORMATS, default="saved_model", help="default: %(default)s")
    export.add_argument("--output", metavar="PATH", type=Path, help="default: beside the model, e.g. model.onnx")

    demo = add_command("demo", "a web page to draw or upload a digit and see the model's answer")
    add_model(demo)
    demo.add_argument(
        "--host", default="127.0.0.1", help="the address to serve on (default: %(default)s, this machine only)"
    )
    demo.add_argument(
        "--port", type=int_between(*PORTS), default=7860, help="the TCP port to serve on (default: %(default)s)"
    )
    return parser


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
    """A flag for each of these Config fields, e.g. --batch-size, its help showing each recipe's value; unset flags
    keep the recipe's value."""
    group = parser.add_argument_group(title)
    fields = {field.name: field for field in dataclasses.fields(Config)}
    for name in names:
        flag = "--" + name.replace("_", "-")
        text = f"{FIELD_HELP.get(name, '')} ({recipe_values(name)})".replace("%", "%%")
        if fields[name].type == "bool":
            group.add_argument(flag, action=argparse.BooleanOptionalAction, help=text)
        elif name in CHOICES:
            group.add_argument(flag, choices=CHOICES[name], help=text)
        else:
            group.add_argument(flag, type=FLAG_TYPES[fields[name].type], metavar=name.upper(), help=text)


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
    overrides = {field.name: getattr(args, field.name, None) for field in dataclasses.fields(Config)}
    if getattr(args, "dry_run", False):
        overrides.update(epochs=1, steps_per_epoch=2)
    recipe = getattr(args, "recipe", "seed")
    if overrides["validation_split"] == 0 and overrides["calibrate"] is None and RECIPES[recipe].calibrate:
        overrides["calibrate"] = False
        print(
            "note: calibration is off: --validation-split 0 leaves no images to fit its temperature on", file=sys.stderr
        )
    return config_for(recipe, **overrides)
