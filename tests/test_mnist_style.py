"""The steps of making a user's image MNIST-like (mnist_cnn.mnist_style), each on an image made for it."""

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from mnist_cnn.mnist_style import (
    image_to_mnist,
    ink_under_page_light,
    is_a_page,
    paper_level,
    stroke_width,
    without_the_frame,
)

PAPER, INK = 0.96, 0.05


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
