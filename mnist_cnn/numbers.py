"""Reading a written number: every digit in an image, left to right along one line of writing.

The strokes (mnist_cnn.mnist_style) are grouped into digits: parts whose columns overlap are one digit's (a 5's bar,
a broken 4). A group too wide to be one digit may be digits that touch: it is cut where the model reads the pieces
best, the classic segmentation guided by recognition (Casey and Lecolinet, 1996): every way of cutting it at
candidate columns is scored by the product of the pieces' probabilities and how much each looks like a digit
(mnist_cnn.novelty), and dynamic programming finds the best. A shape alone in its image is read as one digit unless
it is no digit whole: then it is cut where the pieces read much better, or where the counter (mnist_cnn.counter)
takes it for several digits written touching. The costs were chosen on validation digits (docs/numbers.md). Each
digit is then made MNIST-like as one digit alone is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.sparse.csgraph import connected_components

from mnist_cnn.counter import line_image, several_digits
from mnist_cnn.errors import ImageError
from mnist_cnn.mnist_style import CORNERS_TOUCH, SOFT_EDGE, digit_to_mnist, ink_box, shapes_side_by_side
from mnist_cnn.novelty import DigitReader

# Parts whose column spans overlap by at least this share of the narrower one are one digit's.
SAME_COLUMNS = 0.5
# Groups with less ink than this share of the most inked are parts of a digit (a dot of a broken stroke), not digits ...
FRAGMENT = 0.15
# ... as are groups less high than this share of the highest (a 5's bar written apart from its body).
SHORT_PART = 0.4
# A group at least this much wider than high may be digits that touch (one in ten MNIST digits is wider than high) ...
SPLIT_ASPECT = 1.0
# No piece is wider than this share of its height: wider than all but one in a hundred of MNIST's digits.
WIDEST_PIECE = 1.45
# A group alone in its image is cut only where its pieces are this much likelier (in the log) than the whole, so
# that an image of one digit reads as one digit ...
LONE_DIGIT = 0.5
# ... or, where it is no wider than WIDEST_PIECE (as wide as one digit can be), this much likelier, each piece's
# novelty under this share of the threshold: a shape that is no digit is not cut into pieces that barely pass.
LONE_NARROW, NARROW_PIECE_NOVELTY = 1.5, 0.5
# ... and into at most this many pieces: a blot of ink is not slivers read as 1s.
NARROW_PIECES = 2
# A group alone in its image that the check refuses whole, at least this much wider than high (two digits overlapping
# can be narrower than high), is read as pieces where the counter's logit (mnist_cnn.counter) is above SEVERAL_DIGITS,
# each piece's novelty under SEVERAL_PIECE_NOVELTY of the threshold: several digits touching, not a letter's parts.
SEVERAL_ASPECT, SEVERAL_DIGITS, SEVERAL_PIECE_NOVELTY = 0.6, 4.0, 0.75
# Pieces are read from the group shrunk to at most this many pixels high (a photo's digit can be 1,000 high).
PIECE_HEIGHT = 84
# The narrowest piece a group is cut into, as a share of its height (a 1 is narrow).
NARROWEST_PIECE = 0.15
# Candidate cuts lie this share of the group's height apart, besides the columns with least ink.
CUT_STEP = 0.08
# Each digit read costs this (in the log of probabilities), so that a digit is not cut into slivers read as 1s ...
PIECE_COST = 0.3
# ... and so does its novelty (mnist_cnn.novelty), this much at the threshold: pieces must look like digits.
NOVELTY_WEIGHT = 3.0
# Probabilities are floored at this before their logarithm.
EPSILON = 1e-7


@dataclass
class WrittenDigit:
    """One digit of a number: its MNIST-like image, where it stands in the ink map (rows, columns), and the model's
    probabilities for it, and its novelty score."""

    image: np.ndarray
    box: tuple[slice, slice]
    probabilities: np.ndarray
    novelty: float


def column_span(box: tuple[slice, slice]) -> tuple[int, int]:
    """The first and one past the last column of a box."""
    return box[1].start, box[1].stop


def digit_groups(strokes: np.ndarray) -> list[np.ndarray]:
    """The strokes as the digits' masks, left to right: parts whose columns overlap are one digit's, and a fragment
    (little ink, or low) joins the digit nearest to it."""
    parts, count = ndimage.label(strokes, structure=CORNERS_TOUCH)
    spans = np.array([column_span(box) for box in ndimage.find_objects(parts)])
    shared = np.minimum.outer(spans[:, 1], spans[:, 1]) - np.maximum.outer(spans[:, 0], spans[:, 0])
    widths = spans[:, 1] - spans[:, 0]
    _, group = connected_components(shared >= SAME_COLUMNS * np.minimum.outer(widths, widths), directed=False)
    masks = [np.isin(parts, 1 + np.flatnonzero(group == label)) for label in range(group.max() + 1)]
    ink = np.array([mask.sum() for mask in masks], dtype=float)
    heights = np.array([np.ptp(np.flatnonzero(mask.any(axis=1))) + 1 for mask in masks], dtype=float)
    whole = (ink >= FRAGMENT * ink.max()) & (heights >= SHORT_PART * heights.max())
    digits = [mask for mask, kept in zip(masks, whole, strict=True) if kept]
    for mask in (mask for mask, kept in zip(masks, whole, strict=True) if not kept):
        nearest = min(range(len(digits)), key=lambda index: column_gap(digits[index], mask))
        digits[nearest] = digits[nearest] | mask
    return sorted(digits, key=centre_column)


def centre_column(mask: np.ndarray) -> float:
    """The mean column of a mask's pixels."""
    return float(np.flatnonzero(mask.any(axis=0)).mean())


