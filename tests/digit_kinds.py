"""MNIST digits written as the image files people make (a scan, a tight crop, a photo of a sheet on a desk, a canvas
export, chalk, a phone JPEG turned by its EXIF tag, ...): the fixtures of tests/test_own_digits.py, and what
`python -m benchmarks.own_digits` measures at scale. They live with the tests: the package does not ship them.

Each kind (KINDS) is a function (digit, random generator, path stem) -> the file written, at a random size (28 to
1,000 pixels), margin, position and stroke width; render_kind writes many digits as one kind, seeded. At the end:
numbers written on one line, letters and doodles (tests/test_numbers.py, `python -m benchmarks.numbers`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from mnist_cnn.mnist_style import centre_by_mass, fit_in_box, ink_box

SEED = 24
SMALLEST = 28  # an image's side, in pixels, at least
LARGEST = 1000  # and at most
PAPER_WHITE = 0.96
HOLLOW = 0.08  # a dim hollow inside a digit's ink at most this share of the image's side is a loop
PEN_SIDE = 300  # a fine pen's path is found at about this many pixels a side

Renderer = Callable[[np.ndarray, np.random.Generator, Path], Path]


# The digit's ink, at any size and stroke width.


def digit_crop(digit: np.ndarray) -> np.ndarray:
    """The 28x28 uint8 digit cut to the box of its ink, as ink in [0, 1]."""
    return digit[ink_box(digit)].astype(np.float32) / 255


def enlarged(ink: np.ndarray, height: int) -> np.ndarray:
    """Ink scaled smoothly (bicubic) to `height` pixels high, its shape kept."""
    width = max(1, round(ink.shape[1] * height / ink.shape[0]))
    image = Image.fromarray(ink.astype(np.float32)).resize((width, max(1, height)), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(image, np.float32), 0, 1)


def disk(radius: float) -> np.ndarray:
    span = np.arange(-int(radius), int(radius) + 1)
    return span[:, None] ** 2 + span[None, :] ** 2 <= radius**2


def thickened(ink: np.ndarray, radius: float) -> np.ndarray:
    """Strokes made wider by `radius` pixels each side (a broader pen)."""
    return ink if radius < 1 else ndimage.grey_dilation(ink, footprint=disk(radius))


def thinned(strokes: np.ndarray) -> np.ndarray:
    """The strokes' skeleton, one pixel wide, loops and joins kept (Zhang and Suen's thinning: outline pixels
    peeled off in two alternating passes, never one whose removal would break a stroke or open a loop)."""
    image = np.pad(strokes.astype(bool), 1)
    while True:
        changed = False
        for second_pass in (False, True):
            centre = image[1:-1, 1:-1]
            # the eight neighbours, clockwise from the one above
            p2, p3, p4, p5 = image[:-2, 1:-1], image[:-2, 2:], image[1:-1, 2:], image[2:, 2:]
            p6, p7, p8, p9 = image[2:, 1:-1], image[2:, :-2], image[1:-1, :-2], image[:-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            neighbours = sum(p.astype(np.uint8) for p in ring[:-1])
            crossings = sum((~a & b).astype(np.uint8) for a, b in zip(ring[:-1], ring[1:], strict=True))
            side = ~(p2 & p4 & p8) & ~(p2 & p6 & p8) if second_pass else ~(p2 & p4 & p6) & ~(p4 & p6 & p8)
            removed = centre & (neighbours >= 2) & (neighbours <= 6) & (crossings == 1) & side
            if removed.any():
                image = image.copy()
                image[1:-1, 1:-1] &= ~removed
                changed = True
        if not changed:
            return image[1:-1, 1:-1]


def line_ends(skeleton: np.ndarray) -> np.ndarray:
    """The skeleton's pixels with one neighbour at most: where its lines end."""
    neighbours = ndimage.convolve(skeleton.astype(np.uint8), np.ones((3, 3), np.uint8), mode="constant")
    return skeleton & (neighbours - skeleton <= 1)


