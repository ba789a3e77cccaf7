"""Predicting the digits in your own image files: each read into grey levels (mnist_cnn.image_files), its ink
found (mnist_cnn.mnist_style), its digits found along the line (mnist_cnn.numbers), made MNIST-like and given to the
model, which also says whether each is a digit at all (mnist_cnn.novelty); one file that cannot be read never stops
the others. `read_ink` is that reading, for `mnist-cnn predict` and the demo page alike: digits, or one line of error.
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
from mnist_cnn.mnist_style import ink_and_strokes
from mnist_cnn.novelty import DigitReader, NoveltyCheck, as_reader
from mnist_cnn.numbers import Readings, WrittenDigit, number_readings, read_numbers


@dataclass
class Prediction:
    """The model's answer for one image file, or why there is none: the digit (or, for a written number, each of
    its digits) and whether it is not a digit at all (mnist_cnn.novelty); with `explain`, also the image as read and
    the occlusion maps of a single digit's answer (mnist_cnn.explain)."""

    file: str
    digit: int | None = None
    probability: float | None = None
    top: list[tuple[int, float]] = field(default_factory=list)
    error: str | None = None
    number: str | None = None
    digits: list[WrittenDigit] = field(default_factory=list, repr=False)
    novelty: float | None = None
    not_a_digit: bool = False
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
            "number": self.number,
            "not_a_digit": self.not_a_digit,
            "novelty": self.novelty,
            "digits": [
                {
                    "digit": int(digit.probabilities.argmax()),
                    "probability": float(digit.probabilities.max()),
                    "novelty": digit.novelty,
                    "box": [
                        int(edge)
                        for edge in (digit.box[0].start, digit.box[1].start, digit.box[0].stop, digit.box[1].stop)
                    ],
                }
                for digit in self.digits
            ],
        }

    def answer(self, threshold: float, top: int) -> None:
        """Set the answer from the digits read: one digit's top `top`, or a number's digits; not a digit where one
        of them scores above `threshold`."""
        self.novelty = float(max(digit.novelty for digit in self.digits))
        self.not_a_digit = self.novelty > threshold
        self.number = "".join(str(int(digit.probabilities.argmax())) for digit in self.digits)
        if len(self.digits) == 1:
            row = self.digits[0].probabilities
            self.top = [(int(digit), float(row[digit])) for digit in np.argsort(-row)[:top]]
            self.digit, self.probability = self.top[0]
        else:  # a number: how likely all its digits are together
            self.probability = float(np.prod([digit.probabilities.max() for digit in self.digits]))


def answer_text(prediction: Prediction, threshold: float) -> str:
    """A prediction in words, as `mnist-cnn predict` prints it: the top digits, a number's digits, or "not a digit"."""
    if len(prediction.digits) > 1:
        each = ", ".join(f"{int(d.probabilities.argmax())} ({d.probabilities.max():.1%})" for d in prediction.digits)
        line = f"{prediction.number} ({prediction.probability:.1%}): {each}"
    else:
        line = ", ".join(f"{digit} ({probability:.1%})" for digit, probability in prediction.top)
    if prediction.not_a_digit:
        return f"not a digit (novelty {prediction.novelty:.2f}, above {threshold:.2f}; read as {line})"
    return line


def read_ink(source: str | os.PathLike | Image.Image, name: str) -> tuple[np.ndarray, list[Readings]]:
    """An image file (or a drawing) as its grey levels and the ways its digits may be read (mnist_cnn.numbers);
    ImageError, one line naming `name`, for whatever keeps it from being read."""
    try:
        grey = grey_levels(source) if isinstance(source, Image.Image) else read_grey_image(source)
        return grey, number_readings(*ink_and_strokes(grey, name), name)
    except ImageError:
        raise
    except Exception as error:  # whatever else an odd file raises (a truncated QOI image: IndexError) is one line too
        raise ImageError(f"{name}: cannot be read ({type(error).__name__}: {error})") from error


def predict_files(
    model: keras.Model,
    paths: list[str | os.PathLike],
    top: int = 1,
    explain: bool = False,
    check: NoveltyCheck | None = None,
) -> list[Prediction]:
    """Predict the digit, or the number, in each image file, and whether it is not a digit (judged by `check`, by
    default against the shipped sample); a file that cannot be read gets its error and the others go on. With
    `explain`, a single digit's answer comes with the image as read and the maps of its two most likely digits."""
    reader = as_reader(model) if check is None else DigitReader(model, check)
    predictions = [Prediction(file=str(path)) for path in paths]
    readable, readings, greys = [], [], []
    for prediction in predictions:
        try:
            grey, groups = read_ink(prediction.file, prediction.file)
        except ImageError as error:  # whatever one odd file does, the others are still predicted
            prediction.error = str(error)
            continue
        readable.append(prediction)
        readings.append(groups)
        greys.append(grey)
    for prediction, digits, grey in zip(readable, read_numbers(reader, readings), greys, strict=True):
        prediction.digits = digits
        prediction.answer(reader.check.threshold, top)
        if explain and len(digits) == 1:
            prediction.original = grey
            prediction.explanation = explain_digits(model, digits[0].image[np.newaxis])[0]
    return predictions
