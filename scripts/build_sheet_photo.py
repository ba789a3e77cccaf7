"""Write mnist_cnn/sample/sheet-photo.jpg: the photo of a filled sheet that the lesson fine-tunes on where the
student has none of their own (and the suite, in the notebook's quick mode).

A sheet (mnist_cnn.sheet) filled by one of the tests' writers (tests/writers.py: long-flag 1s, crossed 7s, ...,
the styles MNIST lacks) and photographed as a phone does (tests/sheet_photos.py: at an angle, unevenly lit, JPEG,
EXIF orientation). Writer and seed are fixed, so that the file is made again the same:

    python scripts/build_sheet_photo.py
"""

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the renderers live with the tests

from mnist_cnn.sheet import BOXES_PER_ROW, ROWS, SAMPLE_PHOTO  # noqa: E402

from sheet_photos import filled_sheet, sheet_photo  # noqa: E402
from writers import writer  # noqa: E402

WRITER = 204  # long-flag 1s (which MNIST-trained models read as 7s), crossed and flagged 7s, closed 4s
SEED = 5
DPI = 110  # a phone's photo of a whole page: about 1,000 x 1,300 pixels

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=SAMPLE_PHOTO)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    hand = writer(WRITER)
    digits = {(row, column): hand.digit(row, rng) for row in range(ROWS) for column in range(BOXES_PER_ROW)}
    print(f"wrote {sheet_photo(filled_sheet(digits, dpi=DPI, rng=rng), rng, args.output, hard=False)}")