def column_gap(first: np.ndarray, second: np.ndarray) -> int:
    """How many columns lie between two masks' column spans (0 where they overlap)."""
    a, b = np.flatnonzero(first.any(axis=0)), np.flatnonzero(second.any(axis=0))
    return max(0, a[0] - b[-1], b[0] - a[-1])


def box_of(mask: np.ndarray, margin: int = 0) -> tuple[slice, slice]:
    """The box of a mask's pixels (mnist_style.ink_box), widened by `margin` pixels where the image allows."""
    return tuple(
        slice(max(side.start - margin, 0), min(side.stop + margin, size))
        for side, size in zip(ink_box(mask), mask.shape, strict=True)
    )


def cut_columns(strokes: np.ndarray) -> list[int]:
    """Where a group (its strokes cut to their box) may be cut: every CUT_STEP of its height and at the columns where
    its ink is least (strictly less than on either side, smoothed over CUT_STEP of its height, so that a pencil's
    grain makes no minima), the two ends included."""
    height, width = strokes.shape
    step = max(1, round(CUT_STEP * height))
    profile = ndimage.uniform_filter1d(strokes.sum(axis=0).astype(float), size=max(3, step))
    least = np.flatnonzero((profile[1:-1] < profile[:-2]) & (profile[1:-1] < profile[2:])) + 1
    return sorted({0, width, *range(step, width, step), *least.tolist()})


def pieces(strokes: np.ndarray) -> list[tuple[int, int]]:
    """The spans of columns a group may be cut into, as (first, one past the last) columns: all those between two
    candidate cuts from NARROWEST_PIECE to WIDEST_PIECE of its height wide holding some ink."""
    cuts = cut_columns(strokes)
    height = strokes.shape[0]
    return [
        (start, stop)
        for index, start in enumerate(cuts)
        for stop in cuts[index + 1 :]
        if NARROWEST_PIECE * height <= stop - start <= WIDEST_PIECE * height and strokes[:, start:stop].any()
    ]


