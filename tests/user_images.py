"""Digits drawn as users' image files: the helpers of test_predict.py, test_image_files.py and test_mnist_style.py."""

import io

import numpy as np
from PIL import Image


def mnist_digit_as_photo(digit: np.ndarray, size: int = 200, dark_on_light: bool = True, colour=None) -> Image.Image:
    """An MNIST digit scaled up, off centre on a larger canvas, in the given style: as a user's scan might be."""
    big = Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (size * 2, int(size * 1.5)), 0)
    canvas.paste(big, (size // 3, size // 5))
    if dark_on_light:
        canvas = Image.eval(canvas, lambda value: 255 - value)
    if colour is not None:
        ink, paper = colour
        canvas = Image.composite(Image.new("RGB", canvas.size, paper), Image.new("RGB", canvas.size, ink), canvas)
    return canvas


def photo_of_paper(digit: np.ndarray, sheet=(1200, 900), digit_height=140, seed=0) -> Image.Image:
    """An MNIST digit written small on a sheet photographed under uneven light: bright on one side, the soft shadow
    of the phone over the digit, a little sensor noise, as a phone takes it."""
    rng = np.random.default_rng(seed)
    width, height = sheet
    columns = np.linspace(0, 1, width)[np.newaxis, :]
    rows = np.linspace(0, 1, height)[:, np.newaxis]
    top, left = int(height * 0.55), int(width * 0.6)  # off centre, on the dim side
    centre_row, centre_column = (top + digit_height / 2) / height, (left + digit_height / 2) / width
    shadow = np.exp(-((rows - centre_row) ** 2 + (columns - centre_column) ** 2) / (2 * 0.12**2))
    paper = 0.95 - 0.35 * columns - 0.35 * shadow
    ink = np.asarray(Image.fromarray(digit).resize((digit_height, digit_height), Image.Resampling.BICUBIC), float) / 255
    paper[top : top + digit_height, left : left + digit_height] *= 1 - 0.85 * ink
    photo = np.clip(paper + rng.normal(0, 0.02, paper.shape), 0, 1)
    return Image.fromarray((photo * 255).astype(np.uint8)).convert("RGB")


def correlation_with(digit: np.ndarray, restored: np.ndarray) -> float:
    return float(np.corrcoef(restored.ravel(), digit.ravel() / 255)[0, 1])


# The bytes of a QOI image kept of a truncated file: its 14-byte header and a few of its pixels.
TRUNCATED_QOI_BYTES = 20


def truncated_qoi(image: Image.Image) -> bytes:
    """The first bytes of `image` saved as QOI, as a download cut short leaves it: Pillow's QOI decoder raises
    IndexError for it (no ImageError, no OSError), whatever the file is named."""
    file = io.BytesIO()
    image.convert("RGB").save(file, "QOI")
    return file.getvalue()[:TRUNCATED_QOI_BYTES]
