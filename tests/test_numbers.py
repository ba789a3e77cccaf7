"""Reading a written number (mnist_cnn.numbers): digits apart and touching, read left to right by predict_files, and
an image of one digit read as one digit."""

import numpy as np
import pytest
from PIL import Image

import mnist_cnn.numbers
from mnist_cnn.novelty import novelty_for
from mnist_cnn.predict import predict_files

SCALE = 4


def written(path, digits: list[np.ndarray], gap: int):
    """MNIST digits (28x28, uint8) cut to their ink's columns and written left to right `gap` pixels apart at
    MNIST's scale (0: touching), enlarged and dark on white, as a scan."""
    crops = []
    for digit in digits:
        columns = np.flatnonzero(digit.max(axis=0) > 25)
        crops.append(digit[:, columns[0] : columns[-1] + 1].astype(np.float32) / 255)
    canvas = np.zeros((48, sum(crop.shape[1] for crop in crops) + gap * (len(crops) - 1) + 40), np.float32)
    left = 20
    for crop in crops:
        place = canvas[10:38, left : left + crop.shape[1]]
        np.maximum(place, crop, out=place)
        left += crop.shape[1] + gap
    Image.fromarray(((1 - np.kron(canvas, np.ones((SCALE, SCALE)))) * 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def check(reading_model):
    from pathlib import Path

    return novelty_for(reading_model, Path(__file__).parent / "data" / "reading-model.keras")


def test_digits_written_apart_are_read_as_one_number_left_to_right(reading_model, check, raw_sample, tmp_path):
    images, labels = raw_sample[1]
    numbers = [[0, 1, 2], [3, 4, 5, 6], [7, 8, 9]]
    paths = [written(tmp_path / f"{n}.png", [images[i] for i in chosen], gap=6) for n, chosen in enumerate(numbers)]
    predictions = predict_files(reading_model, paths, check=check)
    assert [p.number for p in predictions] == ["".join(str(labels[i]) for i in chosen) for chosen in numbers]
    first = predictions[0]
    assert first.digit is None and len(first.digits) == 3 and 0 < first.probability <= 1
    lefts = [digit.box[1].start for digit in first.digits]
    assert lefts == sorted(lefts)


def test_touching_digits_are_cut_where_the_model_reads_the_pieces(reading_model, check, raw_sample, tmp_path):
    images, labels = raw_sample[1]
    pairs = [[13, 14, 15], [16, 17, 18]]  # three digits touching: no gap between their ink
    paths = [written(tmp_path / f"{n}.png", [images[i] for i in chosen], gap=0) for n, chosen in enumerate(pairs)]
    predictions = predict_files(reading_model, paths, check=check)
    assert [p.number for p in predictions] == ["".join(str(labels[i]) for i in chosen) for chosen in pairs]


def test_an_image_of_one_digit_reads_as_one_digit(reading_model, check, raw_sample, tmp_path):
    images, labels = raw_sample[1]
    paths = [written(tmp_path / f"{i}.png", [images[i]], gap=0) for i in range(20)]
    predictions = predict_files(reading_model, paths, check=check)
    assert all(len(p.digits) == 1 and p.number == str(p.digit) for p in predictions)
    assert np.mean([p.digit == labels[i] for i, p in enumerate(predictions)]) >= 0.95
    assert not any(p.not_a_digit for p in predictions)


def test_without_cuts_touching_digits_would_be_one(reading_model, check, raw_sample, tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_cnn.numbers, "SPLIT_ASPECT", 100.0)
    images, _ = raw_sample[1]
    (prediction,) = predict_files(reading_model, [written(tmp_path / "n.png", list(images[13:16]), 0)], check=check)
    assert len(prediction.digits) < 3  # what the test above holds is the cutting's doing
