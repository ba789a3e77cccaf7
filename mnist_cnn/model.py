"""The seed notebook's CNN: building it, its diagram, saving and loading it safely, and its predictions."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from mnist_cnn import backend
from mnist_cnn.config import SEED_RECIPE, Config
from mnist_cnn.data import IMAGE_SIZE, NUM_CLASSES
from mnist_cnn.errors import ModelFileError
from mnist_cnn.files import atomic_path

MODEL_NAME = "mnist_cnn"
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)
# Images predicted in one batch: large enough to keep a CPU busy, small enough for any GPU's memory.
INFERENCE_BATCH = 1024
logger = logging.getLogger(__name__)


def build_model(config: Config = SEED_RECIPE) -> keras.Sequential:
    """The seed's network: four 3x3 Conv2D (the first three 'same' and each followed by 2x2 max pooling),
    Flatten, Dropout, Dense(10) and softmax; 112,074 parameters with the default config."""
    conv = dict(filters=config.filters, kernel_size=config.kernel_size, activation="relu")
    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            keras.layers.Conv2D(**conv, padding="same"),
            keras.layers.MaxPooling2D(config.pool_size),
            keras.layers.Conv2D(**conv, padding="same"),
            keras.layers.MaxPooling2D(config.pool_size),
            keras.layers.Conv2D(**conv, padding="same"),
            keras.layers.MaxPooling2D(config.pool_size),
            keras.layers.Conv2D(**conv),
            keras.layers.Flatten(),
            keras.layers.Dropout(config.dropout),
            keras.layers.Dense(NUM_CLASSES),
            # float32 whatever the precision policy, so that the probabilities sum to 1 exactly enough.
            keras.layers.Activation("softmax", dtype="float32"),
        ],
        name=MODEL_NAME,
    )


def one_logit_network(input_shape: tuple[int, int, int], name: str) -> keras.Sequential:
    """A small convolutional network from an image to one logit, untrained: the shape of the shipped detector
    (mnist_cnn.novelty) and counter (mnist_cnn.counter), apart from the classifier."""
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(input_shape),
            layers.Conv2D(32, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.GlobalMaxPooling2D(),
            layers.Dropout(0.2),
            layers.Dense(1),
        ],
        name=name,
    )


def plot_architecture(model: keras.Model, path: str | os.PathLike) -> Path | None:
    """Draw the model's diagram with its shapes to `path` (as the seed's `plot_model` call does).

    Returns the path, or None with one logged line where pydot or Graphviz's `dot` is missing.
    """
    if importlib.util.find_spec("pydot") is None or shutil.which("dot") is None:
        logger.warning(
            "No architecture diagram: it needs pydot and Graphviz's `dot` (for example: apt-get install graphviz)."
        )
        return None
    with atomic_path(path) as temporary:
        keras.utils.plot_model(model, to_file=str(temporary), show_shapes=True, dpi=72)
    return Path(path)


def save_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """Save in Keras' .keras format, through a temporary file so that an interruption leaves no half model."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelFileError(f"{path}: a model file's name must end in .keras")
    with atomic_path(path) as temporary:
        model.save(temporary)
    return path


def load_model(path: str | os.PathLike) -> keras.Model:
    """Load a model this package saved. Keras' safe mode stays on, so loading never runs code from the file.

    Raises ModelFileError, naming the file, for a missing or unreadable file or a model that is not an MNIST
    classifier of 28x28x1 images into 10 classes.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a Keras .keras model file (it is not a zip archive)")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # Keras raises many kinds (ValueError, TypeError, OSError, KeyError...).
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"{path}: cannot be loaded as a Keras model ({reason})") from error
    if getattr(model, "compiled", False):
        # As this backend compiles its own models: a model saved on JAX (always compiled) is not torch.compile'd.
        model.jit_compile = backend.jit_compile(False)
    if not is_mnist_classifier(model):
        raise ModelFileError(
            f"{path}: not a model of this package (expected a model named {MODEL_NAME!r} from (None, 28, 28, 1) "
            f"to (None, 10); found {model.name!r} from {shape_of(model, 'input_shape')} to "
            f"{shape_of(model, 'output_shape')})"
        )
    return model


def shape_of(model: keras.Model, which: str) -> str:
    """The model's input_shape or output_shape as text, or "unknown shapes" where it has none."""
    try:
        return str(tuple(getattr(model, which)))
    except (AttributeError, ValueError, TypeError):
        return "unknown shapes"


def is_mnist_classifier(model: keras.Model) -> bool:
    """Whether `model` is one `build_model` made: its name, (N, 28, 28, 1) images in, 10 probabilities out."""
    try:
        return (
            model.name == MODEL_NAME
            and tuple(model.input_shape) == (None, *INPUT_SHAPE)
            and tuple(model.output_shape) == (None, NUM_CLASSES)
        )
    except (AttributeError, ValueError, TypeError):
        return False


def predict_outputs(
    model: keras.Model, inputs: np.ndarray, batch_size: int = INFERENCE_BATCH
) -> np.ndarray | list[np.ndarray]:
    """Any of the package's networks' outputs for a batch of inputs, as NumPy arrays (a list where it has several).

    Up to one batch goes through `predict_on_batch`: `predict` sets up a whole loop first, many times slower for one
    image.
    """
    if len(inputs) <= batch_size and backend.predicts_on_batch_correctly(model):
        outputs = model.predict_on_batch(inputs)
    else:
        outputs = model.predict(inputs, batch_size=batch_size, verbose=0)
    return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)


def predict_probabilities(model: keras.Model, images: np.ndarray, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
    """The model's class probabilities for a batch of (N, 28, 28, 1) images."""
    return predict_outputs(model, images, batch_size)


def ensemble_probabilities(
    models: keras.Model | Sequence[keras.Model], images: np.ndarray, batch_size: int = INFERENCE_BATCH
) -> np.ndarray:
    """The mean of the class probabilities of several models (an ensemble), or one model's probabilities."""
    if isinstance(models, keras.Model):
        models = [models]
    return np.mean([predict_probabilities(model, images, batch_size) for model in models], axis=0)
