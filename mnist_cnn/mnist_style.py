"""Making grey levels MNIST-like: a digit of any photo, scan or drawing as MNIST's makers made theirs.

LeCun, Cortes and Burges took NIST's black-and-white digits, fitted each in a 20x20 box keeping its aspect ratio
(anti-aliasing gave the grey levels), and centred it by its centre of mass in a 28x28 field, light on dark. A user's
image needs a few steps before those: telling paper from ink, taking away a page's uneven light and the desk around
a sheet, and finding the digit's strokes among specks and printed lines. Each step is a function here, named after
what it does, so that a kind of image read badly points at one of them (benchmarks/own_digits.py measures them all).

NumPy, SciPy and Pillow only, so that it is cheap to import.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from PIL import Image
from scipy import ndimage

from mnist_cnn.data import IMAGE_SIZE
from mnist_cnn.errors import ImageError

logger = logging.getLogger(__name__)
# MNIST's digits fill a box this many pixels a side, centred in the IMAGE_SIZE field.
DIGIT_BOX = 20
# Pixels touching at a corner belong to the same shape: a thin diagonal stroke is one stroke.
CORNERS_TOUCH = np.ones((3, 3))
# An image whose ink stands out less than this (on a 0-1 scale) from the paper holds no digit.
MIN_CONTRAST = 0.1
# Pixels with less ink than this share of the strongest are not the digit's, whatever Otsu's level says.
MIN_INK = 0.4
# The paper's level is the commonest of this many bins of grey levels.
PAPER_BINS = 50
# Noise spreads one grey level over the bins beside it: the bins' counts are smoothed with these weights.
NEIGHBOUR_BINS = (1, 2, 1)
# Otsu's level is looked for among this many bins: one a grey level of an 8-bit image.
OTSU_BINS = 256
# Images at least this large a side, unevenly lit, are taken for photos of a page.
PAGE_SIDE = 200
# A page's light varies slowly: it is worked out at about this many pixels a side.
LIGHT_SIDE = 128
# A digit's strokes on a page are narrower than the page's side over this.
PAGE_STROKES = 8
# The light along a page's edges is seen with shapes up to its side over this closed over (a bold digit, a line).
EDGE_STROKES = 2
# Light is smoothed over at least this many pixels a side (a smaller window smooths nothing).
SMALLEST_WINDOW = 3
# Where a page is darker than this, its light is taken as this, so that dividing by it keeps the ink finite.
DARKEST_LIGHT = 0.05
# The side of the page the ink stands out more on is judged by its strongest pixels: all but this share of them.
STRONGEST_INK_PERCENTILE = 99.9
# Paper along the image's edges varying more than this (from its low to its high percentile) is unevenly lit.
UNEVEN_LIGHT = 0.08
# How much levels vary is measured between these percentiles, so that a few stray pixels do not count.
LOW_PERCENTILE = 10
HIGH_PERCENTILE = 90
# A bright region at least this share of the image, nearly a rectangle, with little inside it, is a sheet on a desk.
SHEET_SHARE = 0.15
# How nearly a rectangle: its share of the box around it, holes filled.
SHEET_RECTANGLE = 0.85
# How little inside it: the largest share of it that may be darker than the paper.
SHEET_INK = 0.15
# A sheet's own edge (a shadow, a curl) is cut off: its side over this, on each side.
SHEET_EDGE = 30
# A shape reaching a page's edge whose box spans this share of the page's width or height is the page's frame.
FRAME_SPAN = 0.5
# Parts of a digit lie within this share of its largest part's size of each other (a broken 8, a thin pen's gaps).
PART_GAP = 0.12
# Parts smaller than this share of the digit's ink are specks of dust.
SPECK = 0.01
# Groups of parts with less ink than this share of the largest are dust or smudges away from the digit.
SMUDGE = 0.1
# Shapes at least this share of the largest, apart from each other, are taken for several digits.
SIMILAR_SHAPE = 0.3
# MNIST's strokes are at least about this share of the digit's size: thinner pen strokes are thickened to it.
STROKE_FRACTION = 0.1
# Nine in ten of MNIST's training digits have strokes at most this share of their size: a marker's are thinned to it.
THICK_STROKE_FRACTION = 0.25
# Strokes worn down by less than this many pixels a side are left as they are.
LEAST_WEAR = 0.5
# The strokes' soft (anti-aliased) edges reach this many pixels beyond them.
SOFT_EDGE = 2
# Ink fainter than this (on a 0-1 scale) lies outside the digit's box.
FAINT_INK = 0.05
# A pencil's or chalk's strokes count as full ink, as MNIST's do: the strokes' ink at this percentile is full.
FULL_INK_PERCENTILE = 90
# A pencil's grain is smoothed over this many pixels a side ...
GRAIN_WINDOW = 5
# ... each pixel taken as a stroke's where more than this share of the window around it is.
GRAIN_MAJORITY = 0.5


def image_to_mnist(grey: np.ndarray, name: str = "image") -> np.ndarray:
    """A grey image (any size, dark on light or light on dark; a photo, scan or drawing) as a (28, 28, 1) MNIST-style
    digit in [0, 1]: the ink found on its paper, cropped to the digit, strokes as wide as MNIST's, fitted in
    20x20 and centred by mass in 28x28. Raises ImageError, naming `name`, where there is no digit."""
    ink, strokes = ink_and_strokes(grey, name)
    shapes = shapes_side_by_side(strokes)
    if shapes > 1:
        logger.warning(f"note: {name}: {shapes} digit-like shapes side by side, read as one digit: crop it to one")
    return digit_to_mnist(ink, strokes, name)


def ink_and_strokes(grey: np.ndarray, name: str = "image") -> tuple[np.ndarray, np.ndarray]:
    """The ink on the image's paper (light on dark, strongest 1; the sheet alone where it is a photo of one on a
    desk) and the pixels of its strokes. Raises ImageError, naming `name`, where there are none."""
    sheet = sheet_of_paper(grey)
    page = sheet is not None or is_a_page(grey)
    grey = grey if sheet is None else sheet
    ink = ink_on_paper(grey, page)
    if ink.max() < MIN_CONTRAST:
        raise ImageError(f"{name}: no digit found (the image is blank or has almost no contrast)")
    ink = ink / ink.max()
    strokes = digit_strokes(ink)
    if not strokes.any():
        raise ImageError(f"{name}: no digit found (nothing stands out from the paper as strokes do)")
    return ink, strokes


def digit_to_mnist(ink: np.ndarray, strokes: np.ndarray, name: str = "image") -> np.ndarray:
    """The digit whose `strokes` lie in `ink` as MNIST made theirs: cropped to it, strokes as wide as MNIST's,
    fitted in 20x20 and centred by mass in 28x28, (28, 28, 1)."""
    digit = fit_in_box(pen_of_mnist_width(*crop_to_digit(ink, strokes)))
    if digit.sum() == 0:
        raise ImageError(f"{name}: no digit found after resizing")
    return centre_by_mass(digit)[..., np.newaxis]


# Paper and ink.


def border(grey: np.ndarray) -> np.ndarray:
    """The pixels along the image's four edges: paper, in all but the tightest crops."""
    return np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])


