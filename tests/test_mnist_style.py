"""The steps of making a user's image MNIST-like (mnist_cnn.mnist_style), each on an image made for it."""

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from mnist_cnn.image_files import read_grey_image
from mnist_cnn.mnist_style import (
    eroded_by_disc,
    image_to_mnist,
    ink_under_page_light,
    is_a_page,
    paper_level,
    stroke_width,
    without_the_frame,
)

from digit_kinds import disk
from user_images import correlation_with, mnist_digit_as_photo, photo_of_paper

# The grey levels of white paper and of a dark pen's ink.
PAPER = 0.96
INK = 0.05


def ring(side: int, box: tuple[int, int, int, int], width: int) -> np.ndarray:
    """A dark ring (a 0) on white paper: the grey levels."""
    image = Image.new("L", (side, side), round(PAPER * 255))
    ImageDraw.Draw(image).ellipse(box, outline=round(INK * 255), width=width)
    return np.asarray(image, np.float32) / 255


def sloped_light_with_a_shadow(side: int) -> np.ndarray:
    """The light on a photographed sheet: brighter to the right, and a phone's shadow left of the centre."""
    rows, columns = np.mgrid[0:side, 0:side] / side
    return 0.85 + 0.3 * (columns - 0.5) - 0.25 * np.exp(-((rows - 0.5) ** 2 + (columns - 0.35) ** 2) / 0.05)


def test_the_paper_is_the_sheet_not_a_printed_line_along_two_edges():
    grey = ring(300, (100, 80, 200, 220), 12)
    grey[:, :4] = grey[:4] = 0.67  # squared paper's lines along the top and the left edge
    grey[::30], grey[:, ::30] = 0.67, 0.67
    assert abs(paper_level(grey) - PAPER) < 0.03


def test_a_tight_crop_is_not_a_page_and_a_photo_of_one_is():
    tight = ring(400, (-20, -20, 420, 420), 60)  # a bold 0 whose strokes run through all four edges
    assert not is_a_page(tight)
    photo = ring(400, (150, 120, 250, 280), 14) * sloped_light_with_a_shadow(400)
    assert is_a_page(photo)


def test_a_bold_digit_filling_a_clean_scan_is_not_a_page():
    """A thick marker's 8 that fills its scan, a margin of paper all round: its edges are evenly lit, so it is read
    against the paper's level, not as a page whose light its strokes would darken."""
    image = Image.new("L", (300, 400), round(PAPER * 255))
    for top in (6, 170):  # two loops of strokes 120 pixels wide, 6 pixels from the edges
        ImageDraw.Draw(image).ellipse((6, top, 294, top + 224), outline=round(INK * 255), width=120)
    assert not is_a_page(np.asarray(image, np.float32) / 255)


