"""Choosing Keras' backend (TensorFlow, JAX or PyTorch), and the one dispatch to what differs between them.

Everything else in the package imports `keras` and uses `keras.ops`. What a backend does its own way (listing devices,
training on several, a GPU's compute capability, JAX's compilation cache) lives in `mnist_cnn/backends/<backend>.py`,
each module with the same names; the functions below call the one for `keras.backend.backend()`.

Importing this module changes nothing: `use_backend` chooses the backend, the Keras way, before Keras is imported.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from mnist_cnn.errors import MnistCnnError

if TYPE_CHECKING:
    import keras

BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_BACKEND = "tensorflow"


class BackendError(MnistCnnError):
    """A backend that is unknown, not installed, or asked for after Keras started with another."""


def installed(backend: str) -> bool:
    """Whether the backend's library (a module of the backend's name) can be imported here, without importing it."""
    return importlib.util.find_spec(backend) is not None


def configured_backend() -> str | None:
    """The backend the user chose: KERAS_BACKEND, else keras.json's "backend"; None where neither says."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    try:
        return json.loads((keras_home / "keras.json").read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        return None


def wanted_backend(backend: str | None = None) -> str:
    """`backend`, else the configured one, else the first installed of BACKENDS (TensorFlow where none is).

    A keras.json backend that is not installed counts only where TensorFlow is: Keras writes "tensorflow" there on
    its first import, also where TensorFlow is missing (Colab's TPU runtimes).
    """
    configured = configured_backend()
    if backend or os.environ.get("KERAS_BACKEND"):
        return backend or configured
    if configured and (installed(configured) or installed(DEFAULT_BACKEND)):
        return configured
    return next((name for name in BACKENDS if installed(name)), DEFAULT_BACKEND)


def choose_backend(backend: str | None = None) -> str:
    """Make `wanted_backend(backend)` the one Keras will use (it sets KERAS_BACKEND), and return it.

    Call it before Keras is imported. Raises BackendError for an unknown or missing backend, or for one other than
    Keras already runs on.
    """
    chosen = wanted_backend(backend)
    if chosen not in BACKENDS:
        raise BackendError(f"unknown backend {chosen!r}: choose one of {', '.join(BACKENDS)}")
    if "keras" in sys.modules:
        running = sys.modules["keras"].backend.backend()
        if running != chosen:
            raise BackendError(
                f"Keras already runs on {running}: choose the backend {chosen} before Keras is imported "
                "(restart the Python session, or set KERAS_BACKEND first)"
            )
        return chosen
    if not installed(chosen):
        raise BackendError(
            f"the {chosen} backend is not installed: pip install 'mnist-cnn[{chosen}]', or choose another with "
            f"KERAS_BACKEND or --backend ({', '.join(name for name in BACKENDS if installed(name)) or 'none'} here)"
        )
    os.environ["KERAS_BACKEND"] = chosen
    return chosen


def use_backend(backend: str | None = None) -> str:
    """Choose the backend (see choose_backend), import Keras on it, and keep JAX's compiled programs on disk; return
    the backend's name. The command line and the notebook call it first; a library needs it only to choose."""
    chosen = choose_backend(backend)
    # Keras 3.13's ONNX helper, imported with Keras, warns on NumPy 2 that `np.object` will change: nothing to do.
    warnings.filterwarnings("ignore", message=r"In the future `np\.object`", category=FutureWarning)
    keep_compilations()
    return chosen


def name() -> str:
    """The backend Keras runs on."""
    import keras

    return keras.backend.backend()


def running() -> ModuleType:
    """The module of `mnist_cnn.backends` for the backend Keras runs on: the one dispatch."""
    return importlib.import_module(f"mnist_cnn.backends.{name()}")


def keep_compilations() -> None:
    """Keep the backend's compiled programs on disk between runs, where it can (JAX) and the user chose no folder.
    Call it before the first compilation (train_and_evaluate does); calling it again changes nothing."""
    running().keep_compilations()


def available_devices() -> list[str]:
    """The devices to train on: the accelerators, else the CPUs (as many as the backend was configured with)."""
    return running().available_devices()


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    """The compute capability of each NVIDIA GPU the backend sees (empty where there is none)."""
    return running().gpu_compute_capabilities()


def jit_compile(requested: bool) -> bool:
    """The `jit_compile` to compile a model with: as requested, but always on JAX."""
    return running().jit_compile(requested)


def steps_per_execution(requested: int) -> int:
    """The `steps_per_execution` to compile a model with: as requested, but 1 on PyTorch."""
    return running().steps_per_execution(requested)


def check_device_count(count: int, available: list[str]) -> None:
    """Raise BackendError where more devices are asked for than there are, or than the backend can train on."""
    if count > len(available):
        raise BackendError(f"devices: {count} asked for, but this machine has {len(available)}: {', '.join(available)}")
    refusal = running().SEVERAL_DEVICES_REFUSAL
    if count > 1 and refusal:
        raise BackendError(f"devices: {count} asked for, but {refusal}")


def data_parallel(devices: list[str]) -> contextlib.AbstractContextManager[None]:
    """A `with` block in which models are built, compiled and trained data-parallel on `devices` of this machine
    (as `mnist_cnn.devices.chosen_devices` checked them); with one device, nothing changes."""
    if len(devices) == 1:
        return contextlib.nullcontext()
    return running().data_parallel(devices)


def predicts_on_batch_correctly(model: keras.Model) -> bool:
    """Whether `model.predict_on_batch` gives one row per image (not under TensorFlow's MirroredStrategy)."""
    return running().predicts_on_batch_correctly(model)


def tensorboard_error() -> str | None:
    """Why Keras' TensorBoard callback cannot log here (it writes through TensorFlow's summaries), or None."""
    if installed("tensorflow"):
        return None
    return "TensorBoard logging needs TensorFlow installed (pip install tensorflow), whatever the backend"
