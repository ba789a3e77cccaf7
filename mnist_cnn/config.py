"""Every hyperparameter of a run in one place, each described once.

`Config()` is the seed notebook's recipe exactly; `RECIPES` holds it with the tuned recipes on the same network. Each
field carries its description, and where it has them its choices and its range, in the field's metadata: `Config`
checks values against them, and the command line makes its flags and their help from them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mnist_cnn.data import IMAGE_SIZE
from mnist_cnn.errors import MnistCnnError

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
LR_SCHEDULES = ("constant", "cosine")
INPUT_PIPELINES = ("auto", "arrays", "batches")
# Keras' dtype policies, and "auto" (mnist_cnn.precision picks one for the machine).
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
# The largest seed NumPy's and the backends' generators take.
MAX_SEED = 2**32 - 1
# A learning rate above this is a typo, not a schedule.
MAX_LEARNING_RATE = 10
# The Python type each field type's values are stored as, whatever number type was given (run.json is JSON).
FIELD_TYPES = {"int": int, "float": float, "bool": bool}


class ConfigError(MnistCnnError, ValueError):
    """A hyperparameter out of its range or an unknown choice."""


@dataclass(frozen=True)
class Range:
    """The numbers a setting accepts: from `low` to `high`, each end included unless it is open."""

    low: float
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: object) -> bool:
        """Whether `value` is a finite number within the range (a bool is no number)."""
        if not (is_number(value) and math.isfinite(value)):
            return False
        return (self.low < value if self.low_open else self.low <= value) and (
            value < self.high if self.high_open else value <= self.high
        )

    def __str__(self) -> str:
        """As a sentence ends: "at least 1", "greater than 0", "in [0, 1)"."""
        if self.high == math.inf:
            return f"{'greater than' if self.low_open else 'at least'} {self.low:,}"
        return f"in {'(' if self.low_open else '['}{self.low:,}, {self.high:,}{')' if self.high_open else ']'}"


# Counts of filters, pixels, images, epochs and steps.
POSITIVE_INT = Range(1)
# A share of something that must keep some of it: dropout, label smoothing, the validation split, a shift.
FRACTION = Range(0, 1, high_open=True)


def setting(default: object, help: str, choices: tuple[str, ...] = (), accepted: Range | None = None) -> Any:
    """A Config field with its one description (`help`, which `--help` shows), its choices or its range."""
    metadata: dict[str, object] = {"help": help}
    if choices:
        metadata["choices"] = choices
    if accepted is not None:
        metadata["range"] = accepted
    return field(default=default, metadata=metadata)


def check_range(name: str, value: object, accepted: Range) -> None:
    """Raise ConfigError naming `name` and its accepted range unless `value` is a finite number within it."""
    if value not in accepted:
        raise ConfigError(f"{name} must be {accepted}, not {value!r}")


def is_number(value: object) -> bool:
    """Whether `value` is an int or a float (NumPy's included), and not a bool: True is no number of epochs."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)


def check_field(settings: object, setting_field: dataclasses.Field) -> None:
    """Check one field of a frozen dataclass of settings against its type, choices and range (ConfigError); store its
    value as the Python type it names."""
    name, value = setting_field.name, getattr(settings, setting_field.name)
    if value is None and setting_field.type.endswith(" | None"):
        return
    kind = setting_field.type.removesuffix(" | None")
    if kind in FIELD_TYPES:
        check_type(name, value, kind)
        value = FIELD_TYPES[kind](value)  # ints given for floats become floats, NumPy's scalars Python's
        object.__setattr__(settings, name, value)
    choices = setting_field.metadata.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    if "range" in setting_field.metadata:
        check_range(name, value, setting_field.metadata["range"])


def check_type(name: str, value: object, kind: str) -> None:
    """Raise ConfigError naming `name` and what it accepts unless `value` is of `kind`: "int" (an int, not a bool),
    "float" (a number, an int included, not a bool; check_range then asks it to be finite) or "bool"."""
    accepted, fits = {
        "int": ("an integer", is_number(value) and isinstance(value, int | np.integer)),
        "float": ("a number", is_number(value)),
        "bool": ("True or False", isinstance(value, bool | np.bool_)),
    }[kind]
    if not fits:
        raise ConfigError(f"{name} must be {accepted}, not {value!r}")


@dataclass(frozen=True)
class Config:
    """Hyperparameters of the model and of its training. The defaults are the seed notebook's values."""

    # The network (the seed's four Conv2D layers).
    filters: int = setting(64, "filters of each of the four convolutions", accepted=POSITIVE_INT)
    kernel_size: int = setting(3, "side of the convolutions' square kernels, in pixels", accepted=POSITIVE_INT)
    pool_size: int = setting(2, "side of the max poolings' square windows, in pixels", accepted=POSITIVE_INT)
    dropout: float = setting(0.2, "fraction of the flattened features dropped at each training step", accepted=FRACTION)

    # Training.
    batch_size: int = setting(128, "images in a training step, per device", accepted=POSITIVE_INT)
    epochs: int = setting(10, "passes over the training images", accepted=POSITIVE_INT)
    optimizer: str = setting("adam", "Keras' optimizer, with its defaults but for the learning rate", OPTIMIZERS)
    learning_rate: float = setting(
        0.001,
        "learning rate (the peak of the cosine schedule), per device",
        accepted=Range(0, MAX_LEARNING_RATE, low_open=True),
    )
    lr_schedule: str = setting(
        "constant", "constant, or cosine: a linear warm-up, then cosine decay to zero by the last epoch", LR_SCHEDULES
    )
    warmup_epochs: float = setting(
        0.0, "length of the cosine schedule's warm-up, in epochs (a fraction of one allowed), from 0 to epochs"
    )
    label_smoothing: float = setting(
        0.0, "fraction of each one-hot label spread over the other nine digits", accepted=FRACTION
    )
    max_shift: float = setting(
        0.0,
        "augmentation: shift training images at random up to this fraction of their side (0.1: 2.8 pixels); 0: off; "
        "augmented images take the batches input pipeline (auto picks it)",
        accepted=FRACTION,
    )
    max_rotation: float = setting(
        0.0,
        "augmentation: rotate training images at random up to this fraction of a full turn (0.03: 10.8 degrees); "
        "0: off; augmented images take the batches input pipeline (auto picks it)",
        accepted=Range(0, 1),
    )
    input_pipeline: str = setting(
        "auto",
        "arrays: model.fit on NumPy arrays, shuffled by Keras, as the seed does (the fastest); batches: the "
        "package's own batches (mnist_cnn.pipeline), shuffled every epoch in the same order on every backend, and "
        "augmented; auto: batches where the images are augmented, arrays otherwise",
        INPUT_PIPELINES,
    )
    steps_per_epoch: int | None = setting(
        None,
        "train on only the first steps_per_epoch x batch_size images, for quick checks; None: all of them",
        accepted=POSITIVE_INT,
    )
    validation_split: float = setting(
        0.0,
        "fraction of the training images (the last ones, as Keras' validation_split takes them) held out to validate "
        "on: it draws the curves and picks the best epoch and the temperature, so that the test set is scored only "
        "once, at the end; 0: none, as the seed, and no calibration",
        accepted=FRACTION,
    )
    calibrate: bool = setting(
        False, "fit a temperature on the validation images, so that a 90% answer is right about 90% of the time"
    )
    precision: str = setting(
        "float32", "Keras' dtype policy (float32: the seed's); auto: the fastest the hardware runs natively", PRECISIONS
    )
    steps_per_execution: int = setting(
        1,
        "training steps run in one call of the compiled step: fewer launches, a GPU gain for this small network",
        accepted=POSITIVE_INT,
    )
    jit_compile: bool = setting(
        False,
        "compile the training step: XLA on TensorFlow (fuses operations; mostly a GPU gain), torch.compile on "
        "PyTorch; JAX always compiles",
    )
    devices: str = setting(
        "1",
        "train data-parallel on this many devices (GPUs, else CPUs), or all; batch_size and learning_rate are per "
        "device, and scaled by the number of devices",
    )
    seed: int = setting(
        42, "random seed of the initial weights, the shuffling and the augmentation", accepted=Range(0, MAX_SEED)
    )

    def __post_init__(self) -> None:
        """Check every setting, naming it and what it accepts in one line; raise ConfigError."""
        if is_number(self.devices) and isinstance(self.devices, int | np.integer):
            object.__setattr__(self, "devices", str(self.devices))  # devices=2 in Python, as --devices 2
        for setting_field in dataclasses.fields(self):
            check_field(self, setting_field)
        self._check_together()

    def _check_together(self) -> None:
        """Check the settings that limit one another."""
        check_range("warmup_epochs", self.warmup_epochs, Range(0, self.epochs))
        # The fourth convolution ('valid') needs at least kernel_size pixels left after three poolings.
        last_side = IMAGE_SIZE // self.pool_size // self.pool_size // self.pool_size
        if last_side < self.kernel_size:
            raise ConfigError(
                f"kernel_size {self.kernel_size} with pool_size {self.pool_size} leaves the last convolution "
                f"{last_side}x{last_side} pixels: kernel_size must be at most {last_side} (or pool_size smaller)"
            )
        if self.calibrate and not self.validation_split:
            raise ConfigError("calibrate needs validation data to fit the temperature on: set validation_split")
        if self.devices != "all" and not (
            isinstance(self.devices, str) and self.devices.isdigit() and int(self.devices) >= 1
        ):
            raise ConfigError(f"devices must be 'all' or a number of at least 1, not {self.devices!r}")
        if self.augments and self.input_pipeline == "arrays":
            raise ConfigError("augmentation (max_shift, max_rotation) needs input_pipeline 'batches' or 'auto'")

    @property
    def augments(self) -> bool:
        """Whether training images are randomly shifted or rotated."""
        return self.max_shift > 0 or self.max_rotation > 0

    @property
    def feeds_batches(self) -> bool:
        """Whether training takes the package's batches (mnist_cnn.pipeline) rather than the arrays themselves."""
        return self.input_pipeline == "batches" or (self.input_pipeline == "auto" and self.augments)

    def replace(self, **changes: object) -> Config:
        """A copy with some values changed; unknown names raise TypeError, bad values ConfigError."""
        return dataclasses.replace(self, **changes)


# The settings that take one of a few names, and those names (the command line offers them as its flags' choices).
CHOICES: dict[str, tuple[str, ...]] = {
    setting_field.name: setting_field.metadata["choices"]
    for setting_field in dataclasses.fields(Config)
    if "choices" in setting_field.metadata
}

# The recipes train the same 112,074-parameter network; each tuned one was chosen on validation accuracy, never on
# the test set (how, and their figures: docs/benchmarks.md).
SEED_RECIPE = Config()
# fast (the default): the least training time to 99%: one short warm-up and cosine cycle over 2 epochs.
FAST_RECIPE = Config(
    epochs=2,
    learning_rate=0.005,
    lr_schedule="cosine",
    warmup_epochs=0.2,
    validation_split=0.1,
    calibrate=True,
    precision="auto",
)
# accurate: the most accurate single model: random shifts and rotations, and a longer cosine schedule.
ACCURATE_RECIPE = Config(
    epochs=15,
    learning_rate=0.003,
    lr_schedule="cosine",
    warmup_epochs=1.0,
    max_shift=0.1,
    max_rotation=0.03,
    validation_split=0.1,
    calibrate=True,
)
# gpu: fast, sized so that a GPU is busy and compiles once: batches that divide every split (docs/backends-and-gpus.md).
GPU_RECIPE = FAST_RECIPE.replace(
    batch_size=1000,
    learning_rate=0.01,
    epochs=4,
    steps_per_execution=16,
    precision="float32",
)

RECIPES: dict[str, Config] = {"seed": SEED_RECIPE, "fast": FAST_RECIPE, "accurate": ACCURATE_RECIPE, "gpu": GPU_RECIPE}
DEFAULT_RECIPE = "fast"


def config_for(recipe: str = "seed", **overrides: object) -> Config:
    """The named recipe with `overrides` applied (values of None are ignored)."""
    try:
        base = RECIPES[recipe]
    except KeyError:
        raise ConfigError(f"unknown recipe {recipe!r}: choose one of {', '.join(RECIPES)}") from None
    return base.replace(**{name: value for name, value in overrides.items() if value is not None})


# The layers fine-tuning trains: all of them, or the last (Dense) layer alone, the convolutions kept as they are.
TUNED_LAYERS = ("all", "dense")


@dataclass(frozen=True)
class TuneSettings:
    """How `mnist-cnn tune` fine-tunes a trained model on a user's own digits (mnist_cnn.tune, which says how the
    defaults were chosen). Here, beside Config, so that the command line makes their flags without importing Keras."""

    learning_rate: float = setting(
        1e-3,
        "Adam's learning rate, constant (the weights then mixed back towards the trained model's: mix)",
        accepted=Range(0, MAX_LEARNING_RATE, low_open=True),
    )
    mix: float = setting(
        0.7,
        "share of the fine-tuned weights kept when training ends, the rest the trained model's (WiSE-FT), so that "
        "less of MNIST is forgotten; 1: the fine-tuned weights alone",
        accepted=Range(0, 1, low_open=True),
    )
    epochs: int = setting(10, "passes over your digits, each with its share of MNIST's", accepted=POSITIVE_INT)
    layers: str = setting(
        "all", "the layers that train: all, or dense (the last layer alone, the convolutions kept)", TUNED_LAYERS
    )
    repeats: int = setting(
        8,
        "times each of your digits is trained on an epoch, shifted and turned anew each time, so that a few of yours "
        "weigh against MNIST's mixed in",
        accepted=POSITIVE_INT,
    )
    mnist_share: int = setting(
        16,
        "MNIST training digits mixed in per digit of yours trained on, so that MNIST's are not forgotten (and as "
        "many MNIST validation digits per digit of yours held out, at least 200); 0: none",
        accepted=Range(0),
    )
    held_out: float = setting(
        0.1,
        "fraction of your digits of each kind held out, never trained on, to score the model before and after (at "
        "least one of each digit you gave two or more of)",
        accepted=Range(0, 1, low_open=True, high_open=True),
    )
    label_smoothing: float = setting(
        0.1,
        "fraction of each training label spread over the other nine digits, so that a few of your digits are not "
        "learnt too surely; 0: off",
        accepted=FRACTION,
    )
    max_shift: float = setting(
        0.1,
        "augmentation: shift training images at random up to this fraction of their side; 0: off",
        accepted=FRACTION,
    )
    max_rotation: float = setting(
        0.06,
        "augmentation: rotate training images at random up to this fraction of a full turn; 0: off",
        accepted=Range(0, 1),
    )
    seed: int = setting(
        42,
        "random seed of the digits held out, the MNIST digits mixed in, the shuffling and the augmentation",
        accepted=Range(0, MAX_SEED),
    )

    def __post_init__(self) -> None:
        """Check every setting, naming it and what it accepts in one line; raise ConfigError."""
        for setting_field in dataclasses.fields(self):
            check_field(self, setting_field)

    def replace(self, **changes: object) -> TuneSettings:
        """A copy with some values changed; unknown names raise TypeError, bad values ConfigError."""
        return dataclasses.replace(self, **changes)
