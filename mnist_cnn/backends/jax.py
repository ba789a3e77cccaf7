"""JAX: its devices, Keras' DataParallel across them, and its persistent compilation cache."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import jax
import keras

# Keras' DataParallel trains on several JAX devices: nothing to refuse.
SEVERAL_DEVICES_REFUSAL = None
# At most this much of compiled programs on disk; JAX deletes the least recently used beyond it.
CACHE_MAX_BYTES = 512 * 2**20
# Keep every program, however quickly it compiled: a small network's steps compile in under JAX's default second.
CACHE_MIN_COMPILE_S = 0.0
# The cache's settings beside its folder, each set unless the user set its variable.
CACHE_SETTINGS = {
    "jax_persistent_cache_min_compile_time_secs": CACHE_MIN_COMPILE_S,
    "jax_compilation_cache_max_size": CACHE_MAX_BYTES,
}


def available_devices() -> list[str]:
    """JAX's devices: the accelerators, else the CPUs (XLA_FLAGS=--xla_force_host_platform_device_count=N for N)."""
    return [f"{device.platform}:{device.id}" for device in jax.devices()]


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    """The compute capability of each NVIDIA GPU JAX sees."""
    gpus = [device for device in jax.devices() if device.platform == "gpu"]
    return [tuple(int(part) for part in str(gpu.compute_capability).split(".")) for gpu in gpus]


def jit_compile(requested: bool) -> bool:
    """Always True: an uncompiled step runs op by op, and its collectives across devices can wait for ever."""
    return True


def steps_per_execution(requested: int) -> int:
    """As requested."""
    return requested


@contextlib.contextmanager
def data_parallel(devices: list[str]) -> Iterator[None]:
    """Keras' DataParallel scope on `devices`."""
    with keras.distribution.DataParallel(devices=devices).scope():
        yield


def predicts_on_batch_correctly(model: keras.Model) -> bool:
    """True: DataParallel's `predict_on_batch` returns one row per image."""
    return True


def cache_folder() -> Path:
    """mnist-cnn/jax in the user's cache folder ($XDG_CACHE_HOME, else ~/.cache)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mnist-cnn" / "jax"


def keep_compilations() -> None:
    """Keep every compiled program in `cache_folder()`, so that a second run loads its step instead of compiling it
    again; each setting the user made (JAX_COMPILATION_CACHE_DIR and the others) is kept. JAX reads them at its first
    compilation."""
    if jax.config.jax_compilation_cache_dir is None:
        jax.config.update("jax_compilation_cache_dir", str(cache_folder()))
    for setting, value in CACHE_SETTINGS.items():
        if setting.upper() not in os.environ:
            jax.config.update(setting, value)