def test_ink_on_a_page_is_the_same_in_its_shadow_as_in_its_light():
    side = 600
    strokes = ring(side, (150, 200, 450, 400), 16) < 0.5
    ink = ink_under_page_light(ring(side, (150, 200, 450, 400), 16) * sloped_light_with_a_shadow(side), dark=True)
    inner = ndimage.binary_erosion(strokes, iterations=4)  # away from the strokes' soft edges
    shadow, light = inner.copy(), inner.copy()
    shadow[:, side // 2 :], light[:, : side // 2] = False, False
    assert ink[shadow].mean() > 0.8 and abs(ink[shadow].mean() - ink[light].mean()) < 0.1
    assert ink[~ndimage.binary_dilation(strokes, iterations=10)].max() < 0.15  # the shadow and the slope are no ink


def test_a_phone_photo_of_a_page_a_little_smaller_than_300_pixels_is_a_page():
    photo = ring(250, (90, 70, 160, 180), 8) * sloped_light_with_a_shadow(250)
    assert is_a_page(photo)


def test_a_bold_digit_on_a_small_page_keeps_the_middle_of_its_strokes():
    side, width = 260, 28  # strokes over a tenth of the page's side: a bold 0 on a small sheet
    strokes = ring(side, (60, 50, 200, 210), width) < 0.5
    ink = ink_under_page_light(ring(side, (60, 50, 200, 210), width) * sloped_light_with_a_shadow(side), dark=True)
    middle = ndimage.binary_erosion(strokes, iterations=width // 3)
    assert ink[middle].min() > 0.8  # the whole stroke is ink, not its outline


def test_a_stroke_written_close_to_the_sheets_edge_is_kept_and_the_sheets_own_edge_is_not():
    ink = np.zeros((200, 200), np.float32)
    ink[:, :6] = 0.9  # the desk or the sheet's edge, all along the left
    ink[60:160, 80:95] = 1  # the digit's body
    ink[0:30, 100:140] = 1  # a bar written up to the top edge (a 5's)
    kept = without_the_frame(ink)
    assert kept[:, :6].max() == 0
    assert kept[0:30, 100:140].min() == 1 and kept[60:160, 80:95].min() == 1


def test_a_pencils_grainy_stroke_is_as_wide_as_a_solid_one_and_a_clean_thin_line_as_thin():
    solid = ring(300, (60, 40, 240, 260), 24) < 0.5
    grainy = solid & (np.random.default_rng(0).random(solid.shape) > 0.15)  # paper dotted through the graphite
    assert abs(stroke_width(grainy) - stroke_width(solid)) < 0.15 * stroke_width(solid)
    assert 20 < stroke_width(solid) < 28
    thin = ring(300, (60, 40, 240, 260), 2) < 0.5  # a fine pen's 2-pixel line, which the smoothing alone would lose
    assert 1.5 < stroke_width(thin) < 3


def test_a_thick_markers_strokes_are_worn_down_to_mnists_widest_and_its_loop_stays_open():
    """A 0 written with a marker whose strokes are a third of the digit's size comes out with strokes at most a
    quarter of it (nine in ten of MNIST's digits are that thin), its hole as large as an MNIST 0's."""
    digit = image_to_mnist(ring(300, (40, 40, 260, 260), 75))[..., 0] > 0.5
    assert stroke_width(digit) <= 0.26 * 20
    hole = ndimage.label(~digit)[0] == ndimage.label(~digit)[0][14, 14]
    assert 20 <= hole.sum() <= 100


def test_strokes_between_a_quarter_and_a_third_of_the_digits_size_are_worn_down_to_mnists_widest():
    """The marker's strokes that the test above holds are thicker than a third of the digit; these are 0.3 of it
    (a third of its size as measured, area over half outline), the band a stroke threshold moved up would leave."""
    grey = ring(300, (40, 40, 260, 260), width=66)  # 0.3 of the 220 pixels it is across
    strokes = grey < 0.5
    size = max(np.ptp(np.nonzero(strokes), axis=1)) + 1
    assert 1 / 4 < stroke_width(strokes) / size < 1 / 3  # the band the thick-marker test above does not reach
    digit = image_to_mnist(grey)[..., 0] > 0.5
    assert stroke_width(digit) <= 0.26 * 20


@pytest.mark.parametrize("radius", [0.7, 1, 2.5, 6, 11.3, 24])
def test_wearing_strokes_down_takes_the_least_ink_within_the_disc(radius):
    """The marker's strokes are worn down by the disc's rectangles (fast on a large photo): the same as the disc."""
    rng = np.random.default_rng(0)
    ink = rng.random((150, 90), np.float32)  # no two pixels alike: a pixel of the disc left out changes the answer
    np.testing.assert_array_equal(eroded_by_disc(ink, radius), ndimage.grey_erosion(ink, footprint=disk(radius)))


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


def test_mnist_digits_come_back_as_themselves(reading_model, raw_sample):
    digits = raw_sample[1][0]
    restored = np.stack([image_to_mnist(digit.astype(np.float32) / 255) for digit in digits])
    originals = digits[..., np.newaxis].astype(np.float32) / 255
    difference = np.abs(restored - originals).mean(axis=(1, 2, 3))
    assert np.median(difference) < 0.01 and np.percentile(difference, 95) < 0.03
    same = reading_model.predict_on_batch(restored).argmax(1) == reading_model.predict_on_batch(originals).argmax(1)
    assert same.mean() >= 0.998


def test_photos_of_paper_with_uneven_light_are_read_as_the_digit(raw_sample, tmp_path):
    for index in range(5):
        digit = raw_sample[1][0][index]
        path = tmp_path / f"photo{index}.jpg"
        photo_of_paper(digit, seed=index).save(path, quality=90)
        restored = image_to_mnist(read_grey_image(path))[..., 0]
        assert correlation_with(digit, restored) > 0.75, index


def test_a_sheet_on_a_dark_desk_is_read_dark_on_light(raw_sample, tmp_path):
    digit = raw_sample[1][0][0]
    sheet = np.asarray(photo_of_paper(digit, sheet=(600, 450), digit_height=100).convert("L"), np.float32)
    desk = np.full((900, 1200), 30, np.float32)  # the sheet fills a quarter of the frame
    desk[225:675, 300:900] = sheet
    Image.fromarray(desk.astype(np.uint8)).save(tmp_path / "desk.jpg", quality=90)
    restored = image_to_mnist(read_grey_image(tmp_path / "desk.jpg"))[..., 0]
    assert correlation_with(digit, restored) > 0.75


def test_a_white_on_black_digit_filling_its_image_is_read(raw_sample, tmp_path):
    for digit in raw_sample[1][0][:20]:  # bold zeros among them: the middle of the image is mostly ink
        Image.fromarray(digit).resize((196, 196), Image.Resampling.BICUBIC).save(tmp_path / "digit.png")
        restored = image_to_mnist(read_grey_image(tmp_path / "digit.png"))[..., 0]
        assert correlation_with(digit, restored) > 0.75  # read, where it vanished ("no digit found")


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


def test_several_digits_side_by_side_get_a_note(raw_sample, caplog):
    first, second = (1 - np.asarray(mnist_digit_as_photo(raw_sample[1][0][index]).convert("L"), np.float32) / 255
                      for index in (0, 1))  # fmt: skip
    with caplog.at_level("WARNING", logger="mnist_cnn.mnist_style"):
        image_to_mnist(1 - first, "one.png")
        assert caplog.messages == []
        image_to_mnist(1 - np.concatenate([first, second], axis=1), "two.png")
    assert caplog.messages == ["note: two.png: 2 digit-like shapes side by side, read as one digit: crop it to one"]
