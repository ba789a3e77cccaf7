"""Exporting a trained model for serving, through Keras' `Model.export`, and running an export with its own runtime.

    saved_model  TensorFlow's SavedModel (a folder), for TensorFlow Serving: `tf.saved_model.load(path).serve(x)`
    litert       a LiteRT (TensorFlow Lite) flat buffer, for phones and small devices: ai_edge_litert's Interpreter
    onnx         ONNX, for onnxruntime and the many runtimes that read it

ONNX exports from every backend (Keras converts with tf2onnx on TensorFlow, jax2onnx on JAX, torch.onnx on PyTorch).
SavedModel and LiteRT are TensorFlow's formats: they export on the TensorFlow backend (a model trained on another
backend loads there: `KERAS_BACKEND=tensorflow mnist-cnn export ...`).

The export is always float32 (a mixed-precision model is copied to float32 first: runtimes such as onnxruntime have
no bfloat16 convolutions), takes batches of (N, 28, 28, 1) float32 images in [0, 1], and returns the (N, 10)
probabilities, calibrated as the model's are.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from packaging.version import Version

from mnist_cnn import backend
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.files import atomic_path

if TYPE_CHECKING:
    import keras
    import onnx

# Our format names, and Keras' for each.
FORMATS = {"saved_model": "tf_saved_model", "litert": "litert", "onnx": "onnx"}
SUFFIXES = {"saved_model": "", "litert": ".tflite", "onnx": ".onnx"}
# The backends each format exports from, and the packages each needs there, to export and to run the export.
EXPORTS_FROM = {"saved_model": ("tensorflow",), "litert": ("tensorflow",), "onnx": ("tensorflow", "jax", "torch")}
NEEDS = {
    ("saved_model", "tensorflow"): ["tensorflow"],
    ("litert", "tensorflow"): ["ai_edge_litert"],
    ("onnx", "tensorflow"): ["tf2onnx", "onnx", "onnxruntime"],
    ("onnx", "jax"): ["jax2onnx", "onnx", "onnxruntime"],
    ("onnx", "torch"): ["onnxscript", "onnx", "onnxruntime"],
}
# The two leading axes jax2onnx adds before pooling, squeezed away by the repair.
OUTER_AXES = "repaired_outer_axes"


class ExportError(MnistCnnError):
    """A format that cannot be exported or run here."""


def default_export_path(model_path: str | os.PathLike, export_format: str) -> Path:
    """Beside the model: runs/x/model.keras -> runs/x/model.onnx, runs/x/model.tflite, runs/x/model_saved_model/."""
    model_path = Path(model_path)
    if export_format == "saved_model":
        return model_path.with_name(f"{model_path.stem}_saved_model")
    return model_path.with_suffix(SUFFIXES[export_format])


def check_known_format(export_format: str) -> None:
    """Raise ExportError for a format this package does not know."""
    if export_format not in FORMATS:
        raise ExportError(f"unknown export format {export_format!r}: choose one of {', '.join(FORMATS)}")


def needed_modules(export_format: str, backend_name: str) -> list[str]:
    """The modules an export from `backend_name` needs with this Keras: before 3.14, Keras exported a JAX model to
    ONNX through TensorFlow (jax2tf and tf2onnx), as Colab's Keras 3.13 still does."""
    import keras  # here, not on top: the command line reads FORMATS for its --help, which must not wait for Keras

    if (export_format, backend_name) == ("onnx", "jax") and Version(keras.__version__).release < (3, 14):
        return ["tensorflow", "tf2onnx", "onnx", "onnxruntime"]
    return NEEDS[export_format, backend_name]


def export_error(export_format: str) -> str | None:
    """Why `export_format` cannot be exported here (see check_format), or None where it can."""
    try:
        check_format(export_format)
    except ExportError as error:
        return str(error)
    return None


def check_format(export_format: str) -> None:
    """Raise ExportError for an unknown format, one this backend cannot export, or one whose packages are missing."""
    check_known_format(export_format)
    running = backend.name()
    if running not in EXPORTS_FROM[export_format]:
        raise ExportError(
            f"the {export_format} export needs the TensorFlow backend (this is {running}): the model loads there "
            f"unchanged, so run KERAS_BACKEND=tensorflow mnist-cnn export MODEL --format {export_format}"
        )
    missing = [name for name in needed_modules(export_format, running) if importlib.util.find_spec(name) is None]
    if missing:
        extras = "tensorflow,export" if "tensorflow" in missing else "export"
        newer = " (Keras 3.14 and newer export JAX models without TensorFlow)" if "tensorflow" in missing else ""
        raise ExportError(
            f"the {export_format} export on {running} needs {', '.join(missing)}: "
            f"pip install 'mnist-cnn[{extras}]' (or make venv){newer}"
        )


