"""Your own digits, in CI: the shipped sample's test digits written as every kind of file of the benchmark
(benchmarks/own_digits.py), read as `mnist-cnn predict` reads them, scored against the same digits as arrays."""

import numpy as np
import pytest

from benchmarks.own_digits import KINDS, render_kind
from mnist_cnn.predict import predict_files

PER_KIND = 40


@pytest.fixture(scope="module")
def digits(raw_sample, trained_run):
    images, labels = raw_sample[1]
    on_arrays = trained_run.model.predict_on_batch(images[..., np.newaxis].astype(np.float32) / 255).argmax(1)
    return images, labels, on_arrays


def test_the_quick_model_reads_the_arrays_well_enough_to_tell(digits):
    images, labels, on_arrays = digits
    assert (on_arrays == labels).mean() > 0.85  # a kind read badly loses digits the model knows


# Kinds whose gap reading alone has not closed yet (benchmarks/results/own-digits.md): guarded at the loss measured
# with this quick model (in digits of PER_KIND), so that they can only get better; every other kind at one digit.
KNOWN_GAPS = {
    "sheet on a desk": 2,
    "fine pen, high resolution": 3,
    "chalk on a board": 2,
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_file_reads_as_well_as_the_arrays(kind, digits, trained_run, tmp_path):
    images, labels, on_arrays = digits
    chosen = np.random.default_rng(len(kind)).choice(len(images), PER_KIND, replace=False)
    paths = render_kind(kind, images[chosen], tmp_path)
    predictions = predict_files(trained_run.model, paths)
    from_files = np.array([-1 if prediction.digit is None else prediction.digit for prediction in predictions])
    files_accuracy = (from_files == labels[chosen]).mean()
    arrays_accuracy = (on_arrays[chosen] == labels[chosen]).mean()
    allowed = KNOWN_GAPS.get(kind, 1) / PER_KIND
    assert files_accuracy >= arrays_accuracy - allowed, [p.error for p in predictions if p.error]
