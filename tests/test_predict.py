"""Digits in real image files: drawn here with Pillow in several styles, and broken files beside them."""

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from benchmarks.own_digits import animated_gif, exif_block
from mnist_cnn.errors import ImageError
from mnist_cnn.image_files import read_grey_image
from mnist_cnn.mnist_style import image_to_mnist
from mnist_cnn.predict import predict_files


def mnist_digit_as_photo(digit: np.ndarray, size: int = 200, dark_on_light: bool = True, colour=None) -> Image.Image:
    """An MNIST digit scaled up, off centre on a larger canvas, in the given style: as a user's scan might be."""
    big = Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (size * 2, int(size * 1.5)), 0)
    canvas.paste(big, (size // 3, size // 5))
    if dark_on_light:
        canvas = Image.eval(canvas, lambda value: 255 - value)
    if colour is not None:
        ink, paper = colour
        canvas = Image.composite(Image.new("RGB", canvas.size, paper), Image.new("RGB", canvas.size, ink), canvas)
    return canvas


def test_preprocessing_recovers_an_mnist_digit(raw_sample):
    digit = raw_sample[1][0][0]
    for style in ({"dark_on_light": True}, {"dark_on_light": False}, {"colour": ("navy", "lightyellow")}):
        grey = np.asarray(mnist_digit_as_photo(digit, **style).convert("L"), np.float32) / 255
        restored = image_to_mnist(grey)[..., 0]
        correlation = np.corrcoef(restored.ravel(), digit.ravel() / 255)[0, 1]
        assert correlation > 0.8, style


def test_preprocessed_digit_fits_20x20_and_is_centred_by_mass():
    canvas = Image.new("L", (300, 120), 255)
    ImageDraw.Draw(canvas).rectangle((20, 10, 60, 110), fill=0)  # a tall bar near the left edge
    digit = image_to_mnist(np.asarray(canvas, np.float32) / 255)[..., 0]
    assert digit.shape == (28, 28) and digit.max() == pytest.approx(1, abs=0.05)
    rows, columns = np.nonzero(digit > 0.2)
    assert rows.max() - rows.min() + 1 <= 20 and columns.max() - columns.min() + 1 <= 20
    mass = digit.sum()
    centre = ((digit.sum(axis=1) * np.arange(28)).sum() / mass, (digit.sum(axis=0) * np.arange(28)).sum() / mass)
    assert centre == pytest.approx((14, 14), abs=1)


def test_the_aspect_ratio_is_kept():
    canvas = Image.new("L", (300, 200), 255)
    ImageDraw.Draw(canvas).rectangle((50, 90, 250, 110), fill=0)  # a wide bar, 10 times wider than high
    digit = image_to_mnist(np.asarray(canvas, np.float32) / 255)[..., 0]
    rows, columns = np.nonzero(digit > 0.5)
    height, width = rows.max() - rows.min() + 1, columns.max() - columns.min() + 1
    assert width == 20 and height <= 4


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


def test_transparent_png_counts_as_white_paper(tmp_path):
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((30, 20, 70, 80), outline=(0, 0, 0, 255), width=8)
    image.save(tmp_path / "zero.png")
    digit = image_to_mnist(read_grey_image(tmp_path / "zero.png"))[..., 0]
    assert digit[14, 14] < 0.2 and digit.max() > 0.9  # a light ring on black, hollow in the middle


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


def test_reading_a_broken_file_raises_image_error(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ImageError, match="bad.png: not a readable image"):
        read_grey_image(tmp_path / "bad.png")


def test_a_drawn_digit_is_read(reading_model, tmp_path):
    # A "1" drawn as a thick vertical stroke: a shape every MNIST model knows.
    canvas = Image.new("RGB", (240, 320), "white")
    ImageDraw.Draw(canvas).line((120, 40, 120, 280), fill="black", width=28)
    canvas.save(tmp_path / "one.png")
    assert predict_files(reading_model, [tmp_path / "one.png"])[0].digit == 1


def photo_of_paper(digit: np.ndarray, sheet=(1200, 900), digit_height=140, seed=0) -> Image.Image:
    """An MNIST digit written small on a sheet photographed under uneven light: bright on one side, the soft shadow
    of the phone over the digit, a little sensor noise, as a phone takes it."""
    rng = np.random.default_rng(seed)
    width, height = sheet
    columns = np.linspace(0, 1, width)[np.newaxis, :]
    rows = np.linspace(0, 1, height)[:, np.newaxis]
    top, left = int(height * 0.55), int(width * 0.6)  # off centre, on the dim side
    centre_row, centre_column = (top + digit_height / 2) / height, (left + digit_height / 2) / width
    shadow = np.exp(-((rows - centre_row) ** 2 + (columns - centre_column) ** 2) / (2 * 0.12**2))
    paper = 0.95 - 0.35 * columns - 0.35 * shadow
    ink = np.asarray(Image.fromarray(digit).resize((digit_height, digit_height), Image.Resampling.BICUBIC), float) / 255
    paper[top : top + digit_height, left : left + digit_height] *= 1 - 0.85 * ink
    photo = np.clip(paper + rng.normal(0, 0.02, paper.shape), 0, 1)
    return Image.fromarray((photo * 255).astype(np.uint8)).convert("RGB")


def correlation_with(digit: np.ndarray, restored: np.ndarray) -> float:
    return float(np.corrcoef(restored.ravel(), digit.ravel() / 255)[0, 1])


def test_photos_of_paper_with_uneven_light_are_read_as_the_digit(raw_sample, tmp_path):
    for index in range(5):
        digit = raw_sample[1][0][index]
        path = tmp_path / f"photo{index}.jpg"
        photo_of_paper(digit, seed=index).save(path, quality=90)
        restored = image_to_mnist(read_grey_image(path))[..., 0]
        assert correlation_with(digit, restored) > 0.75, index


def test_photo_predictions_match_the_clean_digits(reading_model, raw_sample, tmp_path):
    digits = raw_sample[1][0][:20]
    clean = reading_model.predict_on_batch(digits[..., np.newaxis].astype(np.float32) / 255).argmax(axis=1)
    paths = []
    for index, digit in enumerate(digits):
        paths.append(tmp_path / f"photo{index}.jpg")
        photo_of_paper(digit, seed=index).save(paths[-1])
    predicted = [prediction.digit for prediction in predict_files(reading_model, paths)]
    assert sum(int(a == b) for a, b in zip(predicted, clean, strict=True)) >= 19  # 20 of 20 measured


def test_orientation_is_taken_as_the_camera_recorded_it(raw_sample, tmp_path):
    digit = raw_sample[1][0][0]
    upright = photo_of_paper(digit)
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # the sensor's pixels, turned
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    sideways.save(tmp_path / "phone.jpg", exif=exif)
    restored = image_to_mnist(read_grey_image(tmp_path / "phone.jpg"))[..., 0]
    assert correlation_with(digit, restored) > 0.75


@pytest.mark.parametrize("mode", ["1", "P", "LA", "RGBA", "CMYK", "I;16", "I", "F", "YCbCr"])
def test_every_image_mode_is_read(raw_sample, tmp_path, mode):
    digit = raw_sample[1][0][3]
    image = mnist_digit_as_photo(digit)  # dark on light, L
    if mode == "I;16":
        converted = Image.fromarray((np.asarray(image, np.uint16) * 257).astype(np.uint16))  # 16-bit grey
    elif mode in ("I", "F"):
        converted = image.convert(mode)
    else:
        converted = image.convert("RGB").convert(mode) if mode in ("CMYK", "YCbCr") else image.convert(mode)
    suffix = {"CMYK": "jpg", "YCbCr": "jpg", "F": "tiff", "I": "tiff"}.get(mode, "png")
    path = tmp_path / f"digit.{suffix}"
    converted.save(path)
    restored = image_to_mnist(read_grey_image(path))[..., 0]
    assert correlation_with(digit, restored) > 0.75


def tiny_png_claiming(width: int, height: int) -> bytes:
    """A PNG file of a few bytes whose header claims a huge image (a decompression bomb)."""
    import struct
    import zlib

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


def test_large_images_are_reduced_as_they_are_read_keeping_their_shape(tmp_path):
    Image.new("RGB", (4000, 3000), "white").save(tmp_path / "page.jpg")
    height, width = read_grey_image(tmp_path / "page.jpg").shape
    assert height * width <= 1024**2 * 1.01 and abs(width / height - 4 / 3) < 0.01


# Issue 18, group 7: photos a new user took.


def test_a_sheet_on_a_dark_desk_is_read_dark_on_light(raw_sample, tmp_path):
    digit = raw_sample[1][0][0]
    sheet = np.asarray(photo_of_paper(digit, sheet=(600, 450), digit_height=100).convert("L"), np.float32)
    desk = np.full((900, 1200), 30, np.float32)  # the sheet fills a quarter of the frame
    desk[225:675, 300:900] = sheet
    Image.fromarray(desk.astype(np.uint8)).save(tmp_path / "desk.jpg", quality=90)
    restored = image_to_mnist(read_grey_image(tmp_path / "desk.jpg"))[..., 0]
    assert correlation_with(digit, restored) > 0.75


def test_a_speck_of_dust_in_a_tight_crop_is_not_the_digit(raw_sample):
    digit = raw_sample[1][0][0]
    rows, columns = np.flatnonzero(digit.max(axis=1) > 0), np.flatnonzero(digit.max(axis=0) > 0)
    crop = digit[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]  # the digit touches every edge
    big = np.asarray(Image.fromarray(crop).resize((crop.shape[1] * 6, crop.shape[0] * 6)), np.float32) / 255
    grey = 1 - big
    empty = np.argwhere(ndimage.distance_transform_edt(big < 0.05) > 6)
    row, column = empty[len(empty) // 2]
    grey[row - 2 : row + 2, column - 2 : column + 2] = 0  # a speck, inside the crop, away from the strokes
    clean = image_to_mnist(1 - big)[..., 0]
    assert correlation_with(clean * 255, image_to_mnist(grey)[..., 0]) > 0.9


def test_white_ink_on_a_transparent_layer_is_read(raw_sample, tmp_path):
    digit = raw_sample[1][0][0]
    alpha = Image.fromarray(digit).resize((200, 200), Image.Resampling.BICUBIC)
    layer = Image.new("RGBA", (200, 200), (255, 255, 255, 0))
    layer.putalpha(alpha)  # white everywhere, seen only where the digit was drawn
    layer.save(tmp_path / "white-ink.png")
    restored = image_to_mnist(read_grey_image(tmp_path / "white-ink.png"))[..., 0]
    assert correlation_with(digit, restored) > 0.8


def test_a_long_strip_keeps_its_digit_large_enough(raw_sample, tmp_path):
    digit = raw_sample[1][0][0]
    strip = np.full((100, 20_000), 255, np.uint8)
    strip[10:90, 9_960:10_040] = 255 - np.asarray(Image.fromarray(digit).resize((80, 80)))
    Image.fromarray(strip).save(tmp_path / "strip.png")
    assert read_grey_image(tmp_path / "strip.png").shape[0] >= 56
    restored = image_to_mnist(read_grey_image(tmp_path / "strip.png"))[..., 0]
    assert correlation_with(digit, restored) > 0.8


def test_several_digits_side_by_side_get_a_note(raw_sample, caplog):
    first, second = (1 - np.asarray(mnist_digit_as_photo(raw_sample[1][0][index]).convert("L"), np.float32) / 255
                      for index in (0, 1))  # fmt: skip
    with caplog.at_level("WARNING", logger="mnist_cnn.mnist_style"):
        image_to_mnist(1 - first, "one.png")
        assert caplog.messages == []
        image_to_mnist(1 - np.concatenate([first, second], axis=1), "two.png")
    assert caplog.messages == ["note: two.png: 2 digit-like shapes side by side, read as one digit: crop it to one"]


# Issue 24: the failures seen in users' files, each its own test.


def test_exif_orientation_is_applied_when_another_tag_is_mistyped(raw_sample, tmp_path, caplog):
    digit = raw_sample[1][0][0]
    sideways = photo_of_paper(digit).transpose(Image.Transpose.ROTATE_90)
    sideways.save(tmp_path / "phone.jpg", exif=exif_block(6, broken=True))  # DateTime typed as a rational
    restored = image_to_mnist(read_grey_image(tmp_path / "phone.jpg"))[..., 0]
    assert correlation_with(digit, restored) > 0.75
    assert caplog.messages == []


def test_an_animated_gifs_first_frame_is_read(raw_sample, tmp_path):
    digit = raw_sample[1][0][2]
    path = animated_gif(digit, np.random.default_rng(0), tmp_path / "digit")  # fades out, its last frame blank
    restored = image_to_mnist(read_grey_image(path))[..., 0]
    assert correlation_with(digit, restored) > 0.8


def test_white_strokes_on_a_black_transparent_layer_are_read(raw_sample, tmp_path):
    digit = raw_sample[1][0][4]
    layer = np.zeros((196, 196, 4), np.uint8)  # transparent black, as drawing apps store an empty layer
    layer[..., :3] = 255 * (digit > 0).repeat(7, axis=0).repeat(7, axis=1)[..., None]
    layer[..., 3] = np.kron(digit, np.ones((7, 7), np.uint8))
    Image.fromarray(layer, "RGBA").save(tmp_path / "white-ink.png")
    restored = image_to_mnist(read_grey_image(tmp_path / "white-ink.png"))[..., 0]
    assert correlation_with(digit, restored) > 0.9


def test_a_white_on_black_digit_filling_its_image_is_read(raw_sample, tmp_path):
    for digit in raw_sample[1][0][:20]:  # bold zeros among them: the middle of the image is mostly ink
        Image.fromarray(digit).resize((196, 196), Image.Resampling.BICUBIC).save(tmp_path / "digit.png")
        restored = image_to_mnist(read_grey_image(tmp_path / "digit.png"))[..., 0]
        assert correlation_with(digit, restored) > 0.75  # read, where it vanished ("no digit found")


def test_a_broken_eight_is_one_digit_with_both_loops(caplog):
    canvas = Image.new("L", (160, 240), 255)
    draw = ImageDraw.Draw(canvas)
    draw.ellipse((40, 20, 120, 100), outline=0, width=10)  # the loops do not touch: 10 pixels apart
    draw.ellipse((30, 110, 130, 220), outline=0, width=10)
    with caplog.at_level("WARNING", logger="mnist_cnn.mnist_style"):
        digit = image_to_mnist(np.asarray(canvas, np.float32) / 255, "eight.png")[..., 0]
    assert caplog.messages == []
    columns = np.flatnonzero(digit.max(axis=0) > 0.5)
    assert columns.max() - columns.min() + 1 <= 12  # both loops: twice as tall as wide, where one loop is round


def test_mnist_digits_come_back_as_themselves(reading_model, raw_sample):
    digits = raw_sample[1][0]
    restored = np.stack([image_to_mnist(digit.astype(np.float32) / 255) for digit in digits])
    originals = digits[..., np.newaxis].astype(np.float32) / 255
    difference = np.abs(restored - originals).mean(axis=(1, 2, 3))
    assert np.median(difference) < 0.01 and np.percentile(difference, 95) < 0.03
    same = reading_model.predict_on_batch(restored).argmax(1) == reading_model.predict_on_batch(originals).argmax(1)
    assert same.mean() >= 0.998
