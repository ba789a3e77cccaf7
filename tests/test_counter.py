"""The counter (mnist_cnn.counter): a shape seen as a line of writing, its width kept, and the shipped network telling
digits written touching from one digit alone."""

import numpy as np

from mnist_cnn.counter import LINE_SHAPE, counter_network, line_image, several_digits
from mnist_cnn.files import read_arrays, write_arrays
from mnist_cnn.mnist_style import DIGIT_BOX, ink_and_strokes
from mnist_cnn.numbers import SEVERAL_DIGITS

from digit_kinds import compose

PAIRS = 40  # pairs of the sample's test digits, and as many digits alone


def as_line(ink: np.ndarray) -> np.ndarray:
    """Ink (uint8, light on dark) enlarged 4 times and read as a scan's, as the counter sees it."""
    return line_image(*ink_and_strokes(1 - np.kron(ink, np.ones((4, 4))) / 255))


def ink_extent(line: np.ndarray) -> tuple[int, int]:
    """How many rows and columns of a line image hold ink."""
    inked = line[..., 0] > 0.1
    return int(inked.any(axis=1).sum()), int(inked.any(axis=0).sum())


def test_a_line_image_keeps_how_wide_a_shape_is(raw_sample):
    images = raw_sample[1][0]
    one, two = as_line(images[0]), as_line(compose(images[:2], [0], np.ones(2), np.zeros(2, int))[0])
    assert one.shape == two.shape == (*LINE_SHAPE, 1)
    assert ink_extent(one)[0] == ink_extent(two)[0] == DIGIT_BOX
    assert ink_extent(two)[1] > 1.5 * ink_extent(one)[1]


def test_the_shipped_counter_takes_touching_digits_for_several_and_a_digit_for_one(raw_sample):
    images = raw_sample[1][0]
    pairs = [compose(images[[n, n + 1]], [-1], np.ones(2), np.zeros(2, int))[0] for n in range(0, 2 * PAIRS, 2)]
    logits = several_digits(np.stack([as_line(ink) for ink in [*pairs, *images[:PAIRS]]]))
    assert (logits[:PAIRS] > SEVERAL_DIGITS).mean() >= 0.9
    assert (logits[PAIRS:] <= SEVERAL_DIGITS).all()


def test_a_networks_weights_written_as_plain_arrays_are_read_back_in_order(tmp_path):
    weights = counter_network().get_weights()
    read = read_arrays(write_arrays(tmp_path / "counter.npz", weights))
    assert [array.shape for array in read] == [array.shape for array in weights]
    assert all(np.array_equal(one, other) for one, other in zip(read, weights, strict=True))
