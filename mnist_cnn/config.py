"""Every hyperparameter of a run in one place.

`Config()` is the seed notebook's recipe exactly; `RECIPES` holds it with the tuned recipes on the same network.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from mnist_cnn.data import IMAGE_SIZE
from mnist_cnn.errors import MnistCnnError


class ConfigError(MnistCnnError, ValueError):
    """A hyperparameter out of its range or an unknown choice."""


def check_range(
    name: str, value: float, low: float, high: float, low_open: bool = False, high_open: bool = False
) -> None:
    """Raise ConfigError naming `name` and its accepted range unless `value` is a finite number within it."""
    inside = (
        is_number(value)
        and math.isfinite(value)
        and (low < value if low_open else low <= value)
        and (value < high if high_open else value <= high)
    )
    if not inside:
        if high == math.inf:
            accepted = f"{'greater than' if low_open else 'at least'} {low:,}"
        else:
            accepted = f"in {'(' if low_open else '['}{low:,}, {high:,}{')' if high_open else ']'}"
        raise ConfigError(f"{name} must be {accepted}, not {value!r}")


def is_number(value: object) -> bool:
    """Whether `value` is an int or a float (NumPy's included), and not a bool: True is no number of epochs."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)


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


OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
# Keras' dtype policies, and "auto" (mnist_cnn.precision picks one for the machine).
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
INPUT_PIPELINES = ("auto", "arrays", "batches")
LR_SCHEDULES = ("constant", "cosine")
# The settings that take one of a few names, and those names (the command line offers them as its flags' choices).
CHOICES = {
    "optimizer": OPTIMIZERS,
    "lr_schedule": LR_SCHEDULES,
    "input_pipeline": INPUT_PIPELINES,
    "precision": PRECISIONS,
}


@dataclass(frozen=True)
class Config:
    """Hyperparameters of the model and of its training. The defaults are the seed notebook's values."""

    # The network (the seed's four Conv2D layers).
    filters: int = 64
    kernel_size: int = 3
    pool_size: int = 2
    dropout: float = 0.2

    # Training.
    batch_size: int = 128
    epochs: int = 10
    optimizer: str = "adam"  # one of OPTIMIZERS, with Keras' defaults but for the learning rate
    learning_rate: float = 0.001
    # "constant" (the seed) or "cosine": a linear warm-up, then cosine decay to zero by the last epoch.
    lr_schedule: str = "constant"
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    # Augmentation of the training images: shifts up to this fraction of the side, rotations up to this
    # fraction of a full turn. 0 turns it off.
    max_shift: float = 0.0
    max_rotation: float = 0.0
    # "arrays": `model.fit` on NumPy arrays, shuffled each epoch by Keras, as the seed does (the fastest: on
    # TensorFlow the package's batches ran at 0.66x the seed code, benchmarks/results/backends-before.md);
    # "batches": the package's own batches (mnist_cnn.pipeline), shuffled every epoch in the same order on every
    # backend, and augmented; "auto": batches where the images are augmented, arrays otherwise.
    input_pipeline: str = "auto"
    # Train on only the first steps_per_epoch * batch_size images (None: all of them). For quick checks only.
    steps_per_epoch: int | None = None
    # The fraction of the training images (the last ones, as Keras' `validation_split` takes them) held out to
    # validate on: it draws the curves and picks the best epoch and the temperature, so that the test set is
    # scored only once, at the end. 0 trains on all of them, as the seed does.
    validation_split: float = 0.0
    # Temperature scaling fitted on the validation split, so that a "90%" is right about 90% of the time.
    calibrate: bool = False
    # float32 (the seed's), mixed_bfloat16, mixed_float16, or auto: the fastest the hardware runs natively.
    precision: str = "float32"
    # Training steps run in one call of the compiled step: fewer launches, a GPU gain for this small network.
    steps_per_execution: int = 1
    # Compile the training step: XLA on TensorFlow (fuses operations; mostly a GPU gain), torch.compile on PyTorch;
    # JAX always compiles.
    jit_compile: bool = False
    # Train data-parallel on this many devices (GPUs, else CPUs), or "all"; batch_size and learning_rate are per
    # device, and scaled by the number of devices (mnist_cnn.devices).
    devices: str = "1"
    seed: int = 42

    def __post_init__(self) -> None:
        if is_number(self.devices) and isinstance(self.devices, int | np.integer):
            object.__setattr__(self, "devices", str(self.devices))  # devices=2 in Python, as --devices 2
        for setting in dataclasses.fields(self):
            value = getattr(self, setting.name)
            if setting.type in ("int", "float", "bool") or (setting.type == "int | None" and value is not None):
                kind = setting.type.removesuffix(" | None")
                check_type(setting.name, value, kind)
                # NumPy's scalars as Python's, which JSON writes (run.json, results.json); ints for floats as floats.
                object.__setattr__(self, setting.name, {"int": int, "float": float, "bool": bool}[kind](value))
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        for name in ("filters", "kernel_size", "pool_size", "batch_size", "epochs", "steps_per_execution"):
            check_range(name, getattr(self, name), 1, math.inf)
        check_range("seed", self.seed, 0, 2**32 - 1)
        for name, high in (("dropout", 1), ("label_smoothing", 1), ("validation_split", 1), ("max_shift", 1)):
            check_range(name, getattr(self, name), 0, high, high_open=True)
        check_range("max_rotation", self.max_rotation, 0, 1)
        check_range("learning_rate", self.learning_rate, 0, 10, low_open=True)
        check_range("warmup_epochs", self.warmup_epochs, 0, self.epochs)
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
        if self.steps_per_epoch is not None:
            check_range("steps_per_epoch", self.steps_per_epoch, 1, math.inf)
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


SEED_RECIPE = Config()

# The tuned recipes, on the same 112,074-parameter network, each chosen on validation accuracy (the last 10% of the
# training images) with benchmarks/search.py; the test set chose nothing. README, "Recipes", gives their figures.
#
# fast (the default of `mnist-cnn train`): the least training time to 99% accuracy. One short cycle over 2 epochs:
# a linear warm-up to a high learning rate, then cosine decay to zero; mixed precision where the hardware has it.
# One epoch reached 98.8% to 99.0% on validation, two 99.2% (benchmarks/results/search-fast.jsonl). Nothing is
# augmented, so Keras takes the arrays as they are, as in the seed (input_pipeline "auto").
FAST_RECIPE = Config(
    epochs=2,
    learning_rate=0.005,
    lr_schedule="cosine",
    warmup_epochs=0.2,
    validation_split=0.1,
    calibrate=True,
    precision="auto",
)
# accurate: the most accurate single model: random shifts (10%) and rotations (about 11 degrees) and a longer cosine
# schedule: 99.45% to 99.55% on validation; 30 epochs instead of 15 gained 0.05 points on one seed, at twice the time
# (benchmarks/results/search-accurate.jsonl).
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

# gpu: the fast recipe sized for a GPU, where the seed's 128-image steps leave it mostly idle and compiling the step
# takes longer than training: batches of 1,000, which divide the 54,000 training, 6,000 validation and 10,000 test
# images (a last, smaller batch would be compiled again: 3.5 s on an H100), a peak rate of 0.01 and four epochs
# (99.08% on validation, 98.98% to 99.18% over seeds 1 to 5; three epochs gave 98.93%, 98.78% to 99.13%:
# benchmarks/results/search-gpu.jsonl), 16 steps in each call of the compiled step, and float32 (bfloat16 compiled
# 12 s longer, more than its faster steps gain in runs of seconds). README, "On a GPU", gives its figures on an H100.
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