def paper_level(grey: np.ndarray) -> float:
    """The paper's grey level: the commonest level along the image's edges and over the whole image, each counted
    as a share (a digit touching the edges in a tight crop, or a thick stroke, changes the median, not the mode; a
    printed line along one edge is rare over the whole image)."""
    shares = (np.histogram(levels, bins=PAPER_BINS, range=(0, 1))[0] / levels.size for levels in (border(grey), grey))
    counts = sum(shares)
    edges = np.linspace(0, 1, PAPER_BINS + 1)
    counts = np.convolve(counts, NEIGHBOUR_BINS, mode="same")
    return float((edges[np.argmax(counts)] + edges[np.argmax(counts) + 1]) / 2)


def ink_is_dark(grey: np.ndarray, paper: float) -> bool:
    """Whether the ink is darker than the paper: what differs clearly from the paper is mostly darker. How much of
    the image is ink does not matter, only which side of the paper it lies."""
    darker = np.clip(paper - grey - MIN_CONTRAST, 0, None).sum()
    lighter = np.clip(grey - paper - MIN_CONTRAST, 0, None).sum()
    return bool(darker >= lighter)


def ink_on_paper(grey: np.ndarray, page: bool = False) -> np.ndarray:
    """How much ink each pixel holds, in [0, 1], light on dark as MNIST, above the paper: the paper's own level taken
    away; on a `page` (a photo of one), the light falling across it, whose edges say nothing of the ink."""
    if page:  # the paper's commonest level may be a shadow's: the side the ink stands out more on is the ink's
        dark, light = ink_under_page_light(grey, dark=True), ink_under_page_light(grey, dark=False)
        stronger = np.percentile(dark, STRONGEST_INK_PERCENTILE) >= np.percentile(light, STRONGEST_INK_PERCENTILE)
        return without_the_frame(dark if stronger else light)
    paper = paper_level(grey)
    return np.clip(paper - grey if ink_is_dark(grey, paper) else grey - paper, 0, 1)


