"""The steps of making a user's image MNIST-like (mnist_cnn.mnist_style), each on an image made for it."""

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from mnist_cnn.mnist_style import ink_under_page_light, is_a_page, paper_level

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


def test_ink_on_a_page_is_the_same_in_its_shadow_as_in_its_light():
    side = 600
    strokes = ring(side, (150, 200, 450, 400), 16) < 0.5
    ink = ink_under_page_light(ring(side, (150, 200, 450, 400), 16) * sloped_light_with_a_shadow(side), dark=True)
    inner = ndimage.binary_erosion(strokes, iterations=4)  # away from the strokes' soft edges
    shadow, light = inner.copy(), inner.copy()
    shadow[:, side // 2 :], light[:, : side // 2] = False, False
    assert ink[shadow].mean() > 0.8 and abs(ink[shadow].mean() - ink[light].mean()) < 0.1
    assert ink[~ndimage.binary_dilation(strokes, iterations=10)].max() < 0.15  # the shadow and the slope are no ink
