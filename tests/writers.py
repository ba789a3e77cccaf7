"""Writers the model never saw, in the styles MNIST lacks: continental 1s with a long flag and a base, crossed 7s and
7s with a flag, closed 4s, flat-topped 9s on a straight stem, slashed 0s and flat-topped 3s, beside the ordinary shapes.
They live with the tests (tests/test_writers.py) and feed `python -m benchmarks.handwriting`; the package ships none.

A digit is drawn as a hand draws it: strokes through control points (Catmull-Rom curves, corners where a pen turns
sharply), a round pen, drawn with Pillow at four times the size and scaled down (anti-aliased). A writer is a seed
fixing their choices (which shape of each digit, slant, size, width, stroke width, proportions, how shaky); each
digit they write varies as a hand does: proportions, slant, size and stroke width a little off, each stroke shifted
a little, and the whole bent by a small smooth (elastic) distortion.

    hand = writer(3)
    ink = hand.digit(7, np.random.default_rng(0))  # (112, 112) float32, ink 1 on paper 0
    images, labels = hand.digits(5, np.random.default_rng(1))  # 5 of each digit: (50, 112, 112), (50,)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

SIDE = 112  # a digit's image is SIDE x SIDE pixels: the box the writer writes in
DRAWN = 4  # strokes are drawn at this many times SIDE, then scaled down (anti-aliasing)
SAMPLES = 12  # points drawn along each piece of curve between two control points
FORMS = 4  # proportions a writer has for each digit (a flag's length, a loop's size ...), each about -1 to 1
FORM_RANGE = 0.8  # a writer's own proportions lie within this of the middle (0), each digit's vary around them
# The shapes of each digit a writer may use; the first of each is the ordinary one.
WRITER_STYLES: dict[int, tuple[str, ...]] = {
    0: ("oval", "slashed"),
    1: ("stick", "long flag", "long flag and base"),
    2: ("ordinary",),
    3: ("round", "flat top"),
    4: ("open top", "closed"),
    5: ("ordinary",),
    6: ("ordinary",),
    7: ("plain", "crossed", "flag", "crossed with a flag"),
    8: ("ordinary",),
    9: ("round", "flat top, straight stem"),
}
# The styles MNIST's writers (American, around 1990) hardly ever used.
MNIST_LACKS = frozenset(
    {
        (0, "slashed"),
        (1, "long flag"),
        (1, "long flag and base"),
        (3, "flat top"),
        (4, "closed"),
        (7, "crossed"),
        (7, "flag"),
        (7, "crossed with a flag"),
        (9, "flat top, straight stem"),
    }
)
# How likely a writer is to use each style of a digit, in WRITER_STYLES' order: mostly the ones MNIST lacks.
STYLE_ODDS: dict[int, tuple[float, ...]] = {
    0: (0.5, 0.5),
    1: (0.1, 0.6, 0.3),
    3: (0.7, 0.3),
    4: (0.4, 0.6),
    7: (0.15, 0.4, 0.15, 0.3),
    9: (0.3, 0.7),
}
# A writer's habits are drawn from these ranges (the digit's height and width are shares of SIDE and of its height).
SLANT = (-0.1, 0.35)  # rightward lean: horizontal shift per unit of height
HEIGHT = (0.58, 0.8)
WIDTH = (0.5, 0.75)
STROKE = (0.07, 0.13)  # the pen's width, a share of the digit's height
SHAKE = (0.015, 0.035)  # the elastic distortion's size, a share of the digit's height
# How much one digit differs from the writer's habit (standard deviations).
SLANT_NOISE, SIZE_NOISE, STROKE_NOISE, FORM_NOISE, STROKE_SHIFT = 0.04, 0.05, 0.08, 0.25, 0.012
ELASTIC_GRID = 4  # the elastic distortion is smooth: random shifts at this many points a side, interpolated

Piece = list[tuple[float, float]]  # control points a smooth curve goes through, in the digit's unit box
Stroke = list[Piece]  # pieces drawn one after the other without lifting the pen: a sharp turn between them
Shape = list[Stroke]  # the strokes of a digit, x right and y down, the digit filling 0..1 both ways


def ellipse(centre: tuple[float, float], radii: tuple[float, float], start: float, stop: float, points: int) -> Piece:
    """Points along an ellipse from angle `start` to `stop` in degrees (0 right, 90 down: clockwise on the page)."""
    angles = np.radians(np.linspace(start, stop, points))
    return [(centre[0] + radii[0] * np.cos(a), centre[1] + radii[1] * np.sin(a)) for a in angles]


def zero(style: str, form: np.ndarray) -> Shape:
    """An oval begun at the top, anticlockwise, closing past its start; slashed from top right to bottom left."""
    rx = 0.5 + 0.05 * form[0]
    oval = [ellipse((0.5, 0.5), (rx, 0.5), -80, -80 - 375 - 10 * form[1], 11)]
    slash = [[(0.95 + 0.05 * form[2], -0.05), (0.05 - 0.05 * form[2], 1.05)]]
    return [oval, slash] if style == "slashed" else [oval]


def one(style: str, form: np.ndarray) -> Shape:
    """A stick; with a long flag up to its top (a continental 1), and a base under it."""
    top, foot = (0.55 + 0.05 * form[0], 0.0), (0.5, 1.0)
    if style == "stick":
        return [[[(top[0] - 0.08 - 0.04 * form[1], 0.07), top], [top, foot]]]
    length, angle = 0.62 + 0.15 * form[1], np.radians(37 + 15 * form[2])
    flag = (top[0] - length * np.cos(angle), length * np.sin(angle))
    shape = [[[flag, top], [top, foot]]]
    if style == "long flag and base":
        half = 0.3 + 0.06 * form[3]
        shape.append([[(foot[0] - half, 1.0), (foot[0] + half, 1.0)]])
    return shape


def two(style: str, form: np.ndarray) -> Shape:
    """A hook over the top, down to the bottom left, a base to the right."""
    hook = ellipse((0.5, 0.28 + 0.03 * form[0]), (0.42, 0.28), 195 + 10 * form[1], 385, 6)
    neck = (0.3 + 0.08 * form[2], 0.72)
    corner = (0.05, 1.0)
    return [[[*hook, neck, corner], [corner, (0.95 + 0.05 * form[3], 1.0 - 0.02 * form[3])]]]


def three(style: str, form: np.ndarray) -> Shape:
    """Two bowls open to the left; the flat-topped one a bar and a diagonal down to the lower bowl."""
    waist = 0.47 + 0.04 * form[0]
    lower = ellipse((0.47, (1 + waist) / 2), (0.5, (1 - waist) / 2), -95, 150 + 10 * form[1], 7)
    if style == "flat top":
        bar = [(0.08, 0.0), (0.9 + 0.05 * form[2], 0.0)]
        return [[bar, [bar[-1], (0.4 + 0.05 * form[3], waist)], lower]]
    upper = ellipse((0.47, waist / 2), (0.43, waist / 2), 200 - 10 * form[2], 450 + 10 * form[3], 7)
    return [[upper, [upper[-1], lower[0]], lower]]


def four(style: str, form: np.ndarray) -> Shape:
    """Open top: down and across, then the stem on its own; closed: up the stem, down the diagonal, across."""
    bar, stem = 0.64 + 0.05 * form[0], 0.72 + 0.05 * form[1]
    if style == "closed":
        apex, left = (stem, 0.0), (0.0, bar)
        return [[[(stem, 1.0), apex], [apex, left], [left, (1.0, bar)]]]
    start, corner = (0.2 + 0.12 * form[2], 0.0), (0.02 + 0.05 * form[2], bar)
    return [[[start, corner], [corner, (1.0, bar - 0.02)]], [[(stem + 0.03, 0.02 * form[3]), (stem, 1.0)]]]


def five(style: str, form: np.ndarray) -> Shape:
    """Down the back, round the belly; the bar across the top last."""
    back = (0.2 + 0.04 * form[0], 0.02)
    belly = ellipse((0.48, 0.68), (0.47, 0.32 + 0.03 * form[1]), 235, 510 + 10 * form[2], 8)
    return [[[back, belly[0]], belly], [[(back[0] - 0.01, 0.0), (0.95 + 0.05 * form[3], -0.02)]]]


def six(style: str, form: np.ndarray) -> Shape:
    """From the top right down the left side into a loop at the bottom."""
    loop = ellipse((0.52, 0.7), (0.44, 0.3 + 0.04 * form[0]), 180, 180 + 350, 9)
    return [[[(0.75 + 0.08 * form[1], 0.0), (0.4 + 0.06 * form[2], 0.14), (0.14, 0.45), *loop]]]


def seven(style: str, form: np.ndarray) -> Shape:
    """A bar and a long stroke down to the left; crossed at the middle, a flag down from the bar's start."""
    corner, foot = (0.98, 0.02 * form[0]), (0.38 + 0.1 * form[1], 1.0)
    start = (0.02, 0.05 + 0.03 * form[2])
    pieces = [[start, corner], [corner, foot]]
    if "flag" in style:
        pieces.insert(0, [(0.0, 0.2 + 0.05 * form[3]), start])
    shape = [pieces]
    if "crossed" in style:
        middle = (corner[0] + foot[0]) / 2
        shape.append([[(middle - 0.3, 0.5 + 0.02 * form[3]), (middle + 0.25, 0.48)]])
    return shape


