"""Every hyperparameter of a run in one place.

`Config()` is the seed notebook's recipe exactly; `RECIPES["best"]` is the tuned recipe on the same network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mnist_cnn.errors import MnistCnnError


class ConfigError(MnistCnnError, ValueError):
    """A hyperparameter out of its range or an unknown choice."""


OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")


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
    # "arrays": `model.fit` on NumPy arrays, as the seed does; "tf.data": a cached, prefetched tf.data pipeline.
    input_pipeline: str = "arrays"
    # Train on only the first steps_per_epoch * batch_size images (None: all of them). For quick checks only.
    steps_per_epoch: int | None = None
    seed: int = 42

    def __post_init__(self) -> None:
        choices = {
            "optimizer": OPTIMIZERS,
            "lr_schedule": ("constant", "cosine"),
            "input_pipeline": ("arrays", "tf.data"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        for name in ("filters", "kernel_size", "pool_size", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not 0 <= self.dropout < 1 or not 0 <= self.label_smoothing < 1:
            raise ConfigError("dropout and label_smoothing must be in [0, 1)")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ConfigError(f"steps_per_epoch must be at least 1, not {self.steps_per_epoch}")
        if self.augments and self.input_pipeline != "tf.data":
            raise ConfigError("augmentation (max_shift, max_rotation) needs input_pipeline='tf.data'")

    @property
    def augments(self) -> bool:
        """Whether training images are randomly shifted or rotated."""
        return self.max_shift > 0 or self.max_rotation > 0

    def replace(self, **changes: object) -> Config:
        """A copy with some values changed; unknown names raise TypeError, bad values ConfigError."""
        return dataclasses.replace(self, **changes)


SEED_RECIPE = Config()

# The tuned recipe, on the same 112,074-parameter network: a tf.data input pipeline, a one-epoch warm-up to a three
# times higher learning rate and cosine decay over 6 epochs, and label smoothing. Chosen with benchmarks/run_all.py
# on Fashion-MNIST and on real MNIST digits (README, Benchmarks); random shifts (--max-shift 0.05) cost more epochs
# than they gained in these short runs, and shorter schedules (4 or 5 epochs) missed 99.0% on MNIST digits.
BEST_RECIPE = Config(
    epochs=6,
    learning_rate=0.003,
    lr_schedule="cosine",
    warmup_epochs=1.0,
    label_smoothing=0.1,
    input_pipeline="tf.data",
)

RECIPES: dict[str, Config] = {"seed": SEED_RECIPE, "best": BEST_RECIPE}


def config_for(recipe: str = "seed", **overrides: object) -> Config:
    """The named recipe with `overrides` applied (values of None are ignored)."""
    try:
        base = RECIPES[recipe]
    except KeyError:
        raise ConfigError(f"unknown recipe {recipe!r}: choose one of {', '.join(RECIPES)}") from None
    return base.replace(**{name: value for name, value in overrides.items() if value is not None})
