"""Write mnist_cnn/sample/counter.npz: the weights of the small network that says whether a shape is one digit or
several written touching (mnist_cnn.counter).

It is trained on MNIST's training digits written alone, and two or three of them written touching or overlapping as
the benchmark writes a touching pair (scripts/build_detector.py's `written`), each seen as a line image; and on
fewer of them written as files of the own-digits kinds (tests/digit_kinds.py) and read back as a user's file is (a
tight crop cuts a digit's edge, a marker thickens it). Things made to be no digit (scripts/build_detector.py's
digits turned, mirrored or upside down, and glyphs) are shown as not several, so that it takes no such shape for
digits touching. MNIST's validation digits are not used, so that they can choose where a shape is cut
(docs/numbers.md).

    python scripts/build_counter.py --data ../shared/data
"""

import argparse
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import keras
import numpy as np

from mnist_cnn.backend import use_backend
from mnist_cnn.config import FAST_RECIPE
from mnist_cnn.counter import COUNTER, counter_network, line_image
from mnist_cnn.data import load_data, split_validation
from mnist_cnn.errors import ImageError
from mnist_cnn.files import write_arrays
from mnist_cnn.image_files import read_grey_image
from mnist_cnn.mnist_style import ink_and_strokes
from mnist_cnn.numbers import number_readings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_detector import flipped, glyph_drawer, made_mnist_like, turned, written  # noqa: E402

from digit_kinds import KINDS, SCALES, SHIFT, compose, render_kind  # noqa: E402

# Gaps between touching digits, in pixels at MNIST's scale: overlapping by up to 4, or up to 2 apart.
GAPS = (-4, 2)
# Shapes of one, two and three digits written as files of each own-digits kind.
ON_FILES = {1: 240, 2: 180, 3: 60}
# Things that are no digit, counted as no several digits: of each kind (turned, mirrored or upside down, glyphs).
NO_DIGITS = 6000


def lines(digits: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Line images of `count` digits written touching (one alone, for 1), as many as there are digits over `count`."""
    made = []
    for _ in range(len(digits) // count):
        ink, strokes = written(list(digits[rng.integers(len(digits), size=count)]), rng, GAPS)
        made.append(line_image(ink, strokes))
    return np.stack(made)


def no_digit_lines(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Line images of things that are no digit (scripts/build_detector.py's): digits turned a quarter, mirrored or
    upside down, and glyphs."""
    order = rng.permutation(len(digits))[:NO_DIGITS]
    chosen = digits[order], labels[order]
    flips = np.concatenate([flipped(*chosen, [2, 3, 4, 5, 7], True), flipped(*chosen, [2, 3, 4, 5, 6, 7, 9], False)])
    made = [*turned(*chosen, rng), *flips[rng.permutation(len(flips))[:NO_DIGITS]]]
    shapes = np.stack([line_image(*written([one], rng, GAPS))[..., 0] for one in made])
    return np.concatenate([shapes, made_mnist_like(NO_DIGITS, glyph_drawer(rng), line_of)])[..., np.newaxis]


def line_of(grey: np.ndarray) -> np.ndarray:
    """An image drawn dark on white (grey levels) as the counter sees it."""
    return line_image(*ink_and_strokes(grey))


def file_lines(digits: np.ndarray, kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Line images of ON_FILES shapes of one to three `digits` (uint8) written as files of `kind` and read back (those
    read as one shape), and whether each is of several digits."""
    rng = np.random.default_rng([seed, *kind.encode()])
    shapes, counts = [], []
    for count, number in ON_FILES.items():
        for _ in range(number):
            chosen = digits[rng.integers(len(digits), size=count)]
            gaps, shifts = list(rng.integers(GAPS[0], GAPS[1] + 1, count - 1)), rng.integers(-SHIFT, SHIFT + 1, count)
            shapes.append(chosen[0] if count == 1 else compose(chosen, gaps, rng.uniform(*SCALES, count), shifts)[0])
            counts.append(count)
    read, several = [], []
    with tempfile.TemporaryDirectory() as folder:
        for path, count in zip(render_kind(kind, shapes, Path(folder), seed), counts, strict=True):
            try:
                readings = number_readings(*ink_and_strokes(read_grey_image(path)))
            except ImageError:
                continue
            if len(readings) == 1:
                read.append(line_image(readings[0].ink, readings[0].strokes))
                several.append(count > 1)
    return np.stack(read), np.array(several)


def all_file_lines(digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """file_lines over every own-digits kind, on two processes (reading files is NumPy's work, not Keras')."""
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        made = list(pool.map(file_lines, [digits] * len(KINDS), KINDS, [11] * len(KINDS)))
    return np.concatenate([read for read, _ in made]), np.concatenate([several for _, several in made])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="MNIST, as mnist-cnn train --data")
    parser.add_argument("--output", type=Path, default=COUNTER)
    parser.add_argument("--epochs", type=int, default=5, help="passes over the shapes made")
    arguments = parser.parse_args()
    use_backend()
    (images, labels), _ = split_validation(load_data("mnist", arguments.data)[0], FAST_RECIPE.validation_split)
    rng = np.random.default_rng(11)
    digits = images[..., 0]
    singles, several = lines(digits, 1, rng), np.concatenate([lines(digits, 2, rng), lines(digits, 3, rng)])
    singles = np.concatenate([singles, no_digit_lines(digits, labels.argmax(axis=1), rng)])
    on_files, several_on_files = all_file_lines(np.round(digits * 255).astype(np.uint8))
    inputs = np.concatenate([singles, several, on_files])
    targets = np.concatenate([np.zeros(len(singles)), np.ones(len(several)), several_on_files]).astype(np.float32)
    keras.utils.set_random_seed(1)
    network = counter_network()
    network.compile(keras.optimizers.Adam(1e-3), keras.losses.BinaryCrossentropy(from_logits=True))
    network.fit(inputs, targets, batch_size=128, epochs=arguments.epochs, verbose=2)
    shapes = (
        f"{len(singles) + (~several_on_files).sum():,} single digits, {len(several) + several_on_files.sum():,} several"
    )
    print(write_arrays(arguments.output, network.get_weights()), shapes, f"({len(on_files):,} of them as files)")
