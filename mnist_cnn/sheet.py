"""A sheet to write your own digits on, and reading a photo of it: each box's digit made MNIST-like, with the label of
its row, so that a model can be fine-tuned on your handwriting (mnist_cnn.tune).

The sheet has ten rows, one per digit, of BOXES_PER_ROW boxes, and four solid corner marks; the top-left mark has a
white square in it, so that a sheet photographed upside down or turned still reads right. A4 and Letter carry the
same form (marks, boxes, text) centred on the paper, so that a photo is read without knowing which paper it is.

Reading a photo is three steps of geometry: find the corner marks (dark against the light around them, solid, square,
of one size, spanning the sheet), map the photo onto the form by the projective transform the four marks' centres
give (a homography: 8 unknowns, NumPy's least squares), and straighten the photo with it at a fixed resolution
(Pillow's Image.transform). Pillow and SciPy, already dependencies, do each in a few lines: OpenCV or scikit-image
would add a large dependency for nothing we need. Each box's inside then goes through the digit pipeline of any image
file (mnist_cnn.mnist_style), the page's uneven light evened first; a box is "empty", "two digits", "scribble" or a
"digit", and only digits are learnt.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from mnist_cnn.data import IMAGE_SIZE
from mnist_cnn.errors import ImageError, MnistCnnError
from mnist_cnn.files import atomic_path
from mnist_cnn.image_files import read_grey_image, upright_levels
from mnist_cnn.mnist_style import digit_to_mnist, ink_and_strokes, ink_box, ink_under_page_light, shapes_side_by_side

# Paper sizes, width and height in mm.
PAPERS: dict[str, tuple[float, float]] = {"a4": (210.0, 297.0), "letter": (215.9, 279.4)}
MM_PER_INCH = 25.4
# The PNG for printing is drawn at this many dots per inch.
PRINT_DPI = 300

# The form, the same on every paper: its width and height in mm (A4's width and Letter's height, less 12 mm a side
# that most printers cannot print near the edge).
FORM = (186.0, 255.4)
# Corner marks: solid black squares this many mm a side in the form's corners ...
MARK_SIDE = 10.0
# ... the top-left one with a white square this many mm a side at its centre.
HOLE_SIDE = 4.0
ROWS = 10
BOXES_PER_ROW = 10
# Boxes are this many mm a side, this far apart in a row, and rows this far apart (mm).
BOX_SIDE = 16.0
BOX_GAP = 1.6
ROW_GAP = 6.0
# The row's digit is printed in a column this wide (mm) left of its boxes.
LABEL_WIDTH = 8.0
# The first row's top, in mm from the form's top: below the title and the instruction.
GRID_TOP = 24.0
# The grid's left edge, in mm from the form's left: the labels and boxes centred.
GRID_LEFT = (FORM[0] - LABEL_WIDTH - BOXES_PER_ROW * BOX_SIDE - (BOXES_PER_ROW - 1) * BOX_GAP) / 2
# Boxes are outlined thin and mid-grey, so that the outline is not read as ink; the row's digit printed faintly.
BOX_GREY, BOX_LINE_POINTS = "0.6", 0.6
LABEL_GREY, LABEL_POINTS = "0.72", 13
TITLE = "mnist-cnn: your handwriting"
INSTRUCTION = "write one digit in each box, inside the lines, with a dark pen"
HINT = "then photograph the whole sheet, flat and evenly lit, all four corner marks in the picture"
# A photo of a sheet filled in a hand MNIST lacks, shipped for the lesson (scripts/build_sheet_photo.py made it).
SAMPLE_PHOTO = Path(__file__).parent / "sample" / "sheet-photo.jpg"

# Photos are read at most this many pixels squared: a whole sheet's boxes need more than a single digit's file.
SHEET_SIDE = 2000
# A choice of four marks is the sheet's where the boxes' outlines lie where it puts them: darker by this much (of the
# paper's grey) than the paper 2 mm beside them (printed 0.6 grey: about 0.3 in a photo; elsewhere about 0).
OUTLINE_CONTRAST = 0.1
# How far beside an outline the paper is looked at, and how many pixels either way an outline may lie (mm, pixels).
OUTLINE_BESIDE, OUTLINE_SLACK = 2.0, 2
# At most this many choices of four marks are tried, the widest first.
MOST_CHOICES = 12
# The photo is straightened onto the form at this many pixels a mm.
PIXELS_PER_MM = 8
# A pixel darker than this share of the light around it may be a corner mark's.
MARK_DARKNESS = 0.5
# A mark has at least this many pixels, and fills at least this share of the square around it (a letter does not).
SMALLEST_MARK = 30
MARK_BOX_FILL = 0.45
# A mark's outline is nearly convex (its area this share of its convex hull's at least) ...
MARK_SOLIDITY = 0.85
# ... and nearly square: its long axis at most this many times its short one (seen at an angle).
MARK_ELONGATION = 1.8
# The top-left mark's hole is at least this share of the mark (it is 16% printed; the others have none).
SMALLEST_HOLE = 0.04
# The four marks are about the same size: the largest at most this many times the smallest's area.
MARK_SIZES = 4.0
# Seen at an angle, a mark's side over the square root of the area the four marks' centres span is within this factor
# of the printed sheet's.
MARK_SPAN_SLACK = 2.0
# The corner marks lie on the outside of all the shapes like them (a blacked-out box is one): the candidates are those
# on this many layers of convex hulls (an object on the desk may take the outermost).
HULL_LAYERS = 2
# A box's inside is read this many mm within its outline, so that the printed line is never taken for ink.
BOX_INSET = 1.0
# Ink stronger than this (a share of the paper's light taken away) is counted as written.
WRITTEN_INK = 0.3
# A box with less written ink than this many square mm is empty (a speck, a dot of dust).
EMPTY_INK_MM2 = 1.5
# Written ink covering more than this share of the square around it is a scribble, not a digit: the boldest of 1,000
# MNIST digits written on photographed sheets cover 0.64 of theirs, a box blacked out 0.74 and more (a square, not
# the ink's box: a 1 fills its narrow box).
SCRIBBLE_SHARE = 0.7
# The contact sheet: each box's image enlarged this many times, in a cell this many pixels wide and high.
CONTACT_SCALE = 3
CONTACT_CELL = (100, 112)
CONTACT_HEADER = 30
CONTACT_FONT_POINTS = 12  # in matplotlib's DejaVu Sans: Pillow's own font takes a size from 10.1 on


class SheetError(MnistCnnError):
    """A photo holds no sheet that can be read, or a sheet cannot be written."""


# The form and the sheet on paper.


def paper_size(paper: str) -> tuple[float, float]:
    """The paper's width and height in mm; SheetError naming the choices where there is no such paper."""
    if paper not in PAPERS:
        raise SheetError(f"paper {paper!r}: not a paper this sheet is made for (one of {', '.join(PAPERS)})")
    return PAPERS[paper]


