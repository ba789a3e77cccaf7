"""Reading image files into grey levels (mnist_cnn.image_files): formats and modes, a phone's EXIF orientation,
transparency, an animated GIF's first frame, and large images reduced as they are read."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_cnn.errors import ImageError
from mnist_cnn.image_files import read_grey_image
from mnist_cnn.mnist_style import image_to_mnist

from digit_kinds import animated_gif, exif_block
from user_images import correlation_with, mnist_digit_as_photo, photo_of_paper


def test_reading_a_broken_file_raises_image_error(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ImageError, match="bad.png: not a readable image"):
        read_grey_image(tmp_path / "bad.png")


def test_large_images_are_reduced_as_they_are_read_keeping_their_shape(tmp_path):
    Image.new("RGB", (4000, 3000), "white").save(tmp_path / "page.jpg")
    height, width = read_grey_image(tmp_path / "page.jpg").shape
    assert height * width <= 1024**2 * 1.01 and abs(width / height - 4 / 3) < 0.01


def test_a_long_strip_keeps_its_digit_large_enough(raw_sample, tmp_path):
    digit = raw_sample[1][0][0]
    strip = np.full((100, 20_000), 255, np.uint8)
    strip[10:90, 9_960:10_040] = 255 - np.asarray(Image.fromarray(digit).resize((80, 80)))
    Image.fromarray(strip).save(tmp_path / "strip.png")
    assert read_grey_image(tmp_path / "strip.png").shape[0] >= 56
    restored = image_to_mnist(read_grey_image(tmp_path / "strip.png"))[..., 0]
    assert correlation_with(digit, restored) > 0.8


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


def test_orientation_is_taken_as_the_camera_recorded_it(raw_sample, tmp_path):
    digit = raw_sample[1][0][0]
    upright = photo_of_paper(digit)
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # the sensor's pixels, turned
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    sideways.save(tmp_path / "phone.jpg", exif=exif)
    restored = image_to_mnist(read_grey_image(tmp_path / "phone.jpg"))[..., 0]
    assert correlation_with(digit, restored) > 0.75


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


def test_transparent_png_counts_as_white_paper(tmp_path):
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((30, 20, 70, 80), outline=(0, 0, 0, 255), width=8)
    image.save(tmp_path / "zero.png")
    digit = image_to_mnist(read_grey_image(tmp_path / "zero.png"))[..., 0]
    assert digit[14, 14] < 0.2 and digit.max() > 0.9  # a light ring on black, hollow in the middle


def test_white_ink_on_a_transparent_layer_is_read(raw_sample, tmp_path):
    digit = raw_sample[1][0][0]
    alpha = Image.fromarray(digit).resize((200, 200), Image.Resampling.BICUBIC)
    layer = Image.new("RGBA", (200, 200), (255, 255, 255, 0))
    layer.putalpha(alpha)  # white everywhere, seen only where the digit was drawn
    layer.save(tmp_path / "white-ink.png")
    restored = image_to_mnist(read_grey_image(tmp_path / "white-ink.png"))[..., 0]
    assert correlation_with(digit, restored) > 0.8


def test_white_strokes_on_a_black_transparent_layer_are_read(raw_sample, tmp_path):
    digit = raw_sample[1][0][4]
    layer = np.zeros((196, 196, 4), np.uint8)  # transparent black, as drawing apps store an empty layer
    layer[..., :3] = 255 * (digit > 0).repeat(7, axis=0).repeat(7, axis=1)[..., None]
    layer[..., 3] = np.kron(digit, np.ones((7, 7), np.uint8))
    Image.fromarray(layer, "RGBA").save(tmp_path / "white-ink.png")
    restored = image_to_mnist(read_grey_image(tmp_path / "white-ink.png"))[..., 0]
    assert correlation_with(digit, restored) > 0.9
