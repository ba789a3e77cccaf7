"""The sheet to write your own digits on (mnist_cnn.sheet): written for printing, and read back from a phone's photo
of it filled with the shipped sample's digits (tests/sheet_photos.py), box by box, as the model reads the same digits
as arrays; empty boxes skipped, two digits and scribbles reported, a photo with no sheet one clear line."""

import re

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_cnn.errors import MnistCnnError
from mnist_cnn.sheet import (
    BOXES_PER_ROW,
    CONTACT_CELL,
    CONTACT_HEADER,
    PAPERS,
    PRINT_DPI,
    ROWS,
    SheetError,
    read_sheet,
    write_sheet,
)

from digit_kinds import desk_photo
from sheet_photos import filled_sheet, sheet_photo

# Each row's first FILLED boxes hold a digit of the row; of the rest, these hold two digits and a scribble.
FILLED = 8
TWO_DIGITS, SCRIBBLE = (3, 8), (5, 9)


def scribble(rng: np.random.Generator) -> np.ndarray:
    """A box blacked out, a broad pen going back and forth across it: ink (light on dark, a margin around it)
    covering most of its square."""
    canvas = Image.new("L", (112, 112))
    down = np.linspace(20, 92, 13) + rng.uniform(-2, 2, 13)
    across = np.where(np.arange(13) % 2, 20, 92) + rng.uniform(-4, 4, 13)
    ImageDraw.Draw(canvas).line(list(zip(across, down, strict=True)), fill=255, width=16)
    return np.asarray(canvas)


@pytest.fixture(scope="module")
def written(raw_sample):
    """What was written in each box: the sample's test digits of each row's label, two digits side by side, and a
    scribble; and the digits as arrays."""
    images, labels = raw_sample[1]
    rng = np.random.default_rng(40)
    digits = {}
    for row in range(ROWS):
        chosen = rng.choice(np.flatnonzero(labels == row), FILLED, replace=False)
        digits.update({(row, column): images[index] for column, index in enumerate(chosen)})
    pair = [images[np.flatnonzero(labels == label)[0]] for label in (3, 8)]
    pair = [digit[:, digit.max(axis=0) > 0] for digit in pair]  # each cut to its ink's columns
    digits[TWO_DIGITS] = np.hstack([pair[0], np.zeros((28, 6), np.uint8), pair[1]])
    digits[SCRIBBLE] = scribble(rng)
    return digits, filled_sheet(digits, rng=rng)


@pytest.fixture(scope="module")
def photos(written, tmp_path_factory):
    """A phone's photo of the filled sheet, and of it turned a quarter, upside down and three quarters."""
    folder = tmp_path_factory.mktemp("sheet-photos")
    rng = np.random.default_rng(41)
    page = written[1]
    return [sheet_photo(page, rng, folder / f"{turns}.jpg", quarter_turns=turns) for turns in (0, 1, 2, 3)]


@pytest.fixture(scope="module")
def reading(photos):
    return read_sheet(photos[0])


def expected_status(row: int, column: int) -> str:
    if (row, column) == TWO_DIGITS:
        return "two digits"
    if (row, column) == SCRIBBLE:
        return "scribble"
    return "digit" if column < FILLED else "empty"


@pytest.mark.parametrize("paper", PAPERS)
def test_the_sheet_is_written_as_a_pdf_and_a_png_whose_marks_a_reading_finds(paper, tmp_path):
    width, height = PAPERS[paper]
    pdf = write_sheet(tmp_path / "sheet.pdf", paper)
    media_box = re.search(rb"/MediaBox \[ *0 0 ([\d.]+) ([\d.]+) *\]", pdf.read_bytes())
    assert np.allclose([float(side) for side in media_box.groups()], [width * 72 / 25.4, height * 72 / 25.4], atol=1)
    png = write_sheet(tmp_path / "sheet.png", paper)
    assert Image.open(png).size == pytest.approx((width / 25.4 * PRINT_DPI, height / 25.4 * PRINT_DPI), abs=1)
    blank = read_sheet(png)
    assert len(blank.boxes) == ROWS * BOXES_PER_ROW and {box.status for box in blank.boxes} == {"empty"}
    assert [(box.row, box.label) for box in blank.boxes[::BOXES_PER_ROW]] == [(row, row) for row in range(ROWS)]
    assert sorted(tmp_path.iterdir()) == sorted([pdf, png])  # no partial file left


def test_a_sheet_is_written_only_as_pdf_or_png_on_a_known_paper(tmp_path):
    with pytest.raises(SheetError, match=r"sheet\.jpg: .*\.pdf or a \.png"):
        write_sheet(tmp_path / "sheet.jpg")
    with pytest.raises(SheetError, match="a5.*a4, letter"):
        write_sheet(tmp_path / "sheet.pdf", "a5")
    assert not list(tmp_path.iterdir())