def form_origin(paper: str) -> tuple[float, float]:
    """Where the form's top-left corner lies on the paper, in mm from the paper's top-left: the form centred."""
    width, height = paper_size(paper)
    return (width - FORM[0]) / 2, (height - FORM[1]) / 2


def mark_corners() -> list[tuple[float, float]]:
    """The corner marks' top-left corners in the form (mm): top-left, top-right, bottom-right, bottom-left."""
    right, bottom = FORM[0] - MARK_SIDE, FORM[1] - MARK_SIDE
    return [(0.0, 0.0), (right, 0.0), (right, bottom), (0.0, bottom)]


def box_corner(row: int, column: int) -> tuple[float, float]:
    """A box's top-left corner in the form (mm)."""
    return GRID_LEFT + LABEL_WIDTH + column * (BOX_SIDE + BOX_GAP), GRID_TOP + row * (BOX_SIDE + ROW_GAP)


def sheet_figure(paper: str = "a4") -> Figure:
    """The sheet drawn as a matplotlib Figure of the paper's size, its axes in mm from the paper's top-left."""
    width, height = paper_size(paper)
    left, top = form_origin(paper)
    figure = Figure(figsize=(width / MM_PER_INCH, height / MM_PER_INCH), facecolor="white")
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, width)
    axes.set_ylim(height, 0)
    axes.set_axis_off()
    for x, y in mark_corners():
        axes.add_patch(Rectangle((left + x, top + y), MARK_SIDE, MARK_SIDE, facecolor="black", edgecolor="none"))
    inset = (MARK_SIDE - HOLE_SIDE) / 2
    axes.add_patch(Rectangle((left + inset, top + inset), HOLE_SIDE, HOLE_SIDE, facecolor="white", edgecolor="none"))
    for row in range(ROWS):
        x, y = box_corner(row, 0)
        axes.text(left + x - LABEL_WIDTH / 2, top + y + BOX_SIDE / 2, str(row), ha="center", va="center",
                  fontsize=LABEL_POINTS, color=LABEL_GREY, fontweight="bold")  # fmt: skip
        for column in range(BOXES_PER_ROW):
            x, y = box_corner(row, column)
            box = Rectangle((left + x, top + y), BOX_SIDE, BOX_SIDE, fill=False, edgecolor=BOX_GREY)
            box.set_linewidth(BOX_LINE_POINTS)
            axes.add_patch(box)
    middle = left + FORM[0] / 2
    axes.text(middle, top + MARK_SIDE / 2, TITLE, ha="center", va="center", fontsize=15, fontweight="bold")
    axes.text(middle, top + MARK_SIDE + 5, INSTRUCTION, ha="center", va="center", fontsize=11)
    axes.text(middle, top + FORM[1] - MARK_SIDE / 2, HINT, ha="center", va="center", fontsize=8, color="0.35")
    return figure


