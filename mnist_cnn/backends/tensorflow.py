"""TensorFlow: its devices, MirroredStrategy across them, and SavedModel's runtime."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import keras
import numpy as np
import tensorflow as tf

# TensorFlow trains on several devices (MirroredStrategy): nothing to refuse.
SEVERAL_DEVICES_REFUSAL = None


def available_devices() -> list[str]:
    """The GPUs, else the CPUs (one, unless configured as several logical devices)."""
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return [device.name for device in devices]


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    """The compute capability of each NVIDIA GPU TensorFlow sees."""
    details = [tf.config.experimental.get_device_details(gpu) for gpu in tf.config.list_physical_devices("GPU")]
    return [tuple(detail.get("compute_capability", (0, 0))) for detail in details]


def jit_compile(requested: bool) -> bool:
    """As requested: XLA is optional on TensorFlow."""
    return requested


def steps_per_execution(requested: int) -> int:
    """As requested."""
    return requested


@contextlib.contextmanager
def data_parallel(devices: list[str]) -> Iterator[None]:
    """MirroredStrategy's scope on `devices`."""
    with tf.distribute.MirroredStrategy(devices).scope():
        yield


def predicts_on_batch_correctly(model: keras.Model) -> bool:
    """False under MirroredStrategy, whose `predict_on_batch` returns each replica's rows: predict through `predict`."""
    strategy = getattr(model, "distribute_strategy", None)
    return strategy is None or strategy.num_replicas_in_sync == 1


def keep_compilations() -> None:
    """Nothing: TensorFlow keeps no compiled programs between processes."""


def saved_model_predictor(path: str) -> Callable[[np.ndarray], np.ndarray]:
    """A function from float32 images to the probabilities a SavedModel export at `path` serves."""
    served = tf.saved_model.load(path)
    return lambda images: served.serve(np.asarray(images, np.float32)).numpy()
