"""Your own digits, in CI: the shipped sample's test digits written as every kind of file people make
(tests/digit_kinds.py; benchmarks/own_digits.py measures the same at scale), read as `mnist-cnn predict` reads them,
scored against the same digits as arrays."""

import numpy as np
import pytest
from scipy import ndimage

from mnist_cnn.predict import predict_files

from digit_kinds import KINDS, digit_crop, enlarged, pen_line, render_kind, sklearn_as_mnist

PER_KIND = 40


@pytest.fixture(scope="module")
def digits(raw_sample, reading_model):
    images, labels = raw_sample[1]
    on_arrays = reading_model.predict_on_batch(images[..., np.newaxis].astype(np.float32) / 255).argmax(1)
    return images, labels, on_arrays


def test_the_model_reads_the_arrays_well_enough_to_tell(digits):
    images, labels, on_arrays = digits
    assert (on_arrays == labels).mean() > 0.97  # a kind read badly loses digits the model knows


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_file_reads_as_well_as_the_arrays(kind, digits, reading_model, tmp_path):
    images, labels, on_arrays = digits
    chosen = np.random.default_rng(len(kind)).choice(len(images), PER_KIND, replace=False)
    paths = render_kind(kind, images[chosen], tmp_path)
    predictions = predict_files(reading_model, paths)
    from_files = np.array([-1 if prediction.digit is None else prediction.digit for prediction in predictions])
    files_accuracy = (from_files == labels[chosen]).mean()
    arrays_accuracy = (on_arrays[chosen] == labels[chosen]).mean()
    assert files_accuracy >= arrays_accuracy - 1 / PER_KIND, [p.error for p in predictions if p.error]


def test_the_fine_pen_draws_every_loop_of_the_digit(raw_sample):
    """The benchmark's fine pen traces a digit as a person would: each loop of its ink (a 0's, a 6's, both of an
    8's) is a closed loop of the pen's line too, so that a fine pen's file shows the digit."""
    images, labels = raw_sample[1]
    for digit in images[np.isin(labels, [0, 6, 8, 9])][:30]:
        ink = enlarged(digit_crop(digit), 300)
        loops = ndimage.label(~np.pad(ink > 0.5, 1))[1] - 1
        line = pen_line(ink, radius=2) > 0.5
        assert ndimage.label(~np.pad(line, 1))[1] - 1 >= loops
        assert line.sum() < 0.5 * (ink > 0.5).sum()  # a thin line, not the strokes themselves


def test_scikit_learns_arrays_are_made_mnist_like_as_mnists_makers_did():
    """The reference for scikit-learn's 8x8 digits read from files: the same arrays cut to their ink, fitted in 20x20
    keeping the aspect ratio and centred by mass in 28x28, as MNIST's makers did."""
    seven = np.zeros((8, 8))
    seven[1, 1:7] = 16
    seven[2:8, 5] = 12
    field = sklearn_as_mnist(seven).astype(np.float32)
    rows, columns = np.flatnonzero(field.max(axis=1) > 0), np.flatnonzero(field.max(axis=0) > 0)
    assert field.shape == (28, 28) and field.max() == 255
    assert rows[-1] - rows[0] + 1 == 20  # its height, the longer side, fills the box
    assert columns[-1] - columns[0] + 1 < 20  # its width keeps the aspect ratio (6 columns to 7 rows)
    assert np.allclose(ndimage.center_of_mass(field), (14, 14), atol=0.5)