def shrunk(ink: np.ndarray, strokes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A group's ink and strokes at most PIECE_HEIGHT pixels high."""
    if ink.shape[0] <= PIECE_HEIGHT:
        return ink, strokes
    size = (max(1, round(ink.shape[1] * PIECE_HEIGHT / ink.shape[0])), PIECE_HEIGHT)
    small_ink = np.asarray(Image.fromarray(ink.astype(np.float32)).resize(size, Image.Resampling.BOX))
    small_strokes = np.asarray(Image.fromarray(strokes.astype(np.float32)).resize(size, Image.Resampling.BOX)) > 0.5
    return small_ink, small_strokes


def best_cuts(spans: list[tuple[int, int]], costs: np.ndarray, width: int) -> list[int]:
    """The spans (by index) that cover columns 0 to `width` at the least total cost (dynamic programming)."""
    best: dict[int, tuple[float, list[int]]] = {0: (0.0, [])}
    for index in sorted(range(len(spans)), key=lambda i: spans[i]):
        start, stop = spans[index]
        if start in best:
            total = best[start][0] + costs[index]
            if stop not in best or total < best[stop][0]:
                best[stop] = (total, [*best[start][1], index])
    return best[width][1] if width in best else []


@dataclass
class Readings:
    """The ways one group of strokes may be read: its box in the ink map, its ink and strokes cut to the box, and
    the spans of its columns (the whole first) with each one's MNIST-like image."""

    box: tuple[slice, slice]
    ink: np.ndarray
    strokes: np.ndarray
    spans: list[tuple[int, int]]
    images: list[np.ndarray]

    @property
    def aspect(self) -> float:
        """The group's width over its height."""
        rows = np.flatnonzero(self.strokes.any(axis=1))
        return self.strokes.shape[1] / (rows[-1] - rows[0] + 1)

    def may_be_several(self) -> bool:
        """Whether the group may be digits that touch: wider than SPLIT_ASPECT of its height, not yet cut."""
        return len(self.spans) == 1 and self.aspect > SPLIT_ASPECT

    def add_pieces(self) -> None:
        """Add every piece the group may be cut into (read from the group shrunk to PIECE_HEIGHT), its span in the
        group's own columns."""
        ink, strokes = shrunk(self.ink, self.strokes)
        scale = self.strokes.shape[1] / strokes.shape[1]
        for start, stop in pieces(strokes):
            span = (round(start * scale), round(stop * scale))
            if span != self.spans[0] and (image := piece_image(ink, strokes, start, stop)) is not None:
                self.spans.append(span)
                self.images.append(image)


def group_readings(ink: np.ndarray, group: np.ndarray, name: str) -> Readings:
    """The whole group as one digit."""
    box = box_of(group, margin=SOFT_EDGE)
    near, strokes = ink[box], group[box]
    return Readings(box, near, strokes, [(0, strokes.shape[1])], [digit_to_mnist(near, strokes, name)])


def number_readings(ink: np.ndarray, strokes: np.ndarray, name: str = "image") -> list[Readings]:
    """The readings of every group of strokes in an ink map (mnist_style.ink_and_strokes), left to right; all its
    strokes as one group where they make one digit-like shape (as mnist_style counts them), so that an image of one
    digit reads exactly as one digit alone always has."""
    if shapes_side_by_side(strokes) <= 1:
        return [group_readings(ink, strokes, name)]
    return [group_readings(ink, group, name) for group in digit_groups(strokes)]


def chosen_digits(
    readings: Readings,
    probabilities: np.ndarray,
    novelty: np.ndarray,
    threshold: float,
    lone: bool = False,
    several: bool = False,
) -> list[WrittenDigit]:
    """The digits of a group: the readings (their probabilities and novelty scores given) that cover it at the least
    cost, left to right; a group `lone` in its image is read whole unless cutting costs LONE_DIGIT less (LONE_NARROW,
    into at most NARROW_PIECES, each piece's novelty under NARROW_PIECE_NOVELTY of the threshold, else whole, where it
    is no wider than WIDEST_PIECE); one the counter takes for `several` digits is read as pieces, each piece's novelty
    under SEVERAL_PIECE_NOVELTY of the threshold, else whole."""
    costs = PIECE_COST - np.log(np.maximum(probabilities.max(axis=1), EPSILON)) + NOVELTY_WEIGHT * novelty / threshold
    narrow = lone and readings.aspect <= WIDEST_PIECE
    if several:
        costs[0] = np.inf
    elif lone:
        costs[0] -= LONE_NARROW if narrow else LONE_DIGIT
    chosen = best_cuts(readings.spans, costs, readings.spans[0][1]) or [0]
    if narrow and (len(chosen) > NARROW_PIECES or novelty[chosen].max() > NARROW_PIECE_NOVELTY * threshold):
        chosen = [0]
    if several and novelty[chosen].max() > SEVERAL_PIECE_NOVELTY * threshold:
        chosen = [0]
    box = readings.box
    return [
        WrittenDigit(
            readings.images[index],
            (box[0], slice(box[1].start + readings.spans[index][0], box[1].start + readings.spans[index][1])),
            probabilities[index],
            float(novelty[index]),
        )
        for index in chosen
    ]


def read_all(reader: DigitReader, groups: list[Readings]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each group's probabilities and novelty scores, the model run once over all of their images."""
    images = [image for readings in groups for image in readings.images]
    if not images:
        return []
    probabilities, novelty = reader.read(np.stack(images))
    limits = np.cumsum([0] + [len(readings.images) for readings in groups])
    return [(probabilities[a:b], novelty[a:b]) for a, b in zip(limits[:-1], limits[1:], strict=True)]


def read_numbers(reader: DigitReader, numbers: list[list[Readings]]) -> list[list[WrittenDigit]]:
    """The digits of several images' readings: every group read whole; a shape alone in its image that is no digit
    and wider than high, or wider than any, read as the digits its columns make (digits_apart); then each group cut
    where it may be several digits (a group alone in its image, only where it is no digit as a whole, and then also
    where the counter takes it for several), the model run once over all wholes, once over the digits apart where
    there are any, and once over all pieces."""
    threshold = reader.check.threshold
    first = [readings for number in numbers for readings in number]
    read_whole = dict(zip(map(id, first), read_all(reader, first), strict=True))
    numbers = [
        digits_apart(number[0], read_whole[id(number[0])][1][0], threshold) if len(number) == 1 else number
        for number in numbers
    ]
    apart = [readings for number in numbers for readings in number if id(readings) not in read_whole]
    read_whole |= dict(zip(map(id, apart), read_all(reader, apart), strict=True))
    groups = [(readings, len(number) == 1) for number in numbers for readings in number]
    wholes = [read_whole[id(readings)] for readings, _ in groups]
    refused = [
        readings
        for (readings, lone), (_, novelty) in zip(groups, wholes, strict=True)
        if lone and novelty[0] > threshold
    ]
    counted = {id(readings) for readings, several in zip(refused, counted_several(refused), strict=True) if several}
    for (readings, lone), (_, novelty) in zip(groups, wholes, strict=True):
        if id(readings) in counted or (readings.may_be_several() and (not lone or novelty[0] > threshold)):
            readings.add_pieces()
    cut = [readings for readings, _ in groups if len(readings.spans) > 1]
    answers = dict(zip(map(id, cut), read_all(reader, cut), strict=True))
    chosen = iter(
        chosen_digits(readings, *answers.get(id(readings), whole), threshold, lone, id(readings) in counted)
        for (readings, lone), whole in zip(groups, wholes, strict=True)
    )
    return [[digit for _ in number for digit in next(chosen)] for number in numbers]


def counted_several(groups: list[Readings]) -> list[bool]:
    """Whether the counter takes each group, where it is wider than SEVERAL_ASPECT of its height, for several digits."""
    wide = [readings.aspect > SEVERAL_ASPECT for readings in groups]
    if not any(wide):
        return wide
    lines = [line_image(readings.ink, readings.strokes) for readings, kept in zip(groups, wide, strict=True) if kept]
    logits = iter(several_digits(np.stack(lines)))
    return [bool(next(logits) > SEVERAL_DIGITS) if kept else False for kept in wide]


def digits_apart(readings: Readings, novelty: float, threshold: float) -> list[Readings]:
    """A shape alone in its image (digits written close count as one) read as the digits its columns make
    (digit_groups), where as a whole it is no digit (`novelty` above `threshold`) and wider than high, as digits side by
    side are, or wider than any digit; else itself."""
    if readings.aspect <= SPLIT_ASPECT or (novelty <= threshold and readings.aspect <= WIDEST_PIECE):
        return [readings]
    groups = digit_groups(readings.strokes)
    if len(groups) < 2:
        return [readings]
    try:
        parts = [group_readings(readings.ink, group, "image") for group in groups]
    except ImageError:
        return [readings]  # a group too faint to be made MNIST-like: the shape is read whole, as before
    for part in parts:  # boxes in the shape's box, moved into the ink map's
        part.box = tuple(
            slice(side.start + at.start, side.stop + at.start) for side, at in zip(part.box, readings.box, strict=True)
        )
    return parts


def piece_image(ink: np.ndarray, strokes: np.ndarray, start: int, stop: int) -> np.ndarray | None:
    """The MNIST-like image of the piece of a group between two columns, or None where too little of it is left."""
    try:
        return digit_to_mnist(ink[:, start:stop], strokes[:, start:stop])
    except ImageError:
        return None


def read_number(reader: DigitReader, ink: np.ndarray, strokes: np.ndarray, name: str = "image") -> list[WrittenDigit]:
    """Every digit in an ink map and its strokes (mnist_style.ink_and_strokes), left to right."""
    return read_numbers(reader, [number_readings(ink, strokes, name)])[0]
