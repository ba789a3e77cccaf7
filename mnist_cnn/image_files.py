"""Reading an image file of any kind into grey levels: formats and modes, a phone's EXIF orientation, transparency,
an animated GIF's first frame, and a size limit. What the grey levels show is mnist_cnn.mnist_style's concern.

NumPy and Pillow only, so that it is cheap to import.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from mnist_cnn.errors import ImageError

logger = logging.getLogger(__name__)
# Images are reduced as they are read to at most this many pixels squared: enough for a small digit on a whole page.
MAX_SIDE = 1024
# The EXIF tag of the way the camera was held.
ORIENTATION = 0x0112
# How to turn the stored pixels upright, by the EXIF Orientation value (1: as stored).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def reduced_size(size: tuple[int, int], side: int = MAX_SIDE) -> tuple[int, int]:
    """The size an image is reduced to as it is read: at most `side` x `side` pixels in all, the shape kept (a
    20,000 x 100 strip keeps 70 pixels of height, where fitting it in MAX_SIDE a side would leave 5)."""
    scale = max(1.0, (size[0] * size[1]) ** 0.5 / side)
    return max(1, round(size[0] / scale)), max(1, round(size[1] / scale))


def read_grey_image(path: str | os.PathLike, side: int = MAX_SIDE) -> np.ndarray:
    """An image file as a float array of grey levels in [0, 1], upright as the camera was held, reduced to at most
    `side` x `side` pixels as it is read; an animated image's first frame; transparent parts count as paper.
    Any image mode Pillow opens."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # Up to Pillow's hard limit a large image is fine here: it is reduced as it is read. Pillow also warns of
            # every odd EXIF tag, which changes nothing here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", module="PIL.TiffImagePlugin")
            with Image.open(path) as image:
                return upright_levels(image, path, side)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except Image.DecompressionBombError as error:
        raise ImageError(f"{path}: too large to read safely ({error})") from error
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as error:
        raise ImageError(f"{path}: not a readable image ({error})") from error


def upright_levels(image: Image.Image, path: Path, side: int = MAX_SIDE) -> np.ndarray:
    """An opened image's grey levels, upright as the camera was held, reduced to at most `side` x `side` pixels (in
    place: JPEG decodes at the reduced scale straight away); an animated image's first frame. `path` names it."""
    turn = orientation(image, path)
    image.seek(0)  # an animated GIF, WebP or PNG: its first frame
    size = reduced_size(image.size, side)
    image.draft("L", size)
    if image.mode.startswith("I;16"):
        image = image.convert("I")
    image.thumbnail(size)
    return grey_levels(image.transpose(turn) if turn is not None else image)


def orientation(image: Image.Image, path: Path) -> Image.Transpose | None:
    """How to turn the image as the camera was held: its EXIF Orientation tag read alone, so that another tag a
    phone mistyped does not cost it (Pillow's ImageOps.exif_transpose rewrites the whole block, and raises); None
    where there is none, or the EXIF block itself cannot be read (then saying so in one logged line)."""
    try:
        value = image.getexif().get(ORIENTATION, 1)
    except Exception as error:  # Pillow raises many kinds for a broken EXIF block
        logger.warning(f"note: {path}: its EXIF orientation cannot be read ({error}); read as stored")
        return None
    return UPRIGHT.get(value) if isinstance(value, int) else None


def grey_levels(image: Image.Image) -> np.ndarray:
    """Grey levels in [0, 1] of an image of any mode; a transparent layer on white, or on black where its ink is
    white too (white strokes drawn on a transparent layer)."""
    if image.mode in ("I", "F"):  # 16- and 32-bit images: stretched to the range of their finite values
        values = np.asarray(image, dtype=np.float32)
        finite = np.isfinite(values)
        if not finite.any():
            return np.zeros_like(values)
        low, high = float(values[finite].min()), float(values[finite].max())
        values = np.where(finite, values, np.where(values > 0, high, low))  # +inf as the brightest, -inf and NaN dark
        return (values - low) / (high - low) if high > low else np.zeros_like(values)
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        return on_paper(image.convert("RGBA"))
    if image.mode not in ("L", "RGB", "1", "P", "CMYK", "YCbCr"):
        image = image.convert("RGB")  # LAB, HSV, ...
    return np.asarray(image.convert("L"), dtype=np.float32) / 255


def on_paper(layer: Image.Image) -> np.ndarray:
    """An RGBA layer's grey levels on the paper its ink stands out from more: white, or black (white strokes)."""
    composed = [Image.alpha_composite(Image.new("RGBA", layer.size, paper), layer) for paper in ("white", "black")]
    greys = [np.asarray(image.convert("L"), dtype=np.float32) / 255 for image in composed]
    return max(greys, key=np.ptp)
