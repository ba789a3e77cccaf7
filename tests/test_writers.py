"""The writers of benchmarks/handwriting.py (tests/writers.py): each a seed that always writes the same digits, no two
alike, legible where they write as MNIST's writers did, and harder to read in the styles MNIST lacks: a real test of
fine-tuning on a hand."""

import numpy as np

from mnist_cnn.mnist_style import image_to_mnist
from mnist_cnn.model import predict_probabilities

from writers import MNIST_LACKS, SIDE, WRITER_STYLES, in_style, writer

WRITERS = range(1, 7)


def test_a_writer_is_their_seed_and_writes_the_same_digits_again():
    images, labels = writer(3).digits(2, np.random.default_rng(0))
    again, _ = writer(3).digits(2, np.random.default_rng(0))
    assert images.shape == (20, SIDE, SIDE) and images.dtype == np.float32
    assert np.array_equal(labels, np.repeat(np.arange(10), 2))
    assert np.array_equal(images, again)
    assert images.min() == 0 and images.max() > 0.9  # ink 1 on paper 0
    assert not np.array_equal(images[0], images[1])  # a hand never writes a digit twice alike


def test_writers_differ():
    digits = [writer(seed).digit(5, np.random.default_rng(0)) for seed in WRITERS]
    assert all(not np.allclose(a, b) for i, a in enumerate(digits) for b in digits[i + 1 :])
    assert len({tuple(sorted(writer(seed).styles.items())) for seed in WRITERS}) > 1


def read(model, inks: list[np.ndarray], labels: list[int]) -> np.ndarray:
    """Which of the inks the model reads right, each made MNIST-like as `mnist-cnn predict` makes an image."""
    images = np.stack([image_to_mnist(ink) for ink in inks])
    return predict_probabilities(model, images).argmax(axis=1) == np.array(labels)


def test_ordinary_shapes_read_well_and_the_styles_mnist_lacks_worse(reading_model):
    """Each writer writes every digit in its ordinary shape, then in each style MNIST lacks: the ordinary ones read
    as MNIST's own do (legible), the others worse on average, the continental 1 (a long flag, no base) much worse:
    fine-tuning has something to learn."""
    rng = np.random.default_rng(40)
    ordinary = [(seed, label, styles[0]) for seed in WRITERS for label, styles in WRITER_STYLES.items()]
    lacking = [(seed, label, style) for seed in WRITERS for label, style in sorted(MNIST_LACKS)]
    continental = [(seed, 1, "long flag") for seed in range(1, 13) for _ in range(2)]
    scores = []
    for written in (ordinary, lacking, continental):
        inks = [in_style(writer(seed), label, style).digit(label, rng) for seed, label, style in written]
        scores.append(read(reading_model, inks, [label for _, label, _ in written]).mean())
    assert scores[0] >= 0.95
    assert scores[1] < scores[0]
    assert scores[2] <= 0.9