def as_float32(model: keras.Model) -> keras.Model:
    """A float32 copy of a model built under any precision policy, with the same weights."""
    import keras

    config = model.get_config()
    for layer in config["layers"]:
        if "dtype" in layer["config"]:
            layer["config"]["dtype"] = "float32"
    copy = keras.Sequential.from_config(config)
    copy.set_weights(model.get_weights())
    copy(np.zeros((1, *model.input_shape[1:]), np.float32))  # Keras exports only a model that has been called
    return copy


def export_model(model: keras.Model, path: str | os.PathLike, export_format: str) -> Path:
    """Export `model` to `path` in `export_format` (see FORMATS), through a temporary name so that a failed export
    leaves nothing half-written; return the path."""
    check_format(export_format)
    warnings.filterwarnings("ignore", category=FutureWarning, module="keras.src.export")  # NumPy's np.object note
    path = Path(path)
    if SUFFIXES[export_format] and path.suffix != SUFFIXES[export_format]:
        raise ExportError(f"{path}: an export to {export_format} must be named *{SUFFIXES[export_format]}")
    float32_model = as_float32(model)
    with atomic_path(path) as temporary:
        float32_model.export(str(temporary), format=FORMATS[export_format], verbose=False)
        if export_format == "onnx":
            repair_onnx_export(temporary)
    return path


def exported_predictor(path: str | os.PathLike, export_format: str) -> Callable[[np.ndarray], np.ndarray]:
    """A function from a batch of (N, 28, 28, 1) float32 images to their (N, 10) probabilities, run by the export's
    own runtime: TensorFlow, LiteRT's interpreter or onnxruntime."""
    check_known_format(export_format)
    path = str(path)
    if export_format == "saved_model":
        from mnist_cnn.backends import tensorflow  # SavedModel's runtime is TensorFlow, whatever the backend

        return tensorflow.saved_model_predictor(path)
    if export_format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        return lambda images: session.run(None, {input_name: np.asarray(images, np.float32)})[0]
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    image_input, output = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def predict(images: np.ndarray) -> np.ndarray:
        interpreter.resize_tensor_input(image_input["index"], images.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(image_input["index"], np.asarray(images, np.float32))
        interpreter.invoke()
        return interpreter.get_tensor(output["index"]).copy()

    return predict


def repair_onnx_export(path: str | os.PathLike) -> None:
    """Mend, in place, what this backend's ONNX converter writes that onnxruntime refuses (see ONNX_REPAIRS)."""
    repair = ONNX_REPAIRS.get(backend.name())
    if repair is not None:
        repair(path)


def pool_height_and_width_only(path: str | os.PathLike) -> None:
    """Rewrite each MaxPool over jax2onnx's four "spatial" axes, (1, 1, N, H, W, C) pooled with a (1, 2, 2, 1)
    kernel, as the same pooling over H and W alone, which onnxruntime runs (it pools at most three axes)."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    graph.initializer.append(onnx.numpy_helper.from_array(np.array([0, 1], np.int64), OUTER_AXES))
    nodes = []
    for node in graph.node:
        nodes += channels_first_pooling(node) if pools_four_axes(node) else [node]
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(path))


def pools_four_axes(node: onnx.NodeProto) -> bool:
    """Whether `node` is one of jax2onnx's MaxPools over (1, H, W, 1) of six axes."""
    kernel = node_attributes(node).get("kernel_shape", [])
    return node.op_type == "MaxPool" and len(kernel) == 4 and kernel[0] == 1 and kernel[3] == 1


def node_attributes(node: onnx.NodeProto) -> dict:
    """A node's attributes by name, as Python values."""
    import onnx

    return {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in node.attribute}


def channels_first_pooling(node: onnx.NodeProto) -> list[onnx.NodeProto]:
    """The nodes that pool as `node` does: squeeze to (N, H, W, C), transpose to channels-first, MaxPool over H and W,
    transpose back, and unsqueeze to the shape the next node expects."""
    import onnx

    kernel = list(node_attributes(node)["kernel_shape"])
    strides = list(node_attributes(node).get("strides", kernel))[1:3]
    images, channels_first, pooled, channels_last = (
        f"{node.name}_{step}" for step in ("nhwc", "nchw", "pooled", "out")
    )
    return [
        onnx.helper.make_node("Squeeze", [node.input[0], OUTER_AXES], [images]),
        onnx.helper.make_node("Transpose", [images], [channels_first], perm=[0, 3, 1, 2]),
        onnx.helper.make_node("MaxPool", [channels_first], [pooled], kernel_shape=kernel[1:3], strides=strides),
        onnx.helper.make_node("Transpose", [pooled], [channels_last], perm=[0, 2, 3, 1]),
        onnx.helper.make_node("Unsqueeze", [channels_last, OUTER_AXES], list(node.output)),
    ]


# What each backend's ONNX converter writes wrong, mended after the export; the others' files are left as they are.
ONNX_REPAIRS = {"jax": pool_height_and_width_only}