def test_a_photo_of_a_filled_sheet_reads_each_digit_with_its_rows_label(reading, written, reading_model):
    digits, _ = written
    assert [box.status for box in reading.boxes] == [expected_status(box.row, box.column) for box in reading.boxes], (
        reading.problems()
    )
    images, labels = reading.digits()
    read = [box for box in reading.boxes if box.status == "digit"]
    assert images.shape == (ROWS * FILLED, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() == pytest.approx(1)
    assert labels.tolist() == [box.row for box in read]
    arrays = np.stack([digits[box.row, box.column] for box in read])[..., np.newaxis].astype(np.float32) / 255
    from_photo = reading_model.predict_on_batch(images).argmax(1)
    from_arrays = reading_model.predict_on_batch(arrays).argmax(1)
    assert (from_photo == from_arrays).mean() >= 0.97
    assert (from_photo == labels).mean() >= 0.97


def test_a_sheet_photographed_sideways_reads_the_same_boxes(photos, reading):
    for photo in (photos[1], photos[3]):
        sideways = read_sheet(photo)
        assert [box.status for box in sideways.boxes] == [box.status for box in reading.boxes], photo
        assert sideways.digits()[1].tolist() == reading.digits()[1].tolist()


def test_a_dark_square_on_the_desk_beyond_a_corner_is_not_taken_for_its_mark(written, tmp_path):
    page = written[1]
    desk = np.full((page.shape[0] + 200, page.shape[1] + 200), 0.3, np.float32)
    desk[100:-100, 100:-100] = page
    desk[-80:-20, -80:-20] = 0  # a square as large as a mark, further out than the bottom-right one
    path = tmp_path / "desk.png"
    Image.fromarray(np.round(desk * 255).astype(np.uint8)).save(path)
    boxes = read_sheet(path).boxes
    assert [box.status for box in boxes] == [expected_status(box.row, box.column) for box in boxes]


def test_an_upside_down_photo_reads_the_same_boxes(photos, reading, reading_model):
    with Image.open(photos[2]) as photo:  # a Pillow image: its EXIF orientation is applied too
        upside_down = read_sheet(photo, name="upside down")
    assert [box.status for box in upside_down.boxes] == [box.status for box in reading.boxes]
    images, labels = upside_down.digits()
    assert labels.tolist() == reading.digits()[1].tolist()
    same = reading_model.predict_on_batch(images).argmax(1) == reading_model.predict_on_batch(
        reading.digits()[0]
    ).argmax(1)
    assert same.mean() >= 0.97


def test_two_digits_and_a_scribble_are_reported_and_not_learnt(reading, photos):
    name = str(photos[0])
    assert reading.problems() == [
        f"{name}: row 3, box 9: two digits, not learnt",
        f"{name}: row 5, box 10: scribble, not learnt",
    ]
    assert all(box.image is None for box in reading.boxes if box.status != "digit")


def test_the_contact_sheet_shows_every_box_and_marks_the_problems_in_red(reading):
    contact = np.asarray(reading.contact_sheet().convert("RGB")).astype(int)
    assert contact.shape == (CONTACT_HEADER + ROWS * CONTACT_CELL[1], BOXES_PER_ROW * CONTACT_CELL[0], 3)
    assert contact.shape[1] <= 1200  # small enough to look at
    red = (contact[..., 0] > 200) & (contact[..., 1] < 60) & (contact[..., 2] < 60)
    down, across = np.nonzero(red[CONTACT_HEADER:])
    assert set(zip(down // CONTACT_CELL[1], across // CONTACT_CELL[0], strict=True)) == {TWO_DIGITS, SCRIBBLE}
    digits_cells = contact[CONTACT_HEADER : CONTACT_HEADER + CONTACT_CELL[1], : FILLED * CONTACT_CELL[0]]
    assert (digits_cells.max(axis=2) > 200).mean() > 0.05  # the digits, light on dark


def test_a_photo_without_a_sheet_is_one_clear_line(raw_sample, tmp_path):
    path = desk_photo(raw_sample[1][0][0], np.random.default_rng(0), tmp_path / "desk")
    with pytest.raises(SheetError, match=rf"{re.escape(str(path))}: the sheet's corner marks were not found") as error:
        read_sheet(path)
    assert "\n" not in str(error.value)
    (tmp_path / "notes.jpg").write_text("not a photo")
    with pytest.raises(MnistCnnError, match="notes.jpg: not a readable image"):
        read_sheet(tmp_path / "notes.jpg")
