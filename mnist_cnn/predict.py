"""Predicting the digits in your own image files: each read into grey levels (mnist_cnn.image_files), made
MNIST-like (mnist_cnn.mnist_style), and given to the model; one file that cannot be read never stops the others.
`read_digit` is that reading, for `mnist-cnn predict` and the demo page alike: a digit, or one line of error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import keras
import numpy as np
from PIL import Image

from mnist_cnn.errors import ImageError
from mnist_cnn.explain import Explanation
from mnist_cnn.explain import explain as explain_digits
from mnist_cnn.image_files import grey_levels, read_grey_image
from mnist_cnn.mnist_style import image_to_mnist
from mnist_cnn.model import predict_probabilities


def read_digit(source: str | os.PathLike | Image.Image, name: str) -> tuple[np.ndarray, np.ndarray]:
    """An image file (or an image already open: a drawing) as its grey levels and the MNIST-like (28, 28, 1) digit
    made of them; ImageError, one line naming `name`, for whatever keeps it from being read."""
    try:
        grey = grey_levels(source) if isinstance(source, Image.Image) else read_grey_image(source)
        return grey, image_to_mnist(grey, name)
    except ImageError:
        raise
    except Exception as error:  # whatever else an odd file raises (a truncated QOI image: IndexError) is one line too
        raise ImageError(f"{name}: cannot be read ({type(error).__name__}: {error})") from error


@dataclass
class Prediction:
    """The model's answer for one image file, or why there is none; with `explain`, also the image as read and the
    occlusion maps of the answer (mnist_cnn.explain)."""

    file: str
    digit: int | None = None
    probability: float | None = None
    top: list[tuple[int, float]] = field(default_factory=list)
    error: str | None = None
    original: np.ndarray | None = field(default=None, repr=False)
    explanation: Explanation | None = field(default=None, repr=False)

    def summary(self) -> dict:
        """The answer as plain values, for JSON."""
        return {
            "file": self.file,
            "digit": self.digit,
            "probability": self.probability,
            "top": self.top,
            "error": self.error,
        }


def predict_files(
    model: keras.Model, paths: list[str | os.PathLike], top: int = 1, explain: bool = False
) -> list[Prediction]:
    """Predict the digit in each image file; a file that cannot be read gets its error and the others go on. With
    `explain`, each answer comes with the image as read and the maps of the two most likely digits."""
    predictions = [Prediction(file=str(path)) for path in paths]
    readable, images = [], []
    for prediction in predictions:
        try:
            grey, digit = read_digit(prediction.file, prediction.file)
        except ImageError as error:  # whatever one odd file does, the others are still predicted
            prediction.error = str(error)
            continue
        images.append(digit)
        readable.append(prediction)
        prediction.original = grey if explain else None
    if images:
        probabilities = predict_probabilities(model, np.stack(images))
        explanations = explain_digits(model, np.stack(images)) if explain else [None] * len(images)
        for prediction, row, explanation in zip(readable, probabilities, explanations, strict=True):
            ranked = np.argsort(-row)[:top]
            prediction.top = [(int(digit), float(row[digit])) for digit in ranked]
            prediction.digit, prediction.probability = prediction.top[0]
            prediction.explanation = explanation
    return predictions