def eight(style: str, form: np.ndarray) -> Shape:
    """One stroke from the top right: over the top to the left, across the waist, round the bottom, back across."""
    waist, top, bottom = 0.45 + 0.04 * form[0], 0.38 + 0.05 * form[1], 0.45 + 0.04 * form[2]
    left, right = 0.5 - top, 0.5 + top
    points = [(right, 0.12), (0.5, 0.0), (left, 0.15), (left + 0.08, 0.33), (0.5, waist), (0.5 + bottom, 0.68)]
    points += [(0.5 + 0.9 * bottom, 0.88), (0.5, 1.0), (0.5 - 0.9 * bottom, 0.88), (0.5 - bottom, 0.68)]
    points += [(0.5, waist), (right - 0.05, 0.3), (right + 0.02 * form[3], 0.1)]
    return [[points]]


def nine(style: str, form: np.ndarray) -> Shape:
    """A loop anticlockwise from its right side, then the stem: curved down to the left, or straight down on a flat
    top."""
    loop_height = 0.45 + 0.05 * form[0]
    if style == "round":
        loop = ellipse((0.5, loop_height / 2), (0.45, loop_height / 2), 0, -360, 9)
        return [[loop, [loop[-1], (0.9, 0.55), (0.75 + 0.1 * form[1], 0.85), (0.55 + 0.1 * form[2], 1.0)]]]
    right = 0.95 + 0.03 * form[1]
    loop = [(right, 0.0), (0.2, 0.0), (0.03, 0.1), (0.05, 0.8 * loop_height), (0.4, loop_height)]
    loop.append((right, 0.75 * loop_height))
    return [[[loop[0], loop[1]], loop[1:]], [[(right, -0.02), (right - 0.02 * form[2], 1.0)]]]


