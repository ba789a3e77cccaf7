"""Predicting digits in your own images, pre-processed the way MNIST's digits were made.

MNIST's digits are light on dark, fitted into a 20x20 box keeping their aspect ratio, and centred by their centre
of mass in a 28x28 field. `image_to_mnist` does the same to a photo, scan or drawing of any size, colour or polarity,
taking away uneven light and shadows first (scipy.ndimage's morphology and labelling do the image work).
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from mnist_cnn.data import IMAGE_SIZE
from mnist_cnn.errors import ImageError
from mnist_cnn.explain import Explanation
from mnist_cnn.explain import explain as explain_digits
from mnist_cnn.model import predict_probabilities

logger = logging.getLogger(__name__)
DIGIT_BOX = 20
# Images are reduced as they are read to at most this many pixels squared: enough for a small digit on a whole page.
MAX_SIDE = 1024
# Images at least this large a side are taken for photos or scans of a page, whose light may be uneven.
PAGE_SIDE = 400
# An image whose ink stands out less than this (on a 0-1 scale) from the paper is taken to hold no digit.
MIN_CONTRAST = 0.1
# Pixels with less ink than this share of the darkest stroke's are not the digit's, whatever Otsu's level says
# (a faint digit on noisy paper).
MIN_INK = 0.4
# Ink blobs smaller than this fraction of the largest are specks and dust, not part of the digit.
MIN_PART = 0.1
# Shapes at least this fraction of the largest, apart from each other, are taken for several digits.
SIMILAR_PART = 0.3
# MNIST's strokes are about a tenth of the digit's height: thinner pen strokes are thickened to that.
STROKE_FRACTION = 0.1


def reduced_size(size: tuple[int, int]) -> tuple[int, int]:
    """The size an image is reduced to as it is read: at most MAX_SIDE x MAX_SIDE pixels in all, the shape kept (a
    20,000 x 100 strip keeps 70 pixels of height, where fitting it in MAX_SIDE a side would leave 5)."""
    scale = max(1.0, (size[0] * size[1]) ** 0.5 / MAX_SIDE)
    return max(1, round(size[0] / scale)), max(1, round(size[1] / scale))


def read_grey_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as a float array of grey levels in [0, 1], upright as the camera was held, reduced to at most
    MAX_SIDE x MAX_SIDE pixels as it is read; transparent parts count as paper. Any image mode Pillow opens."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # Up to Pillow's hard limit a large image is fine here: it is reduced as it is read.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                size = reduced_size(image.size)
                image.draft("L", size)  # JPEG decodes at a reduced scale straight away
                if image.mode.startswith("I;16"):
                    image = image.convert("I")
                image.thumbnail(size)
                return grey_levels(upright(image, path))
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except Image.DecompressionBombError as error:
        raise ImageError(f"{path}: too large to read safely ({error})") from error
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise ImageError(f"{path}: not a readable image ({error})") from error


def upright(image: Image.Image, path: Path) -> Image.Image:
    """The image turned as the camera was held (its EXIF orientation), or as stored where its EXIF cannot be read
    (phones write mistyped tags), saying so in one logged line."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception as error:  # Pillow raises many kinds for a broken EXIF block
        logger.warning(f"note: {path}: its EXIF orientation cannot be applied ({error}); read as stored")
        return image


def grey_levels(image: Image.Image) -> np.ndarray:
    """Grey levels in [0, 1] of an image of any mode."""
    if image.mode in ("I", "F"):  # 16- and 32-bit images: stretched to the range of their finite values
        values = np.asarray(image, dtype=np.float32)
        finite = np.isfinite(values)
        if not finite.any():
            return np.zeros_like(values)
        low, high = float(values[finite].min()), float(values[finite].max())
        values = np.where(finite, values, np.where(values > 0, high, low))  # +inf as the brightest, -inf and NaN dark
        return (values - low) / (high - low) if high > low else np.zeros_like(values)
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        # On white paper, unless the ink is white too (a drawing on a transparent layer): then on black.
        layer = image.convert("RGBA")
        for paper in ("white", "black"):
            composed = Image.alpha_composite(Image.new("RGBA", image.size, paper), layer).convert("L")
            grey = np.asarray(composed, dtype=np.float32) / 255
            if np.ptp(grey) >= MIN_CONTRAST:
                break
        return grey
    if image.mode not in ("L", "RGB", "1", "P", "CMYK", "YCbCr"):
        image = image.convert("RGB")  # LAB, HSV, ...
    return np.asarray(image.convert("L"), dtype=np.float32) / 255


