"""How many digits a shape holds: one, or two or more written touching.

Two digits that touch make one shape. Where it is alone in its image, it is read as one digit unless the check of
mnist_cnn.novelty refuses it whole, and even then the model's answers over its pieces cannot tell two digits from one
wide digit or a letter. A small network shipped with the package, the counter, looks at the shape as a line of
writing, its height fitted in MNIST's 20 pixels and its width kept (up to LINE_WIDTH), so that it sees how wide the
shape is beside how it is drawn: a length classifier, as Hochuli et al. (2018) read digit strings. It was trained
apart from the classifier (scripts/build_counter.py) on training digits written alone and touching, and
mnist_cnn.numbers cuts a shape alone that the check refuses and the counter counts as several. docs/numbers.md says
how it was chosen.
"""

from __future__ import annotations

import functools
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from mnist_cnn.files import read_arrays
from mnist_cnn.mnist_style import DIGIT_BOX, crop_to_digit, pen_of_mnist_width
from mnist_cnn.model import one_logit_network, predict_outputs

COUNTER = Path(__file__).parent / "sample" / "counter.npz"
# A line image is this many pixels high and wide: a shape's height fitted in DIGIT_BOX, up to LINE_WIDTH wide.
LINE_SHAPE, LINE_WIDTH = (28, 56), 52


def line_image(ink: np.ndarray, strokes: np.ndarray) -> np.ndarray:
    """The shape whose `strokes` lie in `ink` as the counter sees it: cropped, strokes as wide as MNIST's, its height
    fitted in DIGIT_BOX (its width in LINE_WIDTH), centred in LINE_SHAPE, (28, 56, 1)."""
    shape = pen_of_mnist_width(*crop_to_digit(ink, strokes))
    scale = min(DIGIT_BOX / shape.shape[0], LINE_WIDTH / shape.shape[1])
    height, width = (max(1, round(side * scale)) for side in shape.shape)
    resized = Image.fromarray(shape.astype(np.float32)).resize((width, height), Image.Resampling.LANCZOS)
    shape = np.clip(np.asarray(resized, dtype=np.float32), 0, 1)
    line = np.zeros(LINE_SHAPE, np.float32)
    top, left = (LINE_SHAPE[0] - height) // 2, (LINE_SHAPE[1] - width) // 2
    line[top : top + height, left : left + width] = shape / max(shape.max(), np.finfo(np.float32).tiny)
    return line[..., np.newaxis]


def counter_network() -> keras.Model:
    """The counter's network, untrained: from a line image to one logit (above 0, several digits)."""
    return one_logit_network((*LINE_SHAPE, 1), "how_many_digits")


@functools.cache
def counter() -> keras.Model:
    """The shipped counter, its weights kept as plain arrays (nothing to unpickle); made once."""
    network = counter_network()
    network.set_weights(read_arrays(COUNTER))
    return network


def several_digits(lines: np.ndarray) -> np.ndarray:
    """The counter's logits for (N, 28, 56, 1) line images: above 0, more likely several digits than one."""
    return np.asarray(predict_outputs(counter(), lines), dtype=np.float32)[:, 0]
