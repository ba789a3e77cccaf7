"""Predicting the digits in image files (mnist_cnn.predict): files read, made MNIST-like, and each answered, or given
its own error without stopping the others."""

import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw

from mnist_cnn.predict import predict_files

from user_images import mnist_digit_as_photo, photo_of_paper, truncated_qoi


def test_predicts_digits_from_image_files_as_from_the_digits_themselves(reading_model, raw_sample, tmp_path):
    images = raw_sample[1][0][:30]
    on_the_digits = reading_model.predict_on_batch(images[..., np.newaxis].astype(np.float32) / 255).argmax(1)
    styles = [{"dark_on_light": True}, {"dark_on_light": False}, {"colour": ("darkred", "white")}]
    paths = []
    for index, image in enumerate(images):
        path = tmp_path / f"digit{index}.{'png' if index % 2 else 'jpg'}"
        mnist_digit_as_photo(image, **styles[index % 3]).save(path)
        paths.append(path)
    predictions = predict_files(reading_model, paths, top=3)
    assert all(prediction.error is None for prediction in predictions)
    same = sum(prediction.digit == digit for prediction, digit in zip(predictions, on_the_digits, strict=True))
    assert same >= 29  # clean renders of the digits: the same answers (30 of 30 measured), but for a borderline one
    assert all(len(prediction.top) == 3 and prediction.top[0][1] >= prediction.top[1][1] for prediction in predictions)


def test_a_drawn_digit_is_read(reading_model, tmp_path):
    # A "1" drawn as a thick vertical stroke: a shape every MNIST model knows.
    canvas = Image.new("RGB", (240, 320), "white")
    ImageDraw.Draw(canvas).line((120, 40, 120, 280), fill="black", width=28)
    canvas.save(tmp_path / "one.png")
    assert predict_files(reading_model, [tmp_path / "one.png"])[0].digit == 1


def test_photo_predictions_match_the_clean_digits(reading_model, raw_sample, tmp_path):
    digits = raw_sample[1][0][:20]
    clean = reading_model.predict_on_batch(digits[..., np.newaxis].astype(np.float32) / 255).argmax(axis=1)
    paths = []
    for index, digit in enumerate(digits):
        paths.append(tmp_path / f"photo{index}.jpg")
        photo_of_paper(digit, seed=index).save(paths[-1])
    predicted = [prediction.digit for prediction in predict_files(reading_model, paths)]
    assert sum(int(a == b) for a, b in zip(predicted, clean, strict=True)) >= 19  # 20 of 20 measured


def write_broken_files(folder, good_image):
    good_image.save(folder / "good.png")
    (folder / "notes.png").write_text("this is text, not an image")
    (folder / "empty.jpg").write_bytes(b"")
    png = (folder / "good.png").read_bytes()
    (folder / "truncated.png").write_bytes(png[: len(png) // 2])
    Image.new("L", (50, 50), 255).save(folder / "blank.png")
    return {
        "notes.png": "not a readable image",
        "empty.jpg": "not a readable image",
        "truncated.png": "not a readable image",
        "blank.png": "no digit found",
        "missing.png": "no such file",
    }


def test_broken_files_each_get_an_error_and_the_others_are_predicted(reading_model, raw_sample, tmp_path):
    expected = write_broken_files(tmp_path, mnist_digit_as_photo(raw_sample[1][0][0]))
    paths = [tmp_path / "good.png", *(tmp_path / name for name in expected)]
    predictions = predict_files(reading_model, paths)
    assert predictions[0].error is None and predictions[0].digit is not None
    for prediction, (name, message) in zip(predictions[1:], expected.items(), strict=True):
        assert prediction.digit is None and name in prediction.error and message in prediction.error


def tiny_png_claiming(width: int, height: int) -> bytes:
    """A PNG file of a few bytes whose header claims a huge image (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_an_enormous_image_is_its_own_error_and_the_others_are_predicted(reading_model, raw_sample, tmp_path):
    (tmp_path / "huge.png").write_bytes(tiny_png_claiming(30_000, 30_000))
    mnist_digit_as_photo(raw_sample[1][0][0]).save(tmp_path / "good.png")
    huge, good = predict_files(reading_model, [tmp_path / "huge.png", tmp_path / "good.png"])
    assert huge.digit is None and "huge.png: too large to read safely" in huge.error
    assert good.error is None and good.digit is not None


def test_a_file_whose_decoder_raises_an_unexpected_error_is_its_own_error_and_the_others_are_predicted(
    reading_model, raw_sample, tmp_path
):
    # A truncated QOI image named .png: Pillow's decoder raises IndexError, which is no ImageError nor OSError.
    (tmp_path / "cut.png").write_bytes(truncated_qoi(mnist_digit_as_photo(raw_sample[1][0][0])))
    mnist_digit_as_photo(raw_sample[1][0][1]).save(tmp_path / "good.png")
    cut, good = predict_files(reading_model, [tmp_path / "cut.png", tmp_path / "good.png"])
    assert cut.digit is None and cut.error.startswith(str(tmp_path / "cut.png"))
    assert "cannot be read (IndexError" in cut.error and "\n" not in cut.error
    assert good.error is None and good.digit is not None