def ink_map(grey: np.ndarray) -> np.ndarray:
    """How much ink each pixel holds, in [0, 1], light on dark as MNIST, above the paper's own brightness.

    In a photo or scan of a page (PAGE_SIDE pixels or more a side) the paper's brightness varies with the light and
    shadows: a white top-hat takes away what varies at a scale wider than a twelfth of the image, wider than a
    stroke. A smaller image (a drawing, a crop) has a flat background, and thick strokes: the paper's level alone
    is taken away.
    """
    ink = 1 - grey if paper_is_light(grey) else grey
    if min(ink.shape) >= PAGE_SIDE:
        return np.clip(ndimage.white_tophat(ink, size=min(ink.shape) // 12), 0, 1)
    return np.clip(ink - np.median(ink), 0, 1)


def paper_is_light(grey: np.ndarray) -> bool:
    """Whether the digit is dark on light paper: the middle half of the image (where the sheet is, even on a dark desk
    that fills most of the frame) is mostly light."""
    height, width = grey.shape
    middle = grey[height // 4 : height - height // 4 or None, width // 4 : width - width // 4 or None]
    return bool(np.median(middle if middle.size else grey) > 0.5)


def otsu_threshold(values: np.ndarray) -> float:
    """The level that best splits `values` in [0, 1] into two groups (Otsu's method)."""
    counts, edges = np.histogram(values, bins=256, range=(0, 1))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    mean_low = np.cumsum(counts * centres) / np.maximum(weight_low, 1)
    mean_high = ((counts * centres).sum() - np.cumsum(counts * centres)) / np.maximum(weight_high, 1)
    return float(centres[np.argmax(weight_low * weight_high * (mean_low - mean_high) ** 2)])


def digit_mask(ink: np.ndarray) -> np.ndarray:
    """The pixels of the digit: ink above Otsu's level (and MIN_INK), in the blobs that are not specks or, in a photo
    of a page, the page's edge (in a smaller image, a tight crop, the digit itself may touch the edges). `ink` is
    scaled to a maximum of 1."""
    strokes = ink > max(otsu_threshold(ink), MIN_INK)
    labels, count = ndimage.label(strokes, structure=np.ones((3, 3)))
    if count == 0:
        return strokes
    sizes = ndimage.sum_labels(strokes, labels, index=np.arange(1, count + 1))
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    if min(ink.shape) < PAGE_SIDE:
        edge_labels = []
    inner = np.setdiff1d(np.arange(1, count + 1), edge_labels)
    candidates = inner if len(inner) else np.arange(1, count + 1)  # an edge blob: a table or the sheet's border
    largest = sizes[candidates - 1].max()
    keep = candidates[sizes[candidates - 1] >= MIN_PART * largest]
    return np.isin(labels, keep)


def shapes_side_by_side(mask: np.ndarray) -> int:
    """How many shapes of the digit's size (each at least SIMILAR_PART of the largest) stand side by side, apart
    from each other's columns: more than one where an image holds several digits ("38")."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count < 2:
        return count
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
    spans = sorted((span[1].start, span[1].stop) for span, size in zip(ndimage.find_objects(labels), sizes, strict=True)
                   if size >= SIMILAR_PART * sizes.max())  # fmt: skip
    groups, reach = 0, -1
    for start, stop in spans:
        groups += start >= reach
        reach = max(reach, stop)
    return groups


def image_to_mnist(grey: np.ndarray, name: str = "image") -> np.ndarray:
    """A grey image (any size, dark-on-light or light-on-dark, photo, scan or drawing) as a (28, 28, 1) MNIST-style
    digit in [0, 1]: lighting removed, cropped to the digit, strokes of MNIST's width, fitted in 20x20 and centred by
    mass in 28x28."""
    ink = ink_map(grey)
    if ink.max() < MIN_CONTRAST:
        raise ImageError(f"{name}: no digit found (the image is blank or has almost no contrast)")
    mask = digit_mask(ink / ink.max())
    shapes = shapes_side_by_side(mask)
    if shapes > 1:
        logger.warning(f"note: {name}: {shapes} digit-like shapes side by side, read as one digit: crop it to one")
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = (slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1))
    near_digit = ndimage.binary_dilation(mask, iterations=2)[crop]  # keeps the strokes' soft edges
    digit = np.where(near_digit, ink[crop], 0) / ink[crop][mask[crop]].max()
    digit = np.clip(digit, 0, 1)

    # Thicken pen strokes that would vanish at 20 pixels: stroke width ~ area / half the outline.
    outline = (mask & ~ndimage.binary_erosion(mask))[crop].sum()
    stroke = 2 * mask[crop].sum() / max(outline, 1)
    wanted = STROKE_FRACTION * max(digit.shape)
    if stroke < wanted:
        digit = ndimage.grey_dilation(digit, size=max(2, round(wanted - stroke)))

    scale = DIGIT_BOX / max(digit.shape)
    height, width = (max(1, round(side * scale)) for side in digit.shape)
    resized = Image.fromarray(digit.astype(np.float32)).resize((width, height), Image.Resampling.LANCZOS)
    digit = np.clip(np.asarray(resized, dtype=np.float32), 0, 1)

    total = digit.sum()
    if total == 0:
        raise ImageError(f"{name}: no digit found after resizing")
    centre_row = (digit.sum(axis=1) * np.arange(height)).sum() / total
    centre_column = (digit.sum(axis=0) * np.arange(width)).sum() / total
    digit /= digit.max()
    top = int(np.clip(round(IMAGE_SIZE / 2 - centre_row), 0, IMAGE_SIZE - height))
    left = int(np.clip(round(IMAGE_SIZE / 2 - centre_column), 0, IMAGE_SIZE - width))
    canvas = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    canvas[top : top + height, left : left + width] = digit
    return canvas[..., np.newaxis]


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
            grey = read_grey_image(prediction.file)
            images.append(image_to_mnist(grey, prediction.file))
            readable.append(prediction)
            prediction.original = grey if explain else None
        except ImageError as error:
            prediction.error = str(error)
        except Exception as error:  # whatever else one odd file does, the others are still predicted
            prediction.error = f"{prediction.file}: cannot be read ({type(error).__name__}: {error})"
    if images:
        probabilities = predict_probabilities(model, np.stack(images))
        explanations = explain_digits(model, np.stack(images)) if explain else [None] * len(images)
        for prediction, row, explanation in zip(readable, probabilities, explanations, strict=True):
            ranked = np.argsort(-row)[:top]
            prediction.top = [(int(digit), float(row[digit])) for digit in ranked]
            prediction.digit, prediction.probability = prediction.top[0]
            prediction.explanation = explanation
    return predictions