def ink_under_page_light(grey: np.ndarray, dark: bool) -> np.ndarray:
    """Ink on a page lit unevenly, as a scanner's flat-field correction sees it: each pixel against the light that
    falls on the paper there (dark ink takes a share of that light away; light ink adds to it)."""
    light = page_light(grey, dark, size=min(grey.shape) / PAGE_STROKES)
    return np.clip((light - grey) / np.maximum(light, DARKEST_LIGHT) if dark else grey - light, 0, 1)


def page_light(grey: np.ndarray, dark: bool, size: float) -> np.ndarray:
    """The paper's level all over the page: the strokes narrower than `size` pixels closed over by the paper around
    them (dark ink; opened, light ink), smoothed; worked out at about LIGHT_SIDE pixels a side (light varies
    slowly)."""
    scale = min(1.0, LIGHT_SIDE / min(grey.shape))
    small_shape = (max(1, round(grey.shape[0] * scale)), max(1, round(grey.shape[1] * scale)))
    small = np.asarray(Image.fromarray(grey.astype(np.float32)).resize(small_shape[::-1], Image.Resampling.BOX))
    width = max(SMALLEST_WINDOW, round(size * scale))
    paper = ndimage.grey_closing(small, size=width) if dark else ndimage.grey_opening(small, size=width)
    paper = ndimage.uniform_filter(paper, size=width)
    return np.asarray(Image.fromarray(paper).resize(grey.shape[::-1], Image.Resampling.BILINEAR), dtype=np.float32)


# A page's light and the desk around it.


def without_the_frame(ink: np.ndarray) -> np.ndarray:
    """A page's ink map without the frame (the sheet's edge, the desk, a shadow), where anything is left: the shapes
    that reach the photo's edge and run along it (the digit is written on the page, not across its edge; a stroke
    written close to the edge reaches it over a short stretch only)."""
    shapes, count = ndimage.label(ink > max(otsu_threshold(ink), MIN_INK * ink.max()), structure=CORNERS_TOUCH)
    framed = np.array(
        [label for label in np.setdiff1d(np.unique(border(shapes)), [0]) if along_the_edge(shapes == label)]
    )
    if len(framed) == count:
        return ink
    return np.where(np.isin(shapes, framed), 0, ink)


def along_the_edge(shape: np.ndarray) -> bool:
    """Whether a shape reaching the image's edge runs along it: its box spans FRAME_SPAN of the image's width or
    height."""
    rows, columns = np.flatnonzero(shape.any(axis=1)), np.flatnonzero(shape.any(axis=0))
    spans = (rows[-1] - rows[0] + 1) / shape.shape[0], (columns[-1] - columns[0] + 1) / shape.shape[1]
    return max(spans) >= FRAME_SPAN


