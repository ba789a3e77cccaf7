"""Write mnist_cnn/sample/detector.npz: the weights of the small network that says how little an image looks like a
digit.

It is the third view of the "not a digit" check (mnist_cnn.novelty), apart from the classifier, which it leaves
unchanged: a network trained as outlier exposure trains (Hendrycks et al., 2019), to tell MNIST's training digits
from things made to be no digit. Those are made here from training digits, plain shapes and glyphs, none of the
kinds the benchmark scores (no clothing, Latin letters, stars, smileys, arrows, crosses or scribbles): digits turned
a quarter, mirrored or upside down, the halves of two different digits joined, two digits laid over each other or
written touching, filled shapes, outlines and patches of noise, and Greek, Cyrillic and mathematical glyphs (none
like a digit or a Latin letter), each made MNIST-like as `mnist-cnn predict` makes an image. MNIST's validation
digits are not used, so that they can set each run's threshold. docs/numbers.md says how it was
chosen and what it refuses.

    python scripts/build_detector.py --data ../shared/data
"""

import argparse
import contextlib
import itertools
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

import keras
import matplotlib
import numpy as np
from matplotlib.ft2font import FT2Font
from PIL import Image, ImageDraw, ImageFont
from scipy.ndimage import gaussian_filter, map_coordinates

from mnist_cnn.backend import use_backend
from mnist_cnn.config import FAST_RECIPE
from mnist_cnn.data import load_data, split_validation
from mnist_cnn.errors import ImageError
from mnist_cnn.files import write_arrays
from mnist_cnn.mnist_style import digit_to_mnist, image_to_mnist, ink_and_strokes, ink_box
from mnist_cnn.novelty import DETECTOR, detector_network

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # how the benchmark writes a number
from digit_kinds import MARGIN, SCALES, SHIFT, TOUCHING  # noqa: E402

CANVAS = 112  # shapes are drawn this large, then made MNIST-like as a user's image is
# Of each kind of thing that is no digit, this many (after the digits that stay digits are left out).
MADE_FROM_DIGITS, SHAPES, NOISE, GLYPHS = 6000, 4000, 3000, 12000
# Glyphs whose strokes no digit has, in matplotlib's STIX fonts (not DejaVu, the benchmark's printed letters'): none
# is a Latin letter or looks like one or like a digit, none is or holds a star, arrow, cross or smile (the benchmark's
# doodles), and those docs/numbers.md names were kept out to judge the detector on glyphs it never saw.
GREEK = "ΓΔΛΞΠΣΦΨΩαελξπφωϕϖ"
CYRILLIC = "ГДЖИЙЛПФШЫЯжлфцшщыюяѢ"
SYMBOLS = (
    "∆∇∈∉∋∌∎∏∑∝∧∬∮∴∵∷∹∺∻∿≃≅≈≎≏≐≙≚≞≠≡≣≥≧≬≲≴≶≷≸≹≺≻≾⊀⊁⊄⊅⊆⊇⊊⊑⊓⊟⊡⊣⊦⊧⊨⊩⊬⊭⊮⊱⊲⊳⊶⊷⋈⋉⋋⋌⋏⋐⋑⋓⋔"
    "⋖⋗⋘⋙⋚⋛⋤⋥⋧⋨⋪⋫⋰⋱⋵⋿⌂⌆⌓⌘⌭⌮⌲⎔⏤⏥⏦⦂⦙⧙⧚⧛⧡⧢⧧⨐⨝⨟⨲⨽⩑⩓⩚⩤⩥⩭⩻⩼⪅⪆⪉⪏⪝⪞⪡⪤⪥⪦⪫⪻⪼⫙⫚⫩⫶⫷⫸"
)
STIX = sorted((Path(matplotlib.get_data_path()) / "fonts" / "ttf").glob("STIXGeneral*.ttf"))


