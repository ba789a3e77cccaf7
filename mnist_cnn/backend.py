"""What differs between Keras' three backends (TensorFlow, JAX, PyTorch), behind one small dispatcher.

Everything else in the package imports `keras` and uses `keras.ops`. Here, and only here, a function looks at
`keras.backend.backend()` and reaches for the backend's own library: to list the devices and train on several, to
read a GPU's compute capability, and to mend what a backend's export leaves wrong.

The backend is chosen the Keras way, before Keras is imported: the KERAS_BACKEND variable, else `backend` in
~/.keras/keras.json (under $KERAS_HOME), else TensorFlow. Where TensorFlow is not installed and nothing was chosen
(Colab's TPU runtimes, a JAX or PyTorch machine), `import mnist_cnn` picks JAX, else PyTorch, instead of failing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from mnist_cnn.errors import MnistCnnError

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


def choose_backend(backend: str | None = None) -> str:
    """Make `backend` (or, where None, the configured one, else the first installed) the one Keras will use.

    Call it before Keras is imported: it sets KERAS_BACKEND. Raises BackendError for an unknown or missing backend,
    or for one other than Keras already runs on.
    """
    chosen = backend or configured_backend() or next((name for name in BACKENDS if installed(name)), DEFAULT_BACKEND)
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


def default_to_an_installed_backend() -> None:
    """Where TensorFlow (Keras' default) is not installed and no installed backend was chosen, choose the first
    installed one; otherwise change nothing. A keras.json naming a backend that is not installed does not count as a
    choice: Keras writes "tensorflow" there on its first import, also where TensorFlow is missing (a Colab TPU).
    KERAS_BACKEND does: a missing backend named there is one error, later. Called when mnist_cnn is imported."""
    if "keras" in sys.modules or os.environ.get("KERAS_BACKEND") or installed(DEFAULT_BACKEND):
        return
    configured = configured_backend()
    first = next((name for name in BACKENDS if installed(name)), None)
    if first is not None and (configured is None or not installed(configured)):
        with contextlib.suppress(BackendError):
            choose_backend(first)


def name() -> str:
    """The backend Keras runs on."""
    import keras

    return keras.backend.backend()


def available_devices() -> list[str]:
    """The devices to train on: the accelerators, or where there are none the CPUs (one, unless configured as
    several: TensorFlow's logical devices, or XLA_FLAGS=--xla_force_host_platform_device_count=N for JAX)."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return [device.name for device in devices]
    if backend == "jax":
        import jax

        return [f"{device.platform}:{device.id}" for device in jax.devices()]
    import torch

    if torch.cuda.is_available():
        return [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    return ["cpu"]


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    """The compute capability of each NVIDIA GPU the backend sees (empty where there is none)."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        details = [tf.config.experimental.get_device_details(gpu) for gpu in tf.config.list_physical_devices("GPU")]
        return [tuple(detail.get("compute_capability", (0, 0))) for detail in details]
    if backend == "jax":
        import jax

        gpus = [device for device in jax.devices() if device.platform == "gpu"]
        return [tuple(int(part) for part in str(gpu.compute_capability).split(".")) for gpu in gpus]
    import torch

    return [torch.cuda.get_device_capability(index) for index in range(torch.cuda.device_count())]


def jit_compile(requested: bool) -> bool:
    """The `jit_compile` to compile a model with: as requested, but always on JAX, where a step that is not compiled
    runs op by op (several times slower) and its collectives across devices can wait on each other for ever."""
    return True if name() == "jax" else requested


# JAX's persistent compilation cache, as this package sets it where the user has not: every program kept, however
# quickly it compiled, in at most 512 MiB (JAX deletes the entries used least recently beyond that).
JAX_CACHE_MAX_BYTES = 512 * 2**20


def compilation_cache_folder() -> Path:
    """Where JAX keeps compiled programs between runs: $JAX_COMPILATION_CACHE_DIR, else mnist-cnn/jax in the user's
    cache folder ($XDG_CACHE_HOME, else ~/.cache)."""
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mnist-cnn" / "jax"


def keep_compilations() -> None:
    """Have JAX keep its compiled programs on disk, so that a second run loads its training step instead of compiling
    it again: on an H100 that is most of a short run's time (README, "On a GPU"). Called on import, before anything
    is compiled (JAX looks at its cache once, at the first compilation); settings the user made are kept."""
    settings = {
        "jax_compilation_cache_dir": str(compilation_cache_folder()),
        "jax_persistent_cache_min_compile_time_secs": 0.0,
        "jax_compilation_cache_max_size": JAX_CACHE_MAX_BYTES,
    }
    for setting, value in settings.items():
        os.environ.setdefault(setting.upper(), str(value))  # read by JAX when it is imported
    jax = sys.modules.get("jax")
    if jax is not None:  # imported already: set what the user left at its default
        for setting, value in settings.items():
            if os.environ[setting.upper()] == str(value):
                jax.config.update(setting, value)


def steps_per_execution(requested: int) -> int:
    """The `steps_per_execution` to compile a model with: as requested, but 1 on PyTorch, which Keras requires."""
    return 1 if name() == "torch" else requested


def check_device_count(count: int, available: list[str]) -> None:
    """Raise BackendError where more devices are asked for than there are, or than the backend can train on."""
    if count > len(available):
        raise BackendError(f"devices: {count} asked for, but this machine has {len(available)}: {', '.join(available)}")
    if count > 1 and name() == "torch":
        raise BackendError(
            f"devices: {count} asked for, but Keras trains on one device on the PyTorch backend: use the JAX or "
            "TensorFlow backend (KERAS_BACKEND or --backend) to train on several"
        )


@contextlib.contextmanager
def data_parallel(devices: list[str]) -> Iterator[None]:
    """Within this block, models are built, compiled and trained data-parallel on `devices` (as
    `mnist_cnn.devices.chosen_devices` checked them); with one device, nothing changes.

    TensorFlow: MirroredStrategy. JAX: Keras' own `keras.distribution.DataParallel`. PyTorch: one device only. The
    devices are those of this machine: training across several machines is not supported (nothing here runs it).
    """
    if len(devices) == 1:
        yield
    elif name() == "tensorflow":
        import tensorflow as tf

        with tf.distribute.MirroredStrategy(devices).scope():
            yield
    else:
        import keras

        with keras.distribution.DataParallel(devices=devices).scope():
            yield


def predicts_on_batch_correctly(model: object) -> bool:
    """Whether `model.predict_on_batch` gives one row per image: under TensorFlow's MirroredStrategy it returns each
    replica's rows (twice as many with two devices), so such a model must predict through `predict`."""
    strategy = getattr(model, "distribute_strategy", None)
    return strategy is None or strategy.num_replicas_in_sync == 1


def tensorboard_error() -> str | None:
    """Why Keras' TensorBoard callback cannot log here (it writes through TensorFlow's summaries), or None."""
    if installed("tensorflow"):
        return None
    return "TensorBoard logging needs TensorFlow installed (pip install tensorflow), whatever the backend"


def repair_onnx_export(path: str | os.PathLike) -> None:
    """Mend an ONNX file that Keras exported on this backend, in place, so that onnxruntime runs it.

    On JAX, Keras exports through jax2onnx (0.17), which writes each 2x2 max pooling of channels-last images as a
    MaxPool over four "spatial" axes: the (N, H, W, C) images are unsqueezed to (1, 1, N, H, W, C) and pooled with a
    (1, 2, 2, 1) kernel, which onnxruntime refuses (it pools at most three axes). Each such node becomes the same
    pooling over H and W alone: squeeze to (N, H, W, C), transpose to channels-first, MaxPool, transpose back, and
    unsqueeze to the shape the next node expects. Other backends' exports are left as they are.
    """
    if name() != "jax":
        return
    import numpy as np
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    outer_axes = "repaired_outer_axes"
    graph.initializer.append(onnx.numpy_helper.from_array(np.array([0, 1], np.int64), outer_axes))
    nodes = []
    for node in graph.node:
        attributes = {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in node.attribute}
        kernel = list(attributes.get("kernel_shape", []))
        if node.op_type != "MaxPool" or len(kernel) != 4 or kernel[0] != 1 or kernel[3] != 1:
            nodes.append(node)
            continue
        strides = list(attributes.get("strides", kernel))[1:3]
        images, channels_first, pooled, channels_last = (
            f"{node.name}_{step}" for step in ("nhwc", "nchw", "pooled", "out")
        )
        nodes += [
            onnx.helper.make_node("Squeeze", [node.input[0], outer_axes], [images]),
            onnx.helper.make_node("Transpose", [images], [channels_first], perm=[0, 3, 1, 2]),
            onnx.helper.make_node("MaxPool", [channels_first], [pooled], kernel_shape=kernel[1:3], strides=strides),
            onnx.helper.make_node("Transpose", [pooled], [channels_last], perm=[0, 2, 3, 1]),
            onnx.helper.make_node("Unsqueeze", [channels_last, outer_axes], list(node.output)),
        ]
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(path))