SHAPES = (zero, one, two, three, four, five, six, seven, eight, nine)


def catmull_rom(points: Piece) -> np.ndarray:
    """A smooth curve through the points (a Catmull-Rom spline, its ends extended straight), SAMPLES a piece."""
    control = np.asarray(points, np.float64)
    if len(control) < 3:
        return control
    padded = np.vstack([2 * control[0] - control[1], control, 2 * control[-1] - control[-2]])
    t = np.linspace(0, 1, SAMPLES, endpoint=False)[:, None]
    curve = []
    for p0, p1, p2, p3 in zip(padded[:-3], padded[1:-2], padded[2:-1], padded[3:], strict=True):
        curve.append(
            0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (3 * p1 - p0 - 3 * p2 + p3) * t**3)
        )
    return np.vstack([*curve, control[-1:]])


def elastic(points: np.ndarray, size: float, rng: np.random.Generator) -> np.ndarray:
    """The points moved by a smooth random field (shifts drawn at ELASTIC_GRID points a side, interpolated), `size`
    their standard deviation: a hand's small distortions of a shape."""
    grid = rng.normal(0, size, (2, ELASTIC_GRID, ELASTIC_GRID))
    where = np.clip(points, -0.2, 1.2).T[::-1] * 0.8 * (ELASTIC_GRID - 1) + 0.2 * (ELASTIC_GRID - 1) / 2
    shifts = [ndimage.map_coordinates(field, where, order=2, mode="nearest") for field in grid]
    return points + np.stack(shifts, axis=1)