def turned(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Digits turned a quarter either way, but 0s and 8s, which stay digit-like."""
    kept = ~np.isin(labels, [0, 8])
    turns = rng.choice([1, 3], kept.sum())
    return np.stack([np.rot90(digit, k) for digit, k in zip(digits[kept], turns, strict=True)])


def flipped(digits: np.ndarray, labels: np.ndarray, kept: list[int], turn: bool) -> np.ndarray:
    """Digits of the `kept` labels mirrored, or turned upside down (`turn`): most are then no digit."""
    chosen = digits[np.isin(labels, kept)]
    return np.rot90(chosen, 2, (1, 2)) if turn else chosen[:, :, ::-1]


def chimeras(first: np.ndarray, second: np.ndarray, same: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One digit's top or left part joined to another digit's bottom or right, where the two differ."""
    differ = int((~same).sum())
    cuts, sideways = rng.integers(11, 18, len(same))[:differ], (rng.random(len(same)) < 0.5)[:differ]
    joined = []
    for one, other, cut, across in zip(first[~same], second[~same], cuts, sideways, strict=True):
        joined.append(one.copy())
        if across:
            joined[-1][cut:] = other[cut:]
        else:
            joined[-1][:, cut:] = other[:, cut:]
    return np.stack(joined)


def overlaid(first: np.ndarray, second: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two digits laid over each other, the second shifted a few pixels."""
    shifts = rng.integers(-4, 5, (len(first), 2))
    pairs = zip(first, second, shifts, strict=True)
    return np.stack([np.maximum(one, np.roll(other, tuple(shift), (0, 1))) for one, other, shift in pairs])


def written(digits: list[np.ndarray], rng: np.random.Generator, gaps: tuple[int, int] = TOUCHING) -> tuple:
    """Digits written on one line as the benchmark writes a touching pair (tests/digit_kinds.py's compose, with its
    SCALES, SHIFT and MARGIN, each gap in `gaps`), drawn 4 times as large: its ink and strokes, as a user's image's.
    Not compose itself: trained on its pairs (bicubic), the detector refused more MNIST test digits and fewer clothes
    (docs/numbers.md)."""
    inks = []
    for digit in digits:
        ink = digit[ink_box(digit)]
        height = max(1, round(rng.uniform(*SCALES) * ink.shape[0]))
        size = (max(1, round(ink.shape[1] * height / ink.shape[0])), height)
        inks.append(np.asarray(Image.fromarray(ink).resize(size, Image.Resampling.BILINEAR)))
    spaces = [
        max(int(rng.integers(gaps[0], gaps[1] + 1)), -(min(one.shape[1], other.shape[1]) // 3))
        for one, other in itertools.pairwise(inks)
    ]
    line = MARGIN + SHIFT + max(ink.shape[0] for ink in inks)
    width = 2 * MARGIN + sum(ink.shape[1] for ink in inks) + sum(spaces)
    canvas = np.zeros((line + SHIFT + MARGIN, width), np.float32)
    lefts = MARGIN + np.cumsum([0] + [ink.shape[1] + space for ink, space in zip(inks, spaces, strict=False)])
    for ink, left, shift in zip(inks, lefts, rng.integers(-SHIFT, SHIFT + 1, len(inks)), strict=True):
        place = canvas[line + shift - ink.shape[0] : line + shift, left : left + ink.shape[1]]
        np.maximum(place, ink, out=place)
    large = Image.fromarray(canvas).resize((4 * canvas.shape[1], 4 * canvas.shape[0]), Image.Resampling.BILINEAR)
    return ink_and_strokes(1 - np.clip(np.asarray(large), 0, 1))


def touching(first: np.ndarray, second: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two digits written touching (`written`), made MNIST-like as one shape."""
    return digit_to_mnist(*written([first, second], rng))[..., 0]  # one shape: no note


def shape(kind: str, rng: np.random.Generator) -> np.ndarray:
    """A white shape on black: a filled ellipse or polygon, its outline, or a patch of noise."""
    image = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(image)
    width = int(rng.integers(6, 14))
    if kind == "noise":
        noise = np.kron(rng.random((14, 14)), np.ones((8, 8)))
        return ((noise > rng.uniform(0.4, 0.7)) * 255).astype(np.uint8)
    fill, outline = (255, None) if kind == "filled" else (None, 255)
    if rng.random() < 0.5:
        corners = [*rng.integers(5, 40, 2), *rng.integers(60, CANVAS - 5, 2)]
        draw.ellipse(corners, fill=fill, outline=outline, width=width)
    else:
        points = [tuple(rng.integers(5, CANVAS - 5, 2).tolist()) for _ in range(rng.integers(3, 8))]
        draw.polygon(points, fill=fill, outline=outline, width=width)
    return np.asarray(image)


def made_mnist_like(count: int, draw: Callable[[], np.ndarray], make: Callable = image_to_mnist) -> np.ndarray:
    """`count` images, each drawn dark on white by `draw` and made MNIST-like as a user's image is (or by `make`)."""
    made = []
    while len(made) < count:
        with contextlib.suppress(ImageError):  # one too thin to be found is drawn again
            made.append(make(draw())[..., 0])
    return np.stack(made)


def shapes(kind: str, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` shapes of a kind drawn dark on white and made MNIST-like as a user's image is."""
    return made_mnist_like(count, lambda: 1 - shape(kind, rng).astype(np.float32) / 255)


def glyph_characters() -> str:
    """The glyphs drawn: GREEK, also in mathematics' bold, italic and sans-serif alphabets, CYRILLIC and SYMBOLS."""
    styled = [chr(code) for code in range(0x1D6A8, 0x1D7CA) if unicodedata.normalize("NFKC", chr(code)) in GREEK]
    return GREEK + "".join(styled) + CYRILLIC + SYMBOLS


def glyph(character: str, font: Path, rng: np.random.Generator) -> np.ndarray:
    """A glyph drawn dark on white in a 70 to 99 pixel font, made bolder, sheared and turned as much as a hand would."""
    image = Image.new("L", (200, 200), 0)
    drawn = ImageFont.truetype(str(font), int(rng.integers(70, 100)))
    bolder = int(rng.integers(0, 4))
    ImageDraw.Draw(image).text((100, 100), character, 255, drawn, "mm", stroke_width=bolder, stroke_fill=255)
    shear, smooth = rng.uniform(-0.3, 0.3), Image.Resampling.BILINEAR
    image = image.transform(image.size, Image.Transform.AFFINE, (1, shear, -100 * shear, 0, 1, 0), smooth)
    return 1 - np.asarray(image.rotate(rng.uniform(-15, 15), smooth), np.float32) / 255


def wobbled(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An image's pixels moved along a smooth random field, as a hand wobbles (Simard et al., 2003's distortion)."""
    strength = rng.uniform(20, 36)
    down, across = (gaussian_filter(rng.uniform(-1, 1, image.shape), 4) * strength for _ in range(2))
    rows, columns = np.mgrid[: image.shape[0], : image.shape[1]]
    return np.clip(map_coordinates(image, [rows + down, columns + across], order=1), 0, 1)


def glyph_drawer(rng: np.random.Generator) -> Callable[[], np.ndarray]:
    """A function drawing a glyph dark on white, each glyph as likely, in a STIX font that has it."""
    charmaps = {font: FT2Font(str(font)).get_charmap() for font in STIX}
    fonts = {character: [font for font in STIX if ord(character) in charmaps[font]] for character in glyph_characters()}
    characters = list(fonts)

    def drawn() -> np.ndarray:
        character = characters[rng.integers(len(characters))]  # then a font: each glyph as likely, in however many
        return glyph(character, fonts[character][rng.integers(len(fonts[character]))], rng)

    return drawn


def glyphs(count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` glyphs (glyph_drawer) made MNIST-like, half of them wobbled."""
    made = made_mnist_like(count, glyph_drawer(rng))
    return np.stack([wobbled(image, rng) if rng.random() < 0.5 else image for image in made])


def no_digits(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Things that are no digit, made from training digits, plain shapes and glyphs."""
    first, second = (rng.permutation(len(digits))[: 2 * MADE_FROM_DIGITS] for _ in range(2))
    one, other = first[MADE_FROM_DIGITS:], second[MADE_FROM_DIGITS:]
    lot, second_lot = first[:MADE_FROM_DIGITS], second[:MADE_FROM_DIGITS]
    made = [
        turned(digits[lot], labels[lot], rng),
        chimeras(digits[one], digits[other], labels[one] == labels[other], rng),
        overlaid(digits[lot], digits[second_lot], rng),
        flipped(digits[lot], labels[lot], [2, 3, 4, 5, 6, 7, 9], False),
        flipped(digits[second_lot], labels[second_lot], [2, 3, 4, 5, 7], True),
        np.stack([touching(digits[a], digits[b], rng) for a, b in zip(one, second_lot, strict=True)]),
        shapes("filled", SHAPES, rng),
        shapes("outline", SHAPES, rng),
        shapes("noise", NOISE, rng),
        glyphs(GLYPHS, rng),
    ]
    return np.concatenate(made)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="MNIST, as mnist-cnn train --data")
    parser.add_argument("--output", type=Path, default=DETECTOR)
    parser.add_argument("--epochs", type=int, default=5, help="passes over the digits and the things made")
    arguments = parser.parse_args()
    use_backend()
    (images, labels), _ = split_validation(load_data("mnist", arguments.data)[0], FAST_RECIPE.validation_split)
    rng = np.random.default_rng(7)
    digits, made = images[..., 0], no_digits(images[..., 0], labels.argmax(axis=1), rng)
    inputs = np.concatenate([digits, made])[..., np.newaxis].astype(np.float32)
    targets = np.concatenate([np.zeros(len(digits)), np.ones(len(made))]).astype(np.float32)
    weights = np.where(targets == 1, len(digits) / len(made), 1).astype(np.float32)  # each side weighs alike
    keras.utils.set_random_seed(1)
    network = detector_network()
    network.compile(keras.optimizers.Adam(1e-3), keras.losses.BinaryCrossentropy(from_logits=True))
    network.fit(inputs, targets, sample_weight=weights, batch_size=128, epochs=arguments.epochs, verbose=2)
    print(
        write_arrays(arguments.output, network.get_weights()),
        f"{len(digits):,} digits, {len(made):,} things made to be no digit",
    )
