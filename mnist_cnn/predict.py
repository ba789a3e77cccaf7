"""Predicting digits in your own images, pre-processed the way MNIST's digits were made.

MNIST's digits are light on dark, fitted into a 20x20 box keeping their aspect ratio, and centred by their centre
of mass in a 28x28 field. `image_to_mnist` does the same to a photo or drawing of any size, colour or polarity.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from PIL import Image, UnidentifiedImageError

from mnist_cnn.data import IMAGE_SIZE
from mnist_cnn.errors import ImageError

DIGIT_BOX = 20
# Pixels fainter than this fraction of the brightest one are background when finding the digit's bounding box.
INK_THRESHOLD = 0.2
# An image whose contrast is below this (on a 0-1 scale) is taken to hold no digit.
MIN_CONTRAST = 0.1
INFERENCE_BATCH = 1024


def predict_probabilities(model: keras.Model, images: np.ndarray, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
    """The model's class probabilities for a batch of (N, 28, 28, 1) images.

    Up to one batch goes through `predict_on_batch`: `predict` sets up a whole loop first, which makes one image take
    about 50 ms instead of 1 ms.
    """
    if len(images) <= batch_size:
        return np.asarray(model.predict_on_batch(images))
    return model.predict(images, batch_size=batch_size, verbose=0)


def ensemble_probabilities(
    models: keras.Model | Sequence[keras.Model], images: np.ndarray, batch_size: int = INFERENCE_BATCH
) -> np.ndarray:
    """The mean of the class probabilities of several models (an ensemble), or one model's probabilities."""
    if isinstance(models, keras.Model):
        models = [models]
    return np.mean([predict_probabilities(model, images, batch_size) for model in models], axis=0)


def read_grey_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as a float array of grey levels in [0, 1]; transparent parts count as white paper."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
            grey = image.convert("L")
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise ImageError(f"{path}: not a readable image ({error})") from error
    return np.asarray(grey, dtype=np.float32) / 255


def image_to_mnist(grey: np.ndarray, name: str = "image") -> np.ndarray:
    """A grey image (any size, dark-on-light or light-on-dark) as a (28, 28, 1) MNIST-style digit in [0, 1]."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    background = float(np.median(border))
    ink = grey - background if background < 0.5 else background - grey  # Make the digit light on dark.
    ink = np.clip(ink, 0, None)
    if ink.max() < MIN_CONTRAST:
        raise ImageError(f"{name}: no digit found (the image is blank or has almost no contrast)")
    ink /= ink.max()
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    columns = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    digit = ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]

    scale = DIGIT_BOX / max(digit.shape)
    height, width = (max(1, round(side * scale)) for side in digit.shape)
    resized = Image.fromarray(digit).resize((width, height), Image.Resampling.LANCZOS)
    digit = np.clip(np.asarray(resized, dtype=np.float32), 0, 1)

    total = digit.sum()
    if total == 0:
        raise ImageError(f"{name}: no digit found after resizing")
    centre_row = (digit.sum(axis=1) * np.arange(height)).sum() / total
    centre_column = (digit.sum(axis=0) * np.arange(width)).sum() / total
    top = int(np.clip(round(IMAGE_SIZE / 2 - centre_row), 0, IMAGE_SIZE - height))
    left = int(np.clip(round(IMAGE_SIZE / 2 - centre_column), 0, IMAGE_SIZE - width))
    canvas = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    canvas[top : top + height, left : left + width] = digit
    return canvas[..., np.newaxis]


@dataclass
class Prediction:
    """The model's answer for one image file, or why there is none."""

    file: str
    digit: int | None = None
    probability: float | None = None
    top: list[tuple[int, float]] = field(default_factory=list)
    error: str | None = None


def predict_files(model: keras.Model, paths: list[str | os.PathLike], top: int = 1) -> list[Prediction]:
    """Predict the digit in each image file; a file that cannot be read gets its error and the others go on."""
    predictions = [Prediction(file=str(path)) for path in paths]
    readable, images = [], []
    for prediction in predictions:
        try:
            images.append(image_to_mnist(read_grey_image(prediction.file), prediction.file))
            readable.append(prediction)
        except ImageError as error:
            prediction.error = str(error)
    if images:
        probabilities = predict_probabilities(model, np.stack(images))
        for prediction, row in zip(readable, probabilities, strict=True):
            ranked = np.argsort(-row)[:top]
            prediction.top = [(int(digit), float(row[digit])) for digit in ranked]
            prediction.digit, prediction.probability = prediction.top[0]
    return predictions