def is_a_page(grey: np.ndarray) -> bool:
    """Whether `grey` is a photo of a page: large, the light on its paper uneven along its edges (a slope, a
    shadow). The paper's light is seen with the strokes closed over, so that a digit or printed line reaching the
    edge (a tight crop, squared paper) is not taken for a shadow; edges evenly lit as they are make no page, however
    much of the middle a bold digit fills (closing over its strokes would smear them into the edges' light)."""
    if min(grey.shape) < PAGE_SIDE or uneven(border(grey)) <= UNEVEN_LIGHT:
        return False
    light = page_light(grey, ink_is_dark(grey, paper_level(grey)), size=max(grey.shape) / EDGE_STROKES)
    return bool(uneven(border(light)) > UNEVEN_LIGHT)


def uneven(levels: np.ndarray) -> float:
    """How much `levels` vary: from their LOW_PERCENTILE to their HIGH_PERCENTILE."""
    low, high = np.percentile(levels, [LOW_PERCENTILE, HIGH_PERCENTILE])
    return float(high - low)


def sheet_of_paper(grey: np.ndarray) -> np.ndarray | None:
    """The sheet, where `grey` is a photo of one lying on a darker desk: the bright region that is at least
    SHEET_SHARE of the image, nearly rectangular, holds little but paper and has the desk on three sides at least;
    None where there is none."""
    if min(grey.shape) < PAGE_SIDE:
        return None
    bright = grey > otsu_threshold(grey)
    labels, count = ndimage.label(bright)
    if count == 0:
        return None
    largest = 1 + int(np.argmax(pixels_per_label(bright, labels, count)))
    rows, columns = ndimage.find_objects(labels)[largest - 1]
    region = ndimage.binary_fill_holes(labels[rows, columns] == largest)
    filled = region.sum()
    if (
        filled < SHEET_SHARE * grey.size
        or filled < SHEET_RECTANGLE * region.size
        or (region & ~bright[rows, columns]).sum() > SHEET_INK * filled
        or touched_edges(rows, columns, grey.shape) > 1  # the bright side of a page lit from one side
    ):
        return None
    inset = [max(1, (side.stop - side.start) // SHEET_EDGE) for side in (rows, columns)]
    return grey[rows.start + inset[0] : rows.stop - inset[0], columns.start + inset[1] : columns.stop - inset[1]]


def touched_edges(rows: slice, columns: slice, shape: tuple[int, int]) -> int:
    """How many of the image's four edges a box reaches."""
    return (rows.start == 0) + (columns.start == 0) + (rows.stop == shape[0]) + (columns.stop == shape[1])


# The digit's strokes.


def otsu_threshold(values: np.ndarray) -> float:
    """The level that best splits `values` in [0, 1] into two groups (Otsu's method)."""
    counts, edges = np.histogram(values, bins=OTSU_BINS, range=(0, 1))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    mean_low = np.cumsum(counts * centres) / np.maximum(weight_low, 1)
    mean_high = ((counts * centres).sum() - np.cumsum(counts * centres)) / np.maximum(weight_high, 1)
    return float(centres[np.argmax(weight_low * weight_high * (mean_low - mean_high) ** 2)])


def digit_strokes(ink: np.ndarray) -> np.ndarray:
    """The pixels of the digit: ink above Otsu's level (and MIN_INK), all the parts that lie near each other (a
    broken 8, a thin pen's gaps) but specks. `ink` peaks at 1."""
    strokes = ink > max(otsu_threshold(ink), MIN_INK)
    if not strokes.any():
        return strokes
    return nearby_parts(strokes)


def part_groups(strokes: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The strokes' connected parts, and the groups of parts that lie within PART_GAP of the largest part's size of
    each other: (parts' labels, each part's group, the number of groups)."""
    parts, count = ndimage.label(strokes, structure=CORNERS_TOUCH)
    sizes = pixels_per_label(strokes, parts, count)
    largest = ndimage.find_objects(parts)[int(np.argmax(sizes))]
    gap = PART_GAP * max(side.stop - side.start for side in largest)
    near = within(strokes, gap / 2)
    groups, group_count = ndimage.label(near, structure=CORNERS_TOUCH)
    group_of_part = np.zeros(count + 1, int)
    group_of_part[parts[strokes]] = groups[strokes]
    return parts, group_of_part, group_count


def pixels_per_label(mask: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """How many pixels of `mask` each of the labels 1 to `count` has (ndimage.sum_labels' answer, counted in one
    pass)."""
    return np.bincount(labels[mask], minlength=count + 1)[1 : count + 1].astype(float)


def within(shape: np.ndarray, distance: float) -> np.ndarray:
    """The pixels at most `distance` from the nearest pixel of `shape` (a mask with some pixels set): the distance
    transform worked out only in the box around the shape that can hold them."""
    rows, columns = np.flatnonzero(shape.any(axis=1)), np.flatnonzero(shape.any(axis=0))
    reach = math.floor(distance) + 1
    box = (
        slice(max(rows[0] - reach, 0), rows[-1] + reach + 1),
        slice(max(columns[0] - reach, 0), columns[-1] + reach + 1),
    )
    near = np.zeros_like(shape, dtype=bool)
    near[box] = ndimage.distance_transform_edt(~shape[box]) <= distance
    return near


def nearby_parts(strokes: np.ndarray) -> np.ndarray:
    """The digit's parts: the groups of parts with at least SMUDGE of the most ink (a faint digit's pieces; several
    digits side by side, which get a note), without specks."""
    parts, group_of_part, group_count = part_groups(strokes)
    ink_of_group = pixels_per_label(strokes, group_of_part[parts], group_count)
    kept_groups = 1 + np.flatnonzero(ink_of_group >= SMUDGE * ink_of_group.max())
    digit = np.isin(group_of_part[parts], kept_groups) & strokes
    part_sizes = pixels_per_label(digit, parts, len(group_of_part) - 1)
    specks = 1 + np.flatnonzero((part_sizes > 0) & (part_sizes < SPECK * digit.sum()))
    return digit & ~np.isin(parts, specks)


def shapes_side_by_side(strokes: np.ndarray) -> int:
    """How many shapes of the digit's size stand side by side, apart from each other's columns: more than one where
    an image holds several digits ("38"); a digit's own parts (a broken 8) are one shape."""
    parts, group_of_part, group_count = part_groups(strokes)
    if group_count < 2:
        return group_count
    groups = group_of_part[parts] * strokes
    ink_of_group = pixels_per_label(strokes, groups, group_count)
    spans = sorted(
        (span[1].start, span[1].stop)
        for span, ink in zip(ndimage.find_objects(groups, group_count), ink_of_group, strict=True)
        if span is not None and ink >= SIMILAR_SHAPE * ink_of_group.max()
    )
    count, reach = 0, -1
    for start, stop in spans:
        count += start >= reach
        reach = max(reach, stop)
    return count


# MNIST's own steps: the box of the digit, the pen, the 20x20 box, the centre of mass.


def crop_to_digit(ink: np.ndarray, strokes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ink of the digit alone (its strokes and their soft edges), cut to the box it fills, with its strokes."""
    near = ndimage.binary_dilation(strokes, iterations=SOFT_EDGE)
    digit = np.where(near, ink, 0)
    box = ink_box(digit, above=FAINT_INK)
    strength = np.percentile(ink[strokes], FULL_INK_PERCENTILE)
    return np.clip(digit[box] / strength, 0, 1), strokes[box]


def ink_box(image: np.ndarray, above: float = 0) -> tuple[slice, slice]:
    """The box of the rows and columns where `image` holds more ink than `above` (there must be some)."""
    rows, columns = np.flatnonzero(image.max(axis=1) > above), np.flatnonzero(image.max(axis=0) > above)
    return slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1)


def pen_of_mnist_width(digit: np.ndarray, strokes: np.ndarray) -> np.ndarray:
    """Strokes thinner than MNIST's (a fine pen at high resolution, which would fade away at 20 pixels) drawn again
    with a round pen STROKE_FRACTION of the digit's size wide; strokes wider than MNIST's (a thick marker, whose
    width fills an 8's loops) worn down to THICK_STROKE_FRACTION of it. The stroke's width is its area over half its
    outline."""
    stroke = stroke_width(strokes)
    size = max(digit.shape)
    if stroke > THICK_STROKE_FRACTION * size:
        return thinner(digit, (stroke - THICK_STROKE_FRACTION * size) / 2)
    wanted = STROKE_FRACTION * size
    if stroke >= wanted:
        return digit
    outside = ndimage.distance_transform_edt(~strokes)
    return np.maximum(digit, np.clip((wanted - stroke) / 2 + 0.5 - outside, 0, 1))


def thinner(digit: np.ndarray, by: float) -> np.ndarray:
    """The digit's strokes worn down by `by` pixels on each side (a grey erosion by a disc), cut to its box again."""
    if by < LEAST_WEAR:
        return digit
    worn = eroded_by_disc(digit, by)
    return worn[ink_box(worn, above=FAINT_INK)] if worn.max() > FAINT_INK else digit


def eroded_by_disc(image: np.ndarray, radius: float) -> np.ndarray:
    """The grey erosion of `image` by a disc of `radius` pixels: the least of its erosions by the disc's widest
    rectangle at each height, each a separable minimum filter (the same values, many times faster on a large
    image than the disc's footprint)."""
    reach = math.ceil(radius)
    down, across = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    disc = down**2 + across**2 <= radius**2
    if reach >= min(image.shape):  # past the image's far edge scipy's two filters fill in differently: as before
        return ndimage.grey_erosion(image, footprint=disc)
    widths = disc[reach:].sum(axis=1)  # the disc's lower half, row by row
    worn = image
    for height, width in enumerate(widths):
        if width and (height == reach or widths[height + 1] < width):  # else a taller rectangle covers this one
            worn = np.minimum(worn, ndimage.minimum_filter(image, size=(2 * height + 1, width)))
    return worn


def stroke_width(strokes: np.ndarray) -> float:
    """The strokes' width in pixels: their area over half their outline. A pencil's or chalk's grain (paper dotted
    through a stroke, ragged edges) is no outline: the width is also measured with the strokes smoothed (each pixel
    as most of the 5x5 around it), and the wider of the two is theirs (smoothing only thins a clean thin line)."""
    solid = ndimage.uniform_filter(strokes.astype(np.float32), size=GRAIN_WINDOW) > GRAIN_MAJORITY
    return max(area_over_half_outline(strokes), area_over_half_outline(solid))


def area_over_half_outline(strokes: np.ndarray) -> float:
    outline = (strokes & ~ndimage.binary_erosion(strokes)).sum()
    return 2 * strokes.sum() / max(outline, 1)


def fit_in_box(digit: np.ndarray) -> np.ndarray:
    """The digit fitted in DIGIT_BOX x DIGIT_BOX keeping its aspect ratio, anti-aliased; strongest ink 1."""
    scale = DIGIT_BOX / max(digit.shape)
    height, width = (max(1, round(side * scale)) for side in digit.shape)
    if (height, width) != digit.shape:
        resized = Image.fromarray(digit.astype(np.float32)).resize((width, height), Image.Resampling.LANCZOS)
        digit = np.clip(np.asarray(resized, dtype=np.float32), 0, 1)
    return digit / digit.max() if digit.max() > 0 else digit


def centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """The digit in a 28x28 field, its centre of mass at the field's centre (as far as the field allows)."""
    height, width = digit.shape
    total = digit.sum()
    centre_row = (digit.sum(axis=1) * np.arange(height)).sum() / total
    centre_column = (digit.sum(axis=0) * np.arange(width)).sum() / total
    top = int(np.clip(round(IMAGE_SIZE / 2 - centre_row), 0, IMAGE_SIZE - height))
    left = int(np.clip(round(IMAGE_SIZE / 2 - centre_column), 0, IMAGE_SIZE - width))
    field = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    field[top : top + height, left : left + width] = digit
    return field
