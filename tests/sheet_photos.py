"""Sheets (mnist_cnn.sheet) filled with digits and photographed as a phone does: the fixtures of tests/test_sheet.py
and what benchmarks/handwriting.py reads at scale. They live with the tests: the package does not ship them.

A digit (a 28x28 MNIST-style array, or any larger ink array) is written into its box dark, as a pen writes; the page
is then lit unevenly, laid on a darker desk, seen at an angle and turned, blurred a little, given a sensor's noise,
saved as a JPEG with the pixels stored as the sensor saw them and an EXIF orientation tag saying how to turn them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from mnist_cnn.mnist_style import ink_box
from mnist_cnn.sheet import box_places, homography, sheet_image

from digit_kinds import STORED_TURNED, as_image, enlarged, exif_block, uneven_light

# A digit is written this share of its box high (at most) ...
DIGIT_HEIGHT = (0.6, 0.75)
# ... and at most this share of it wide ...
WIDEST = 0.8
# ... off the box's centre by up to this share of its side.
OFFSET = 0.06
# The pen's ink, as a share of the paper's light.
PEN = (0.1, 0.25)
# A photo, by `hard`: how far each corner of the sheet moves (a share of the sheet's side), how far it is turned
# (degrees), the blur's sigma (pixels), the noise's, and the JPEG quality.
PHOTOS = {
    False: {"corners": 0.03, "turn": 3.0, "blur": (0.3, 0.6), "noise": (0.005, 0.015), "quality": (85, 92)},
    True: {"corners": 0.08, "turn": 10.0, "blur": (0.5, 1.2), "noise": (0.01, 0.03), "quality": (75, 85)},
}
# The desk shows around the sheet, this share of its side on each side, and is this grey.
DESK_MARGIN = (0.05, 0.2)
DESK_GREY = (0.1, 0.4)


def as_ink(digit: np.ndarray) -> np.ndarray:
    """A digit image as ink in [0, 1], light on dark: uint8 scaled, and a dark-on-light drawing (its edges light)
    turned over."""
    ink = digit.astype(np.float32).squeeze()
    ink = ink / 255 if digit.dtype == np.uint8 else ink
    edges = np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]])
    return 1 - ink if np.median(edges) > 0.5 else ink


def ink_in_box(digit: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """The digit's ink in a box of `shape` pixels: DIGIT_HEIGHT of its side high (WIDEST wide at most), a little
    off its centre."""
    side = min(shape)
    ink = as_ink(digit)
    ink = ink[ink_box(ink, above=0.05)]
    height = rng.uniform(*DIGIT_HEIGHT) * side
    height = min(height, WIDEST * side * ink.shape[0] / ink.shape[1])
    ink = enlarged(ink, round(height))
    box = np.zeros(shape, np.float32)
    top, left = (
        int(np.clip((room - length) // 2 + rng.uniform(-1, 1) * OFFSET * side, 0, room - length))
        for room, length in zip(shape, ink.shape, strict=True)
    )
    box[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return box


def filled_sheet(
    digits: dict[tuple[int, int], np.ndarray], paper: str = "a4", dpi: int = 150, rng: np.random.Generator | None = None
) -> np.ndarray:
    """The blank sheet (grey levels, paper 1) with each (row, column)'s digit written in its box in a dark pen."""
    rng = rng or np.random.default_rng(0)
    page = sheet_image(paper, dpi).copy()
    pen = rng.uniform(*PEN)
    places = {(place.row, place.column): place for place in box_places(paper, dpi)}
    for (row, column), digit in digits.items():
        place = places[row, column]
        region = page[place.rows, place.columns]
        ink = ink_in_box(digit, region.shape, rng)
        page[place.rows, place.columns] = region * (1 - ink) + pen * ink
    return page


def photo_corners(shape: tuple[int, int], rng: np.random.Generator, hard: bool, quarter_turns: int) -> np.ndarray:
    """Where the page's corners (top-left, top-right, bottom-right, bottom-left; x, y) lie in the photo: the page
    turned by `quarter_turns` quarters and a little more, each corner moved as a phone held at an angle sees it,
    the desk around it."""
    height, width = shape
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], float) - [width / 2, height / 2]
    angle = np.radians(90 * quarter_turns + rng.uniform(-1, 1) * PHOTOS[hard]["turn"])
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = corners @ turn.T + rng.uniform(-1, 1, (4, 2)) * PHOTOS[hard]["corners"] * max(shape)
    return corners - corners.min(axis=0) + rng.uniform(*DESK_MARGIN, size=2) * max(shape)


def sheet_photo(
    page: np.ndarray, rng: np.random.Generator, path: Path, hard: bool = True, quarter_turns: int = 0
) -> Path:
    """A phone's JPEG photo of the page at `path`: unevenly lit, on a darker desk, seen at an angle and turned (by
    `quarter_turns` quarters too: 2 is upside down), blurred, noisy, its pixels stored turned with an EXIF
    orientation tag (6 or 3) saying how to show them. `hard`: the angles, blur and JPEG of a careless photo."""
    settings = PHOTOS[hard]
    lit = page * uneven_light(page.shape, rng)
    corners = photo_corners(page.shape, rng, hard, quarter_turns)
    size = tuple(np.ceil(corners.max(axis=0) + rng.uniform(*DESK_MARGIN) * max(page.shape)).astype(int))
    page_corners = [[0, 0], [page.shape[1], 0], [page.shape[1], page.shape[0]], [0, page.shape[0]]]
    coefficients = tuple(homography(corners, page_corners))
    seen = [
        np.asarray(
            Image.fromarray(levels.astype(np.float32), "F").transform(
                size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC
            )
        )  # fmt: skip
        for levels in (lit, np.ones_like(lit))
    ]
    desk = rng.uniform(*DESK_GREY) + ndimage.gaussian_filter(rng.normal(0, 0.05, seen[0].shape), 3)
    photo = seen[0] + (1 - seen[1]) * desk
    photo = ndimage.gaussian_filter(photo, rng.uniform(*settings["blur"]))
    photo = photo + rng.normal(0, rng.uniform(*settings["noise"]), photo.shape)
    orientation = int(rng.choice([6, 3]))
    stored = as_image(photo).convert("RGB").transpose(STORED_TURNED[orientation])
    stored.save(path, quality=int(rng.integers(*settings["quality"])), exif=exif_block(orientation, broken=False))
    return path