def without_spurs(skeleton: np.ndarray, length: int) -> np.ndarray:
    """The skeleton without branches shorter than `length` pixels (a thick stroke's corner thins to a spur that no
    pen would draw): its ends peeled `length` times, the lines that are left grown back along it as far."""
    pruned = skeleton.copy()
    for _ in range(length):
        pruned &= ~line_ends(pruned)
    if not pruned.any():
        return skeleton
    grown = line_ends(pruned)
    for _ in range(length):
        grown = ndimage.binary_dilation(grown, structure=np.ones((3, 3), bool)) & skeleton
    return pruned | grown


def pen_path(ink: np.ndarray) -> np.ndarray:
    """Where a pen went to leave `ink` (peaking at 1): its strong ink, without the dim hollows inside it (a small
    loop of a 6 or an 8 that the MNIST digit's blur half filled in, which its writer drew as a loop)."""
    closed = ndimage.grey_closing(ink, size=max(3, round(max(ink.shape) * HOLLOW)))
    return (ink > 0.5) & (closed - ink < 0.3)


def pen_line(ink: np.ndarray, radius: float) -> np.ndarray:
    """The digit traced with a round pen of `radius` pixels along the middle of its strokes, as a person draws it
    with a fine pen: every stroke, loop and join of the digit kept. The middle is the skeleton of the ink at about
    PEN_SIDE pixels a side, its pixels smoothed and joined by lines at full size."""
    scale = max(1.0, max(ink.shape) / PEN_SIDE)
    small_shape = (max(1, round(ink.shape[0] / scale)), max(1, round(ink.shape[1] / scale)))
    small = np.asarray(Image.fromarray(ink.astype(np.float32)).resize(small_shape[::-1], Image.Resampling.BOX))
    skeleton = without_spurs(thinned(pen_path(small)), PEN_SIDE // 30)
    rows, columns = np.nonzero(skeleton)
    # each pixel at the mean of the skeleton's pixels around it: the thinning's staircase smoothed away
    around = [ndimage.uniform_filter(np.where(skeleton, axis, 0.0), 5) for axis in np.indices(skeleton.shape)]
    count = ndimage.uniform_filter(skeleton.astype(float), 5)[rows, columns]
    y = (around[0][rows, columns] / count + 0.5) * ink.shape[0] / small_shape[0] - 0.5
    x = (around[1][rows, columns] / count + 0.5) * ink.shape[1] / small_shape[1] - 0.5
    index = np.full(skeleton.shape, -1)
    index[rows, columns] = np.arange(len(rows))
    canvas = Image.new("L", ink.shape[::-1], 0)
    draw = ImageDraw.Draw(canvas)
    draw.point(list(zip(x.tolist(), y.tolist(), strict=True)), fill=255)
    padded = np.pad(index, 1, constant_values=-1)
    for down, right in ((0, 1), (1, 0), (1, 1), (1, -1)):  # each pair of neighbouring pixels once
        neighbour = padded[1 + down : 1 + down + skeleton.shape[0], 1 + right : 1 + right + skeleton.shape[1]]
        joined = skeleton & (neighbour >= 0)
        for start, stop in zip(index[joined], neighbour[joined], strict=True):
            draw.line([(x[start], y[start]), (x[stop], y[stop])], fill=255)
    line = ndimage.binary_dilation(np.asarray(canvas) > 0, structure=disk(max(radius, 1)))
    return ndimage.gaussian_filter(line.astype(np.float32), 0.6)


def brush_drawn(digit: np.ndarray, side: int, brush: float) -> np.ndarray:
    """An MNIST digit drawn along its strokes' centre lines with a brush `brush` pixels wide, five sevenths of a
    side x side canvas high, in its middle, as a person draws it on the demo page: the brush's coverage in [0, 1]."""
    ink = enlarged(digit_crop(digit), side * 5 // 7)
    canvas = np.zeros((side, side), np.float32)
    top, left = (side - ink.shape[0]) // 2, (side - ink.shape[1]) // 2
    canvas[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return pen_line(canvas, brush / 2)


def digit_ink(digit: np.ndarray, height: int, rng: np.random.Generator, stroke: tuple[float, float] = (0, 0)):
    """The digit's ink `height` pixels high; strokes widened by a random share of the height in `stroke` (at most
    200 pixels high, then enlarged: a wide pen is slow to draw at full size)."""
    working = min(height, 200)
    ink = thickened(enlarged(digit_crop(digit), working), rng.uniform(*stroke) * working)
    return enlarged(ink, height) if working < height else ink


# Sheets of paper, with the digit on them.


def random_side(rng: np.random.Generator, smallest: int = SMALLEST, largest: int = LARGEST) -> int:
    """An image side between `smallest` and `largest`, as likely small as large (log-uniform)."""
    return int(round(np.exp(rng.uniform(np.log(smallest), np.log(largest)))))


def on_sheet(
    digit: np.ndarray, rng: np.random.Generator, side: int, margin: tuple[float, float], stroke=(0.0, 0.03)
) -> np.ndarray:
    """The digit's ink on a sheet at most `side` pixels a side, at a random position, with a margin of a random
    share (in `margin`) of the digit's height around it, unevenly split (people never centre a digit)."""
    share, extra = rng.uniform(*margin), rng.uniform(0, 0.3)  # extra: a sheet wider than tall, or taller than wide
    ink = digit_ink(digit, max(8, round(side / (1 + 2 * share + extra))), rng, stroke)
    height, width = ink.shape
    pad, extra = round(share * height), round(extra * height)
    sheet = np.zeros((height + 2 * pad + extra * (rng.random() < 0.5), width + 2 * pad + extra), np.float32)
    top, left = (rng.integers(0, 2 * pad + 1, size=2) if pad else (0, 0)) + np.array([0, rng.integers(0, extra + 1)])
    top, left = min(top, sheet.shape[0] - height), min(left, sheet.shape[1] - width)
    sheet[top : top + height, left : left + width] = ink
    return sheet


def written(ink: np.ndarray, paper: float | np.ndarray, colour: float | np.ndarray, strength: float = 1.0):
    """Paper of grey level (or RGB) `paper` with `ink` of `colour` on it, covering `strength` at full ink."""
    cover = np.clip(ink * strength, 0, 1)
    paper, colour = np.asarray(paper, np.float32), np.asarray(colour, np.float32)
    if paper.shape[-1:] == (3,) or colour.shape[-1:] == (3,):
        cover = cover[..., None]
    return paper * (1 - cover) + colour * cover


def as_image(levels: np.ndarray) -> Image.Image:
    """Grey (H, W) or RGB (H, W, 3) levels in [0, 1] as an 8-bit image."""
    return Image.fromarray((np.clip(levels, 0, 1) * 255).round().astype(np.uint8))


def scan(digit, rng, margin, stroke=(0.0, 0.03), side=None):
    """The digit dark on white paper, as a scan: its sheet `side` pixels (random) at most."""
    return written(on_sheet(digit, rng, side or random_side(rng), margin, stroke), PAPER_WHITE, 0.05)


def uneven_light(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """The light on a photographed sheet: brighter on one side, and the phone's soft shadow somewhere."""
    rows, columns = np.linspace(0, 1, shape[0])[:, None], np.linspace(0, 1, shape[1])[None, :]
    angle = rng.uniform(0, 2 * np.pi)
    slope = rng.uniform(0.15, 0.4) * ((rows - 0.5) * np.sin(angle) + (columns - 0.5) * np.cos(angle))
    centre = rng.uniform(0.2, 0.8, size=2)
    shadow = rng.uniform(0.1, 0.3) * np.exp(-((rows - centre[0]) ** 2 + (columns - centre[1]) ** 2) / 0.05)
    return np.clip(0.85 + slope - shadow, 0.3, 1)


def photo_of_sheet(digit, rng, size=None) -> np.ndarray:
    """A sheet photographed under uneven light, the digit small on it, with a little sensor noise."""
    sheet = on_sheet(digit, rng, size or random_side(rng, 300, LARGEST), (0.8, 1.6))
    light = uneven_light(sheet.shape, rng)
    photo = written(sheet, light, 0.1 * light)
    return np.clip(photo + rng.normal(0, 0.015, photo.shape), 0, 1)


# The kinds of files, each a function (digit, rng, path stem) -> the file written.


def mnist_png(digit, rng, path):
    path = path.with_suffix(".png")
    Image.fromarray(digit).save(path)
    return path


def scan_with_margin(digit, rng, path):
    path = path.with_suffix(rng.choice([".png", ".jpg"]))
    as_image(scan(digit, rng, (0.15, 0.6))).save(path, quality=92)
    return path


def scan_without_margin(digit, rng, path):
    path = path.with_suffix(".png")
    as_image(scan(digit, rng, (0.0, 0.05))).save(path)
    return path


def tight_crop(digit, rng, path):
    path = path.with_suffix(rng.choice([".png", ".jpg"]))
    as_image(written(digit_ink(digit, random_side(rng), rng), PAPER_WHITE, 0.05)).save(path, quality=92)
    return path


def noisy_jpeg(digit, rng, path):
    path = path.with_suffix(".jpg")
    levels = scan(digit, rng, (0.1, 0.6))
    noisy = levels + rng.normal(0, rng.uniform(0.03, 0.1), levels.shape)
    as_image(noisy).convert("RGB").save(path, quality=int(rng.integers(25, 60)))
    return path


def desk_photo(digit, rng, path):
    """A sheet lying on a darker desk that shows around it, photographed under uneven light."""
    path = path.with_suffix(".jpg")
    sheet = photo_of_sheet(digit, rng, random_side(rng, 250, 700))
    height, width = sheet.shape
    desk_shape = (round(height * rng.uniform(1.15, 1.8)), round(width * rng.uniform(1.15, 1.8)))
    desk = np.full(desk_shape, rng.uniform(0.08, 0.35), np.float32)
    desk += rng.normal(0, 0.02, desk_shape)
    top, left = rng.integers(0, desk_shape[0] - height + 1), rng.integers(0, desk_shape[1] - width + 1)
    desk[top : top + height, left : left + width] = sheet
    as_image(desk).convert("RGB").save(path, quality=88)
    return path


def canvas_layer(digit, rng, colour: int):
    ink = on_sheet(digit, rng, random_side(rng, 100, 800), (0.05, 0.3), (0, 0.05))
    layer = np.zeros((*ink.shape, 4), np.uint8)
    layer[..., :3] = colour
    layer[..., 3] = (ink * 255).round()
    return Image.fromarray(layer, "RGBA")


def canvas_dark(digit, rng, path):
    """A drawing app's export: black strokes on a transparent layer."""
    path = path.with_suffix(".png")
    canvas_layer(digit, rng, 0).save(path)
    return path


def canvas_white(digit, rng, path):
    """A drawing app's export: white strokes on a transparent layer (drawn on a dark canvas)."""
    path = path.with_suffix(".png")
    canvas_layer(digit, rng, 255).save(path)
    return path


PENS = {"blue": (0.1, 0.2, 0.7), "red": (0.75, 0.1, 0.1), "green": (0.1, 0.5, 0.2), "purple": (0.4, 0.1, 0.5)}


def coloured_pen(digit, rng, path):
    path = path.with_suffix(rng.choice([".png", ".jpg"]))
    sheet = on_sheet(digit, rng, random_side(rng, 60), (0.1, 0.5), (0, 0.02))
    cream = np.array([0.98, 0.95, 0.85]) - rng.uniform(0, 0.05)
    as_image(written(sheet, cream, PENS[rng.choice(list(PENS))])).save(path, quality=90)
    return path


def pencil(digit, rng, path):
    """Graphite: grey, grainy, light strokes, a little thinner."""
    path = path.with_suffix(".png")
    sheet = on_sheet(digit, rng, random_side(rng, 80), (0.1, 0.5), (0, 0.01))
    grain = np.clip(rng.normal(1, 0.25, sheet.shape), 0, 1.5)
    levels = written(sheet * grain, PAPER_WHITE, 0.3, strength=rng.uniform(0.45, 0.8))
    as_image(levels).save(path)
    return path


def marker(digit, rng, path):
    """A thick felt marker: strokes widened by 4 to 8% of the digit's height."""
    path = path.with_suffix(".png")
    as_image(scan(digit, rng, (0.05, 0.4), stroke=(0.04, 0.08))).save(path)
    return path


def fine_pen(digit, rng, path):
    """A fine pen at high resolution: strokes 2 to 6 pixels wide on a sheet 600 to 1,000 pixels a side."""
    path = path.with_suffix(rng.choice([".png", ".jpg"]))
    side, radius = int(rng.integers(600, LARGEST + 1)), rng.uniform(1, 3)
    sheet = on_sheet(digit, rng, side, (0.05, 0.3), (0, 0))
    as_image(written(pen_line(sheet, radius), PAPER_WHITE, 0.05)).save(path, quality=92)
    return path


def rotated(digit, rng, path):
    """A scan turned by 3 to 8 degrees either way."""
    path = path.with_suffix(".png")
    image = as_image(scan(digit, rng, (0.15, 0.5)))
    angle = rng.uniform(3, 8) * rng.choice([-1, 1])
    image.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=round(PAPER_WHITE * 255)).save(path)
    return path


def chalk(digit, rng, path):
    """White chalk, grainy, on a grey or green board."""
    path = path.with_suffix(".jpg")
    sheet = on_sheet(digit, rng, random_side(rng, 100), (0.1, 0.6))
    board = np.array([0.3, 0.33, 0.32] if rng.random() < 0.5 else [0.18, 0.3, 0.22]) + rng.uniform(-0.05, 0.05)
    grain = np.clip(rng.normal(0.85, 0.25, sheet.shape), 0, 1)
    levels = written(sheet * grain, board, np.array([0.92, 0.92, 0.9]))
    levels += rng.normal(0, 0.02, levels.shape)
    as_image(levels).save(path, quality=85)
    return path


def ruled(shape: tuple[int, int], rng: np.random.Generator, squared: bool) -> np.ndarray:
    """Where the printed lines of ruled (or squared) paper are: 1 on a line, 0 between."""
    spacing = max(6, round(max(shape) * rng.uniform(0.06, 0.15)))
    width = max(1, round(spacing / 12))
    offset = rng.integers(0, spacing)
    lines = np.zeros(shape, np.float32)
    for start in range(offset, shape[0], spacing):
        lines[start : start + width] = 1
    if squared:
        for start in range(offset, shape[1], spacing):
            lines[:, start : start + width] = 1
    return lines


def on_ruled_paper(digit, rng, path, squared: bool):
    path = path.with_suffix(rng.choice([".png", ".jpg"]))
    sheet = on_sheet(digit, rng, random_side(rng, 100), (0.15, 0.6))
    paper = written(ruled(sheet.shape, rng, squared), np.array([0.97, 0.97, 0.95]), np.array([0.55, 0.7, 0.9]))
    as_image(written(sheet, paper, np.array([0.1, 0.1, 0.2]))).save(path, quality=90)
    return path


def lined_paper(digit, rng, path):
    return on_ruled_paper(digit, rng, path, squared=False)


def squared_paper(digit, rng, path):
    return on_ruled_paper(digit, rng, path, squared=True)


ORIENTATION = 0x0112
# The stored image is turned by this transpose; the EXIF Orientation value tells a viewer how to turn it upright.
STORED_TURNED = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def exif_block(orientation: int, broken: bool) -> bytes:
    """A phone's EXIF block: its Orientation tag and the DateTime tag; `broken`, DateTime is mistyped as a rational
    (as some phones write it), which makes Pillow's ImageOps.exif_transpose raise though Orientation is fine."""
    date_type, date_count, date = (5, 1, struct.pack("<II", 1, 1)) if broken else (2, 20, b"2024:05:01 12:00:00\0")
    entries = struct.pack("<HHIHH", ORIENTATION, 3, 1, orientation, 0) + struct.pack(
        "<HHII", 0x0132, date_type, date_count, 8 + 2 + 24 + 4
    )
    return b"Exif\0\0II*\0" + struct.pack("<IH", 8, 2) + entries + struct.pack("<I", 0) + date


def phone_exif(digit, rng, path):
    """A phone's JPEG of a sheet: the pixels stored as the sensor saw them, turned, with the EXIF Orientation tag
    saying how to show them; every other file's EXIF also has a broken tag."""
    path = path.with_suffix(".jpg")
    orientation = int(rng.choice(list(STORED_TURNED)))
    photo = as_image(photo_of_sheet(digit, rng)).convert("RGB").transpose(STORED_TURNED[orientation])
    photo.save(path, quality=88, exif=exif_block(orientation, broken=bool(rng.random() < 0.5)))
    return path


def sixteen_bit(digit, rng, path):
    """A 16-bit grey PNG (a scanner's), its levels using part of the range."""
    path = path.with_suffix(".png")
    levels = scan(digit, rng, (0.1, 0.5))
    low, high = rng.uniform(0, 0.2), rng.uniform(0.6, 1)
    Image.fromarray((65535 * (low + (high - low) * levels)).round().astype(np.uint16)).save(path)
    return path


def palette(digit, rng, path):
    """A palette image (PNG or GIF, 8 to 64 colours) of a coloured pen on cream paper."""
    buffer = coloured_pen(digit, rng, path.with_name(path.name + "-pen"))
    with Image.open(buffer) as image:
        reduced = image.convert("RGB").quantize(int(rng.choice([8, 16, 64])))
    buffer.unlink()
    path = path.with_suffix(rng.choice([".png", ".gif"]))
    reduced.save(path)
    return path


def webp(digit, rng, path):
    path = path.with_suffix(".webp")
    as_image(scan(digit, rng, (0.1, 0.5))).convert("RGB").save(path, quality=int(rng.integers(40, 90)))
    return path


def animated_gif(digit, rng, path):
    """An animated GIF whose first frame is the digit; later frames fade it out, the last one blank."""
    path = path.with_suffix(".gif")
    levels = scan(digit, rng, (0.1, 0.5), side=random_side(rng, SMALLEST, 400))
    frames = [as_image(PAPER_WHITE - (PAPER_WHITE - levels) * fade) for fade in (1, 0.5, 0)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=200, loop=0)
    return path


KINDS: dict[str, Renderer] = {
    "28x28 MNIST PNG": mnist_png,
    "scan with margin": scan_with_margin,
    "scan without margin": scan_without_margin,
    "tight crop": tight_crop,
    "noisy JPEG": noisy_jpeg,
    "sheet on a desk": desk_photo,
    "canvas, dark strokes": canvas_dark,
    "canvas, white strokes": canvas_white,
    "coloured pen, cream paper": coloured_pen,
    "pencil": pencil,
    "thick marker": marker,
    "fine pen, high resolution": fine_pen,
    "rotated 3-8 degrees": rotated,
    "chalk on a board": chalk,
    "lined paper": lined_paper,
    "squared paper": squared_paper,
    "phone JPEG, EXIF-rotated": phone_exif,
    "16-bit PNG": sixteen_bit,
    "palette PNG/GIF": palette,
    "WebP": webp,
    "animated GIF": animated_gif,
}


def sklearn_file(digit: np.ndarray, path: Path) -> Path:
    """One of scikit-learn's 8x8 digits (levels 0 to 16, ink high), upscaled 10 times, dark on a white 120x120."""
    path = path.with_suffix(".png")
    ink = Image.fromarray((digit * (255 / 16)).astype(np.uint8)).resize((80, 80))
    page = Image.new("L", (120, 120), 0)
    page.paste(ink, (20, 20))
    Image.eval(page, lambda level: 255 - level).save(path)
    return path


def render_kind(kind: str, digits: np.ndarray, folder: Path, seed: int = SEED) -> list[Path]:
    """Each digit written as a file of `kind` in `folder`: random choices seeded by `seed` and the kind's name."""
    rng = np.random.default_rng([seed, *kind.encode()])
    folder.mkdir(parents=True, exist_ok=True)
    stem = "".join(letter if letter.isalnum() else "-" for letter in kind)
    return [KINDS[kind](digit, rng, folder / f"{stem}-{index:05d}") for index, digit in enumerate(digits)]


def sklearn_as_mnist(digit: np.ndarray) -> np.ndarray:
    """One of scikit-learn's 8x8 digits made MNIST-like with no file in between, as MNIST's makers made theirs:
    cut to its ink, fitted in 20x20 keeping the aspect ratio, centred by mass in 28x28 (uint8, ink high)."""
    ink = digit.astype(np.float32) / 16
    field = centre_by_mass(fit_in_box(ink[ink_box(ink)]))
    return np.round(field * 255).astype(np.uint8)


# Things written on one line, and things that are not digits (tests/test_numbers.py, benchmarks/numbers.py).

DOODLES = ("star", "smiley", "arrow", "cross", "scribble")
# A number's digits' feet lie up to this many pixels off the line; the line has this much margin around it.
SHIFT, MARGIN = 3, 4
# Each digit of a number is scaled by a factor in SCALES; a touching pair's gap (in pixels, below 0: overlapping) lies
# in TOUCHING.
SCALES, TOUCHING = (0.8, 1.2), (-3, 0)


def mnist_like(ink: np.ndarray) -> np.ndarray:
    """Ink in [0, 1] made as MNIST's makers made digits: cut to its ink, fitted in 20x20, centred by mass (uint8)."""
    return np.round(centre_by_mass(fit_in_box(ink[ink_box(ink)])) * 255).astype(np.uint8)


def letter(font: Path, character: str) -> np.ndarray:
    """A letter in a font, MNIST-like."""
    image = Image.new("L", (240, 240))
    ImageDraw.Draw(image).text((120, 120), character, fill=255, font=ImageFont.truetype(str(font), 96), anchor="mm")
    return mnist_like(np.asarray(image, np.float32) / 255)


def doodle(name: str, rng: np.random.Generator) -> np.ndarray:
    """One of DOODLES drawn with a pen 4 to 10 pixels wide on 112x112, turned at random, MNIST-like."""
    image, width, turn = Image.new("L", (112, 112)), int(rng.integers(4, 11)), rng.uniform(0, 2 * np.pi)
    draw = ImageDraw.Draw(image)
    line = lambda points: draw.line(points, fill=255, width=width, joint="curve")  # noqa: E731
    at = lambda radius, angle: (56 + radius * np.cos(angle + turn), 56 + radius * np.sin(angle + turn))  # noqa: E731
    if name == "star":
        line([at(40 if point % 2 == 0 else 16, point * np.pi / 5) for point in range(11)])
    elif name == "smiley":
        draw.ellipse((14, 14, 98, 98), outline=255, width=width)
        for eye in (40, 72):
            draw.ellipse((eye - 6, 36, eye + 6, 50), fill=255)
        draw.arc((32, 36, 80, 80), 25, 155, fill=255, width=width)
    elif name in ("arrow", "cross"):
        line([at(42, np.pi), at(42, 0)])
        line([at(28, 0.5), at(42, 0), at(28, -0.5)] if name == "arrow" else [at(40, np.pi / 2), at(40, -np.pi / 2)])
    else:
        line([tuple(point) for point in rng.uniform(12, 100, (rng.integers(5, 12), 2))])
    return mnist_like(np.asarray(image, np.float32) / 255)


def compose(digits: np.ndarray, gaps: list[int], scales, shifts) -> tuple[np.ndarray, bool]:
    """MNIST digits written left to right on one line (uint8, ink high), each cut to its ink, scaled and its foot
    shifted off the line, `gaps` pixels between their ink (below 0: overlapping, by a third of the narrower digit at
    most); and whether no two touch."""
    inks = [digit_crop(digit) for digit in digits]
    inks = [enlarged(ink, round(scale * ink.shape[0])) for ink, scale in zip(inks, scales, strict=True)]
    gaps = [max(gap, -(min(a.shape[1], b.shape[1]) // 3)) for gap, a, b in zip(gaps, inks[:-1], inks[1:], strict=True)]
    lefts = MARGIN + np.cumsum([0] + [ink.shape[1] + gap for ink, gap in zip(inks[:-1], gaps, strict=True)])
    line = MARGIN + SHIFT + max(ink.shape[0] for ink in inks)
    canvas = np.zeros((line + SHIFT + MARGIN, max(lefts + [ink.shape[1] for ink in inks]) + MARGIN), np.float32)
    for ink, left, shift in zip(inks, lefts, shifts, strict=True):
        place = canvas[line + shift - ink.shape[0] : line + shift, left : left + ink.shape[1]]
        np.maximum(place, ink, out=place)
    return np.round(canvas * 255).astype(np.uint8), min(gaps) > 0