def write_sheet(path: str | os.PathLike, paper: str = "a4") -> Path:
    """Write the sheet to `path`, a PDF or a PNG (PRINT_DPI) by its suffix, atomically; return the path."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("pdf", "png"):
        raise SheetError(f"{path}: the sheet is written as a .pdf or a .png file")
    figure = sheet_figure(paper)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format=kind, dpi=PRINT_DPI)
    return path


def sheet_image(paper: str = "a4", dpi: int = 150) -> np.ndarray:
    """The blank sheet as grey levels in [0, 1] (paper 1), `dpi` pixels an inch."""
    figure = sheet_figure(paper)
    figure.set_dpi(dpi)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("L"), dtype=np.float32) / 255


@dataclass(frozen=True)
class BoxPlace:
    """A box of the sheet: its row, column and the digit of its row, and where its square (outline included) lies in
    an image of the page: `page[place.rows, place.columns]`."""

    row: int
    column: int
    label: int
    rows: slice
    columns: slice


def box_places(paper: str = "a4", dpi: int = 150) -> list[BoxPlace]:
    """Every box of the sheet, row by row, and where it lies in `sheet_image(paper, dpi)`."""
    left, top = form_origin(paper)
    scale = dpi / MM_PER_INCH
    places = []
    for row, column in itertools.product(range(ROWS), range(BOXES_PER_ROW)):
        x, y = box_corner(row, column)
        rows = slice(round((top + y) * scale), round((top + y + BOX_SIDE) * scale))
        columns = slice(round((left + x) * scale), round((left + x + BOX_SIDE) * scale))
        places.append(BoxPlace(row, column, row, rows, columns))
    return places


# Reading a photo: the file, the corner marks, the straightened form.


@dataclass
class Mark:
    """A solid, square-ish dark shape that may be a corner mark: its centre (x, y) in pixels, its area (holes
    filled) and the share of it that is a hole."""

    centre: np.ndarray
    area: float
    hole: float


def mark_candidates(dark: np.ndarray) -> list[Mark]:
    """The shapes in a map of dark pixels that may be corner marks: large enough, solid and nearly square, on the
    outside of all such shapes (HULL_LAYERS of their convex hulls)."""
    labels, count = ndimage.label(dark)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    marks = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        height, width = box[0].stop - box[0].start, box[1].stop - box[1].start
        if sizes[index] < SMALLEST_MARK or max(height, width) > MARK_ELONGATION * min(height, width):
            continue
        shape = labels[box] == index
        filled = ndimage.binary_fill_holes(shape)
        area = float(filled.sum())
        if area < MARK_BOX_FILL * height * width or not solid_and_square(filled):
            continue
        rows, columns = ndimage.center_of_mass(filled)
        centre = np.array([box[1].start + columns + 0.5, box[0].start + rows + 0.5])  # pixel centres at +0.5
        marks.append(Mark(centre, area, 1 - shape.sum() / area))
    return outermost(marks, HULL_LAYERS)


def outermost(marks: list[Mark], layers: int) -> list[Mark]:
    """The marks whose centres lie on the first `layers` convex hulls of their centres, each peeled off in turn."""
    outside, inside = [], list(marks)
    for _ in range(layers):
        if len(inside) <= 4:
            return outside + inside
        try:
            hull = set(ConvexHull(np.array([mark.centre for mark in inside])).vertices.tolist())
        except QhullError:  # all in a line
            return outside + inside
        outside += [mark for index, mark in enumerate(inside) if index in hull]
        inside = [mark for index, mark in enumerate(inside) if index not in hull]
    return outside


def solid_and_square(shape: np.ndarray) -> bool:
    """Whether a shape (holes filled) nearly fills its convex hull and its long axis is at most MARK_ELONGATION
    times its short one (by its second moments)."""
    rows, columns = np.nonzero(shape & ~ndimage.binary_erosion(shape))
    corners = np.concatenate([np.stack([columns + dx, rows + dy], axis=1) for dx in (0, 1) for dy in (0, 1)])
    if shape.sum() < MARK_SOLIDITY * ConvexHull(corners).volume:
        return False
    spread = np.linalg.eigvalsh(np.cov(np.stack(np.nonzero(shape)).astype(float)))
    return bool(spread[1] <= MARK_ELONGATION**2 * max(spread[0], 1e-9))


def clockwise(marks: tuple[Mark, ...]) -> list[Mark]:
    """Marks in clockwise order as seen (the image's y axis points down), from the one at the smallest angle."""
    middle = np.mean([mark.centre for mark in marks], axis=0)
    return sorted(marks, key=lambda mark: np.arctan2(*(mark.centre - middle)[::-1]))


def convex_area(points: np.ndarray) -> float:
    """The area of the convex quadrilateral whose corners are `points`; 0 where one lies inside the others' triangle
    or all in a line."""
    try:
        hull = ConvexHull(points)
    except QhullError:
        return 0.0
    return float(hull.volume) if len(hull.vertices) == len(points) else 0.0


def corner_mark_choices(dark: np.ndarray) -> list[list[Mark]]:
    """The ways four of the candidates may be the sheet's corner marks, the widest first, each top-left (the one
    with a hole) first, then clockwise: four of about one size, one of them with a hole, whose size suits the area
    they span."""
    printed = MARK_SIDE / np.sqrt((FORM[0] - MARK_SIDE) * (FORM[1] - MARK_SIDE))
    choices = []
    for four in itertools.combinations(mark_candidates(dark), 4):
        areas = [mark.area for mark in four]
        if max(areas) > MARK_SIZES * min(areas) or sum(mark.hole >= SMALLEST_HOLE for mark in four) != 1:
            continue
        span = convex_area(np.array([mark.centre for mark in four]))
        seen = np.sqrt(np.mean(areas) / max(span, 1))
        if span > 0 and printed / MARK_SPAN_SLACK <= seen <= printed * MARK_SPAN_SLACK:
            ordered = clockwise(four)
            first = int(np.argmax([mark.hole for mark in ordered]))
            choices.append((span, ordered[first:] + ordered[:first]))
    return [marks for _, marks in sorted(choices, key=lambda choice: -choice[0])]


def outline_contrast(form: np.ndarray) -> float:
    """How much darker the straightened form is where the boxes' outlines should lie than on the paper OUTLINE_BESIDE
    from them (above and below the top and bottom outlines, inside the left and right ones), the lesser of the two
    directions: about the outlines' grey where the marks are the sheet's, about 0 else."""
    side, margin = round(BOX_SIDE * PIXELS_PER_MM), round(2 * PIXELS_PER_MM)
    beside, slack = round(OUTLINE_BESIDE * PIXELS_PER_MM), OUTLINE_SLACK
    across, along = ([], []), ([], [])  # (outlines, paper) of the top and bottom outlines, of the left and right ones
    for row, column in itertools.product(range(ROWS), range(BOXES_PER_ROW)):
        left, top = (round(value * PIXELS_PER_MM) for value in box_corner(row, column))
        columns, rows = slice(left + margin, left + side - margin), slice(top + margin, top + side - margin)
        for edge, away in ((top, -beside), (top + side, beside)):
            across[0].append(form[edge - slack : edge + slack + 1, columns].min(axis=0))
            across[1].append(form[edge + away - slack : edge + away + slack + 1, columns].min(axis=0))
        for edge, away in ((left, beside), (left + side, -beside)):
            along[0].append(form[rows, edge - slack : edge + slack + 1].min(axis=1))
            along[1].append(form[rows, edge + away - slack : edge + away + slack + 1].min(axis=1))
    return min(
        float(np.median(np.concatenate(paper)) - np.median(np.concatenate(lines))) for lines, paper in (across, along)
    )


def straightened_sheet(grey: np.ndarray, name: str) -> np.ndarray:
    """The form straightened by the first choice of four marks whose boxes' outlines lie where it puts them;
    SheetError where none does."""
    for marks in corner_mark_choices(ink_under_page_light(grey, dark=True) > MARK_DARKNESS)[:MOST_CHOICES]:
        form = straightened(grey, marks)
        if outline_contrast(form) >= OUTLINE_CONTRAST:
            return form
    raise SheetError(
        f"{name}: the sheet's corner marks were not found (is the whole sheet in the picture, alone, flat and in "
        "focus?)"
    )


def homography(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 8 coefficients (a, b, c, d, e, f, g, h) of the projective map taking each source point (x, y) to its
    target (u, v): u = (ax + by + c) / (gx + hy + 1), v = (dx + ey + f) / (gx + hy + 1); least squares, exact for
    four points. Pillow's Image.transform(..., Image.Transform.PERSPECTIVE, coefficients) maps output to input."""
    x, y = np.asarray(source, float).T
    u, v = np.asarray(target, float).T
    zeros, ones = np.zeros_like(x), np.ones_like(x)
    equations = np.concatenate(
        [
            np.stack([x, y, ones, zeros, zeros, zeros, -u * x, -u * y], axis=1),
            np.stack([zeros, zeros, zeros, x, y, ones, -v * x, -v * y], axis=1),
        ]
    )
    return np.linalg.lstsq(equations, np.concatenate([u, v]), rcond=None)[0]


def straightened(grey: np.ndarray, marks: list[Mark]) -> np.ndarray:
    """The form as seen in the photo, straightened by the marks' centres to PIXELS_PER_MM pixels a mm."""
    centres = (np.array(mark_corners()) + MARK_SIDE / 2) * PIXELS_PER_MM
    size = (round(FORM[0] * PIXELS_PER_MM), round(FORM[1] * PIXELS_PER_MM))
    coefficients = homography(centres, [mark.centre for mark in marks])
    form = Image.fromarray(grey.astype(np.float32), "F").transform(
        size, Image.Transform.PERSPECTIVE, tuple(coefficients), Image.Resampling.BICUBIC
    )
    return np.clip(np.asarray(form, dtype=np.float32), 0, 1)


# Reading the boxes.


@dataclass
class BoxReading:
    """One box as read: its row, column (from 0) and the digit of its row; "digit", "empty", "two digits" or
    "scribble"; a digit's (28, 28, 1) MNIST-style image in [0, 1]; and the box's ink as seen (28x28, for the
    contact sheet)."""

    row: int
    column: int
    label: int
    status: str
    image: np.ndarray | None = field(default=None, repr=False)
    seen: np.ndarray | None = field(default=None, repr=False)


def box_inside(ink: np.ndarray, row: int, column: int) -> np.ndarray:
    """The ink inside a box of the straightened form, BOX_INSET within its outline."""
    left, top = box_corner(row, column)
    start, stop = BOX_INSET * PIXELS_PER_MM, (BOX_SIDE - BOX_INSET) * PIXELS_PER_MM
    left, top = left * PIXELS_PER_MM, top * PIXELS_PER_MM
    return ink[round(top + start) : round(top + stop), round(left + start) : round(left + stop)]


def read_box(ink: np.ndarray, row: int, column: int) -> BoxReading:
    """What a box holds, from the form's ink map: empty (less than EMPTY_INK_MM2 of ink, or nothing that stands out
    as strokes), a scribble (ink covering more than SCRIBBLE_SHARE of the square around it), two digits (shapes side
    by side, as mnist_style and numbers count them), or a digit made MNIST-like."""
    inside = box_inside(ink, row, column)
    seen = np.asarray(Image.fromarray(inside).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX))
    reading = BoxReading(row, column, row, "empty", seen=np.clip(seen, 0, 1))
    written = inside > WRITTEN_INK
    if written.sum() < EMPTY_INK_MM2 * PIXELS_PER_MM**2:
        return reading
    if written.sum() > SCRIBBLE_SHARE * max(side.stop - side.start for side in ink_box(written)) ** 2:
        reading.status = "scribble"
        return reading
    from mnist_cnn.numbers import digit_groups  # numbers imports Keras: writing a sheet need not wait for it

    try:
        digit_ink, strokes = ink_and_strokes(1 - inside)
        if shapes_side_by_side(strokes) > 1 and len(digit_groups(strokes)) > 1:
            reading.status = "two digits"
            return reading
        reading.image = digit_to_mnist(digit_ink, strokes)
    except ImageError:
        return reading
    reading.status = "digit"
    return reading


@dataclass
class SheetReading:
    """A photographed sheet as read: its name and every box, row by row."""

    name: str
    boxes: list[BoxReading]

    def digits(self) -> tuple[np.ndarray, np.ndarray]:
        """The boxes read as digits: their images (N, 28, 28, 1) float32 and their rows' labels (N,)."""
        chosen = [box for box in self.boxes if box.status == "digit"]
        images = np.stack([box.image for box in chosen]) if chosen else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE, 1))
        return images.astype(np.float32), np.array([box.label for box in chosen], dtype=int)

    def problems(self) -> list[str]:
        """One line for each box that held something but no digit to learn."""
        return [
            f"{self.name}: row {box.label}, box {box.column + 1}: {box.status}, not learnt"
            for box in self.boxes
            if box.status not in ("digit", "empty")
        ]

    def save_contact_sheet(self, path: Path) -> Path:
        """Save the contact sheet as a PNG at `path`, whole or not at all."""
        with atomic_path(path) as temporary:
            self.contact_sheet().save(temporary, format="PNG")
        return path

    def contact_sheet(self) -> Image.Image:
        """Every box as read, row by row, for the user to check: a digit as the model will see it, labelled with its
        row's digit; a problem box as seen, framed in red with the reason; an empty box dim."""
        width, height = CONTACT_CELL
        sheet = Image.new("RGB", (BOXES_PER_ROW * width, CONTACT_HEADER + ROWS * height), "white")
        draw = ImageDraw.Draw(sheet)
        font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), CONTACT_FONT_POINTS)
        counts = {status: sum(box.status == status for box in self.boxes) for status in ("digit", "empty")}
        header = f"{self.name}: {counts['digit']} digits, {counts['empty']} empty, {len(self.problems())} not learnt"
        draw.text((8, 8), header, fill="black", font=font)
        side = IMAGE_SIZE * CONTACT_SCALE
        for box in self.boxes:
            left = box.column * width + (width - side) // 2
            top = CONTACT_HEADER + box.row * height + 4
            levels = box.image[..., 0] if box.status == "digit" else box.seen * (0.35 if box.status == "empty" else 1)
            tile = Image.fromarray(np.round(np.clip(levels, 0, 1) * 255).astype(np.uint8)).resize((side, side))
            sheet.paste(tile.convert("RGB"), (left, top))
            draw.text((left + 3, top + 2), str(box.label), fill=(90, 200, 255), font=font)
            if box.status not in ("digit", "empty"):
                draw.rectangle((left - 2, top - 2, left + side + 1, top + side + 1), outline="red", width=3)
                draw.text((left, top + side + 4), box.status, fill="red", font=font)
            elif box.status == "empty":
                draw.text((left, top + side + 4), "empty", fill="grey", font=font)
        return sheet


def read_sheet(photo: str | os.PathLike | Image.Image, name: str | None = None) -> SheetReading:
    """Read a photo (a file or a Pillow image; EXIF orientation applied) or scan of a filled sheet: its corner marks
    found, the sheet straightened and its light evened, each box read. SheetError where no sheet is found, naming
    `name` (by default the file's name)."""
    if isinstance(photo, Image.Image):
        name = name or "photo"
        grey = upright_levels(photo.copy(), Path(name), SHEET_SIDE)  # the caller's image left as it was
    else:
        name = name or str(photo)
        grey = read_grey_image(photo, SHEET_SIDE)
    ink = ink_under_page_light(straightened_sheet(grey, name), dark=True)
    boxes = [read_box(ink, row, column) for row, column in itertools.product(range(ROWS), range(BOXES_PER_ROW))]
    return SheetReading(name, boxes)
