"""PyTorch: its devices; Keras trains on one of them, one step per call."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import torch

from mnist_cnn.backend import BackendError

SEVERAL_DEVICES_REFUSAL = (
    "Keras trains on one device on the PyTorch backend: use the JAX or TensorFlow backend (KERAS_BACKEND or "
    "--backend) to train on several"
)


def available_devices() -> list[str]:
    """The CUDA GPUs, else the CPU."""
    if torch.cuda.is_available():
        return [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    return ["cpu"]


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    """The compute capability of each CUDA GPU."""
    return [torch.cuda.get_device_capability(index) for index in range(torch.cuda.device_count())]


def jit_compile(requested: bool) -> bool:
    """As requested (torch.compile)."""
    return requested


def steps_per_execution(requested: int) -> int:
    """1: Keras requires it on PyTorch."""
    return 1


@contextlib.contextmanager
def data_parallel(devices: list[str]) -> Iterator[None]:
    """Never entered: `mnist_cnn.backend.check_device_count` refuses several devices first."""
    raise BackendError(SEVERAL_DEVICES_REFUSAL)
    yield  # a generator, as the other backends' scopes are


def predicts_on_batch_correctly(model: keras.Model) -> bool:
    """True: one device, one row per image."""
    return True


def keep_compilations() -> None:
    """Nothing: PyTorch's Inductor keeps its own cache."""