@dataclass(frozen=True)
class Writer:
    """One writer's habits: the style of each digit, slant, size, width, pen, proportions, how shaky."""

    seed: int
    styles: dict[int, str]
    slant: float
    height: float
    width: float
    stroke: float
    shake: float
    forms: dict[int, tuple[float, ...]]

    def digit(self, label: int, rng: np.random.Generator) -> np.ndarray:
        """One `label` as this writer writes it: (SIDE, SIDE) float32, ink 1 on paper 0."""
        form = np.asarray(self.forms[label]) + rng.normal(0, FORM_NOISE, FORMS)
        strokes = SHAPES[label](self.styles[label], form)
        lines = [
            elastic(np.vstack([catmull_rom(piece) for piece in stroke]), self.shake, rng)
            + rng.normal(0, STROKE_SHIFT, 2)
            for stroke in strokes
        ]
        slant = self.slant + rng.normal(0, SLANT_NOISE)
        height = SIDE * DRAWN * self.height * (1 + rng.normal(0, SIZE_NOISE))
        width = height * self.width * (1 + rng.normal(0, SIZE_NOISE))
        pen = max(2.0, height * self.stroke * (1 + rng.normal(0, STROKE_NOISE)))
        placed = [
            np.stack([(line[:, 0] - 0.5) * width + (0.5 - line[:, 1]) * slant * height, (line[:, 1] - 0.5) * height], 1)
            for line in lines
        ]
        every = np.vstack(placed)
        low, high = every.min(axis=0) - pen, every.max(axis=0) + pen
        room = np.maximum(SIDE * DRAWN - (high - low), 0)
        corner = -low + room * rng.uniform(0.3, 0.7, 2)  # people never centre a digit
        return drawn([line + corner for line in placed], pen)

    def digits(self, count_per_label: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """`count_per_label` of each digit 0 to 9, in order: images (N, SIDE, SIDE) float32 and labels (N,) int."""
        labels = np.repeat(np.arange(10), count_per_label)
        return np.stack([self.digit(int(label), rng) for label in labels]), labels

    def lacks(self, label: int) -> bool:
        """Whether this writer writes `label` in a style MNIST lacks."""
        return (label, self.styles[label]) in MNIST_LACKS


def drawn(lines: list[np.ndarray], pen: float) -> np.ndarray:
    """The polylines (pixels at DRAWN times SIDE) drawn with a round pen `pen` wide, scaled down to SIDE x SIDE."""
    canvas = Image.new("L", (SIDE * DRAWN, SIDE * DRAWN), 0)
    draw = ImageDraw.Draw(canvas)
    for line in lines:
        points = [tuple(point) for point in line.tolist()]
        draw.line(points, fill=255, width=round(pen), joint="curve")
        for x, y in points:  # round ends and joins, as a pen leaves them (Pillow's wide lines leave seams)
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
    small = canvas.resize((SIDE, SIDE), Image.Resampling.BOX)
    return np.asarray(small, np.float32) / 255


def writer(seed: int) -> Writer:
    """The writer `seed` stands for: their styles and habits, drawn from it."""
    rng = np.random.default_rng([seed, 40])
    styles = {label: str(rng.choice(options, p=STYLE_ODDS.get(label))) for label, options in WRITER_STYLES.items()}
    if styles[1] == "long flag" and "crossed" not in styles[7]:  # a 1 with a flag and no base: the 7 is crossed
        styles[7] = {"plain": "crossed", "flag": "crossed with a flag"}[styles[7]]
    return Writer(
        seed=seed,
        styles=styles,
        slant=float(rng.uniform(*SLANT)),
        height=float(rng.uniform(*HEIGHT)),
        width=float(rng.uniform(*WIDTH)),
        stroke=float(rng.uniform(*STROKE)),
        shake=float(rng.uniform(*SHAKE)),
        forms={label: tuple(rng.uniform(-FORM_RANGE, FORM_RANGE, FORMS).tolist()) for label in range(10)},
    )


def in_style(hand: Writer, label: int, style: str) -> Writer:
    """The same writer writing `label` in `style` (one of WRITER_STYLES[label])."""
    return dataclasses.replace(hand, styles={**hand.styles, label: style})
