"""Handwriting the model never saw, before and after fine-tuning on it (issue 40): scikit-learn's digits; stroke-drawn
writers in the styles MNIST lacks, each fine-tuned on one photographed sheet; handwriting fonts, which fine-tuning
must not cost; sheets filled with MNIST test digits, read box by box; MNIST's test set before and after each.

    python -m benchmarks.handwriting --data ../shared/data [--model PATH] [--writers 1 2 3 4 5 6] [--seeds 1 2 3]
    python -m benchmarks.handwriting --quick  (a reduced run that checks each part works: results handwriting-quick)

Every fine-tune is `mnist-cnn tune`'s (mnist_cnn.tune.fine_tune with TuneSettings: its defaults, --settings to
change them), from --model, as a new run in a temporary folder, the model file left as it is; it holds a fifth of
the digits it is given out, to choose on, as it always does. The figures scored here are on digits no fine-tune saw
and no choice was made on: scikit-learn's digits not drawn, each writer's other digits, the fonts, MNIST's test set.
The writers (tests/writers.py) and the sheet photos (tests/sheet_photos.py) live with the tests, as the other
benchmarks' renderers do. Results: benchmarks/results/NAME.{json,md}, the Markdown printed.

Settings are chosen on other writers than the scored ones (1 to 6) and on MNIST's validation split, never on what
is scored: e.g. `--parts writers --writers 101 102 103 104 --settings learning_rate=1e-3 --folder /tmp/choosing`,
then each row's scored_after (those writers' own other digits) and mnist_validation_split_after.
"""

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np

from benchmarks.common import RESULTS, ROOT, parse_settings, shown, spread, table, write_results

MODEL = ROOT / "tests" / "data" / "reading-model.keras"
WRITER_SEEDS = (1, 2, 3, 4, 5, 6)  # the scored writers; writers with other seeds are free for choosing settings
SHEET_COUNTS = (5, 10)  # digits of each kind from the writer's sheet that a fine-tune is given
SCORED_PER_DIGIT = 5  # each writer is scored on this many other digits of each kind (50 in all)
SKLEARN_COUNT = 10  # scikit-learn's digits of each kind a fine-tune is given; the others are scored
FONT_SIZES = (72, 96, 120)  # each handwriting font's digits are drawn at these sizes ...
FONT_TURNS = (-6, 0, 6)  # ... and turned by these degrees
MNIST_SHEETS = 5  # sheets of 100 MNIST test digits, photographed and read box by box
FONTS = Path("/usr/share/fonts/truetype")
# Debian's handwriting fonts (fonts-breip, fonts-sjfonts); femkeklaver's digits are hollow outlines that no pen
# writes, and breipfont.ttf has Breip.ttf's digits.
HANDWRITING_FONTS = ("breip/Breip.ttf", "sjfonts/SteveHand.ttf", "sjfonts/Delphine.ttf")
PARTS = ("writers", "sklearn", "fonts", "sheets")
# Goals (issue 40): points of MNIST's test accuracy a fine-tune may lose; accuracy a writer and scikit-learn reach
# after 10 a digit; the gap allowed between a sheet's boxes and the same digits as arrays.
MNIST_LOSS, WRITER_GOAL, SKLEARN_GOAL, SHEET_GAP = 0.002, 0.99, 0.98, 0.005


def tests_module(name: str) -> ModuleType:
    """tests/NAME.py: the renderers are the tests' fixtures, so they live there (they import each other by name)."""
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    return importlib.import_module(name)


def accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    """The share of MNIST-like `images` (N, 28, 28, 1) the model reads as `labels`: mnist_cnn.tune's, imported when
    used (the flags are read before Keras is imported)."""
    from mnist_cnn.tune import accuracy as tune_accuracy

    return tune_accuracy(model, images, labels)


def as_mnist(inks: list[np.ndarray]) -> np.ndarray:
    """Ink images (any sizes) made MNIST-like as `mnist-cnn predict` makes a file's: (N, 28, 28, 1)."""
    from mnist_cnn.mnist_style import image_to_mnist

    return np.stack([image_to_mnist(ink) for ink in inks])


def user_digits(images: np.ndarray, labels: np.ndarray):
    """Digits already read, as mnist_cnn.tune's UserDigits (no sources, nothing left unread)."""
    from mnist_cnn.tune import UserDigits

    return UserDigits(np.asarray(images, np.float32), np.asarray(labels, int), [], [])


def fine_tuned(args: argparse.Namespace, digits, mnist, seed: int, extra: dict[str, tuple]) -> tuple[dict, object]:
    """A fine-tune of --model on `digits` (a new run in a temporary folder); its figures, each of `extra`'s
    (images, labels) scored after it, and the tuned model."""
    from mnist_cnn.config import TuneSettings
    from mnist_cnn.tune import fine_tune

    settings = TuneSettings().replace(**{"seed": seed, **args.settings})
    with tempfile.TemporaryDirectory() as folder:
        result = fine_tune(args.model, digits, Path(folder) / "run", mnist=mnist, settings=settings, verbose=0)
    figures = {
        "given": len(digits.labels),
        "held_out_by_tune": result.held_out_digits,
        "mnist_digits_mixed_in": result.mnist_digits,
        "mnist_test_before": result.mnist_test_before,
        "mnist_test_after": result.mnist_test_after,
        "held_out_before": result.held_out_before,  # the fifth of `digits` fine_tune held out: what it chose on
        "held_out_after": result.held_out_after,
        "mnist_validation_before": result.mnist_validation_before,
        "mnist_validation_after": result.mnist_validation_after,
        "train_s": result.run.timings.get("train"),
        "tune_s": result.seconds,
    }
    figures |= {f"{name}_after": accuracy(result.run.model, *scored) for name, scored in extra.items()}
    figures["mnist_validation_split_after"] = accuracy(result.run.model, *mnist_validation(mnist))
    return figures, result.run.model


def mnist_validation(mnist) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's validation split (the last tenth of its training images, which neither the `fast` recipe nor a
    fine-tune trains on): images and integer labels, for choosing settings without a test set."""
    from mnist_cnn.data import split_validation
    from mnist_cnn.tune import MNIST_VALIDATION_SHARE

    images, labels = split_validation(mnist[0], MNIST_VALIDATION_SHARE)[1]
    return images, labels.argmax(axis=1)


# scikit-learn's digits.


def sklearn_digits(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits written as files in folders 0 ... 9 (tests/digit_kinds.py's sklearn_file) and
    read back as `mnist-cnn tune` reads a folder of a user's digits: (N, 28, 28, 1) images, labels."""
    from sklearn.datasets import load_digits

    from mnist_cnn.tune import user_digits as read_folders

    kinds, sklearn = tests_module("digit_kinds"), load_digits()
    for index, (image, label) in enumerate(zip(sklearn.images, sklearn.target, strict=True)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        kinds.sklearn_file(image, folder / str(label) / f"{index:04d}")
    read = read_folders([folder])
    if read.problems:
        print(f"scikit-learn's digits not read: {len(read.problems)}, the first {read.problems[0]}", file=sys.stderr)
    return read.images, read.labels


def drawn_per_digit(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """The indices of `count` digits of each kind, drawn at random."""
    return np.concatenate([rng.choice(np.flatnonzero(labels == digit), count, replace=False) for digit in range(10)])


def sklearn_rows(args, source, mnist, extra: dict[str, tuple], folder: Path) -> list[dict]:
    """For each seed: a fine-tune on SKLEARN_COUNT of each of scikit-learn's digits, the rest scored before and
    after (at most --sklearn-scored of them), and `extra`'s (images, labels) after."""
    images, labels = sklearn_digits(folder)
    rows = []
    for seed in args.seeds:
        rng = np.random.default_rng([seed, 1797])
        given = drawn_per_digit(labels, SKLEARN_COUNT, rng)
        rest = rng.permutation(np.setdiff1d(np.arange(len(labels)), given))[: args.sklearn_scored]
        scored = {"scored": (images[rest], labels[rest]), **extra}
        figures, _ = fine_tuned(args, user_digits(images[given], labels[given]), mnist, seed, scored)
        rows.append({"seed": seed, "scored": len(rest), "before": accuracy(source, *scored["scored"]), **figures})
        print(f"scikit-learn, seed {seed}: {rows[-1]['before']:.1%} -> {rows[-1]['scored_after']:.1%}", file=sys.stderr)
    return rows


# Writers in the styles MNIST lacks.


def writer_sheet(hand, rng: np.random.Generator, folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sheet filled by the writer (every box), photographed (tests/sheet_photos.py) and read box by box
    (mnist_cnn.sheet.read_sheet): the digits read, their labels, their boxes' columns."""
    from mnist_cnn.sheet import BOXES_PER_ROW, read_sheet

    photos = tests_module("sheet_photos")
    written = {(label, column): hand.digit(label, rng) for label in range(10) for column in range(BOXES_PER_ROW)}
    path = photos.sheet_photo(photos.filled_sheet(written, rng=rng), rng, folder / f"writer-{hand.seed}.jpg")
    reading = read_sheet(path)
    boxes = [box for box in reading.boxes if box.status == "digit"]
    if reading.problems():
        print(f"writer {hand.seed}'s sheet: {'; '.join(reading.problems())}", file=sys.stderr)
    images = np.stack([box.image for box in boxes]).astype(np.float32)
    return images, np.array([box.label for box in boxes]), np.array([box.column for box in boxes])


def writer_rows(args, source, mnist, extra: dict[str, tuple], folder: Path) -> list[dict]:
    """For each writer: fine-tunes on SHEET_COUNTS of each digit from their one photographed sheet, each with each
    seed, scored on SCORED_PER_DIGIT other digits of each kind of theirs (drawn as ink, made MNIST-like as
    `mnist-cnn predict` makes an image's) before and after, and `extra`'s (images, labels) after."""
    writers = tests_module("writers")
    rows = []
    for seed in args.writers:
        hand = writers.writer(seed)
        rng = np.random.default_rng([seed, 40])
        images, labels, columns = writer_sheet(hand, rng, folder)
        inks, scored_labels = hand.digits(SCORED_PER_DIGIT, rng)
        scored = {"scored": (as_mnist(inks), scored_labels), **extra}
        before = accuracy(source, *scored["scored"])
        lacks = sorted(f"{label}: {hand.styles[label]}" for label in range(10) if hand.lacks(label))
        for count in SHEET_COUNTS:
            given = columns < count
            for tune_seed in args.seeds:
                digits = user_digits(images[given], labels[given])
                figures, _ = fine_tuned(args, digits, mnist, tune_seed, scored)
                rows.append({"writer": seed, "lacks": lacks, "count": count, "seed": tune_seed, "before": before})
                rows[-1] |= {"sheet_digits_read": int(given.sum()), **figures}
                print(
                    f"writer {seed}, {count} a digit, seed {tune_seed}: {before:.0%} -> {figures['scored_after']:.0%}",
                    file=sys.stderr,
                )
    return rows


# Handwriting fonts.


def font_digits(font_files: list[Path]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Each handwriting font's digits at FONT_SIZES, turned by FONT_TURNS, dark on white, made MNIST-like: images,
    labels, the fonts' names."""
    from PIL import Image, ImageDraw, ImageFont

    inks, labels = [], []
    for font_file in font_files:
        for size in FONT_SIZES:
            font = ImageFont.truetype(str(font_file), size)
            for digit in range(10):
                for turn in FONT_TURNS:
                    page = Image.new("L", (3 * size, 3 * size), 255)
                    ImageDraw.Draw(page).text((1.5 * size, 1.5 * size), str(digit), fill=0, font=font, anchor="mm")
                    inks.append(np.asarray(page.rotate(turn, fillcolor=255), np.float32) / 255)
                    labels.append(digit)
    return as_mnist(inks), np.array(labels), [path.name for path in font_files]


def handwriting_fonts() -> list[Path]:
    """HANDWRITING_FONTS that are installed; a line for each that is not."""
    for missing in [name for name in HANDWRITING_FONTS if not (FONTS / name).is_file()]:
        print(f"{FONTS / missing}: not installed, left out (sudo apt-get install fonts-breip fonts-sjfonts)")
    return [FONTS / name for name in HANDWRITING_FONTS if (FONTS / name).is_file()]


# Sheets of MNIST test digits.


def mnist_sheet_rows(args, source, test_raw, folder: Path) -> list[dict]:
    """Sheets filled with MNIST test digits (100 each, drawn at random), photographed and read box by box: how often
    each box's digit is read right, against the same digits as arrays."""
    from mnist_cnn.sheet import BOXES_PER_ROW, read_sheet

    photos = tests_module("sheet_photos")
    images, labels = test_raw
    rows = []
    for number in range(args.mnist_sheets):
        rng = np.random.default_rng([number, 10_000])
        chosen = {
            (digit, column): index
            for digit in range(10)
            for column, index in enumerate(rng.choice(np.flatnonzero(labels == digit), BOXES_PER_ROW, replace=False))
        }
        page = photos.filled_sheet({place: images[index] for place, index in chosen.items()}, rng=rng)
        reading = read_sheet(photos.sheet_photo(page, rng, folder / f"mnist-{number}.jpg"))
        by_place = {(box.row, box.column): box for box in reading.boxes}
        indices = np.array(list(chosen.values()))
        arrays = images[indices][..., None].astype(np.float32) / 255
        read = [by_place[place] for place in chosen]
        digits = [box for box in read if box.status == "digit"]
        right = accuracy(source, np.stack([box.image for box in digits]), np.array([box.label for box in digits]))
        rows.append(
            {
                "sheet": number,
                "boxes": len(read),
                "not_read_as_a_digit": sum(box.status != "digit" for box in read),
                "boxes_accuracy": right * len(digits) / len(read),  # a box not read as a digit is read wrong
                "arrays_accuracy": accuracy(source, arrays, labels[indices]),
            }
        )
        print(f"MNIST sheet {number}: {rows[-1]['boxes_accuracy']:.1%} of boxes", file=sys.stderr)
    return rows


# The report.


def mean(rows: list[dict], key: str) -> float:
    """The mean of `key` over the rows."""
    return float(np.mean([row[key] for row in rows]))


def writers_part(rows: list[dict]) -> list[str]:
    """Each writer: before, after each count (over seeds), MNIST's test set after, the styles MNIST lacks they use."""
    lines = []
    for seed in dict.fromkeys(row["writer"] for row in rows):
        mine = [row for row in rows if row["writer"] == seed]
        after = [spread([r["scored_after"] for r in mine if r["count"] == count], 100, 1) for count in SHEET_COUNTS]
        mnist = spread([r["mnist_test_after"] for r in mine], 100, 2)
        lines.append([seed, f"{100 * mine[0]['before']:.1f}", *after, mnist, "; ".join(mine[0]["lacks"])])
    header = ["writer", "before (%)", *(f"given {count} a digit (%)" for count in SHEET_COUNTS)]
    return [
        f"**Writers** (tests/writers.py), each given the first {' or '.join(map(str, SHEET_COUNTS))} digits"
        " of each kind read from one photographed sheet of theirs (tests/sheet_photos.py, mnist_cnn.sheet.read_sheet;"
        " tune holds a fifth of them out and trains on the rest),"
        f" scored on {10 * SCORED_PER_DIGIT} other digits of theirs (drawn as ink and made MNIST-like as"
        " `mnist-cnn predict` makes an image's, arrays with no file in between)."
        f" Goal: {WRITER_GOAL:.0%} after 10 a digit.",
        "",
        *table([*header, "MNIST test after (%)", "styles MNIST lacks"], lines),
        "",
    ]


def sklearn_part(rows: list[dict]) -> list[str]:
    """scikit-learn's digits before and after, and MNIST's test set after."""
    figures = [spread([row[key] for row in rows], 100, 1) for key in ("before", "scored_after")]
    return [
        f"**scikit-learn's digits**: fine-tuned on {SKLEARN_COUNT} of each kind drawn at random, scored on"
        f" {rows[0]['scored']:,} others, all read from files as `mnist-cnn tune` reads a folder of digits. Its 1,797"
        " digits come without their 43 writers' names, so they cannot be told apart: the scored digits are of"
        f" writers the fine-tune saw, an upper bound for a new writer's. Goal: {SKLEARN_GOAL:.0%}.",
        "",
        *table(
            ["before (%)", "after (%)", "MNIST test after (%)"],
            [[*figures, spread([row["mnist_test_after"] for row in rows], 100, 2)]],
        ),
        "",
    ]


def fonts_part(results: dict, tunes: list[dict]) -> list[str]:
    """The handwriting fonts before, and after each fine-tune."""
    after = spread([row["fonts_after"] for row in tunes], 100, 1)
    return [
        f"**Handwriting fonts** ({', '.join(results['fonts'])}; {results['font_digits']} digits, sizes {FONT_SIZES},"
        f" turned {FONT_TURNS} degrees; femkeklaver's hollow outlines left out): before"
        f" {100 * results['fonts_before']:.1f}; after each of the {len(tunes)} fine-tunes above {after}."
        " Goal: nothing lost.",
        "",
    ]


def sheets_part(rows: list[dict]) -> list[str]:
    """Sheets of MNIST test digits: the boxes read right against the arrays."""
    boxes, arrays = mean(rows, "boxes_accuracy"), mean(rows, "arrays_accuracy")
    return [
        f"**Sheets of MNIST test digits**, {len(rows)} photographed sheet(s) of 100 (tests/sheet_photos.py, a"
        f" careless photo): each box's digit read right {100 * boxes:.1f}, the same digits as arrays"
        f" {100 * arrays:.1f} (gap {100 * (arrays - boxes):+.1f} points; goal within {100 * SHEET_GAP:.1f});"
        f" boxes not read as a digit: {sum(row['not_read_as_a_digit'] for row in rows)}.",
        "",
    ]


def tuning_part(tunes: list[dict]) -> list[str]:
    """MNIST's test set before and after every fine-tune, and the seconds they took."""
    column = lambda key, scale, digits: spread([row[key] for row in tunes], scale, digits)  # noqa: E731
    return [
        f"**MNIST's test set**: before {100 * tunes[0]['mnist_test_before']:.2f}; after each fine-tune"
        f" {column('mnist_test_after', 100, 2)} (goal: at most {100 * MNIST_LOSS:.1f} points lower).",
        "",
        f"**Fine-tuning seconds** (training alone; in brackets the whole fine-tune, with scoring before and after):"
        f" {column('train_s', 1, 1)} ({column('tune_s', 1, 1)}). Goal: under a minute on a 2-core CPU.",
    ]


def markdown(results: dict) -> str:
    """The parts measured: writers, scikit-learn's digits, fonts, MNIST sheets, MNIST's test set and the seconds."""
    tunes = results.get("writers", []) + results.get("sklearn", [])
    lines = [
        f"Handwriting the model never saw, model {results['model']}, fine-tuned as `mnist-cnn tune` does"
        f" (settings: {results['settings'] or 'its defaults'}); seeds {results['seeds']}. Figures in %: a mean"
        " ± standard deviation (lowest to highest) over seeds; each seed a fine-tune of its own.",
        "",
    ]
    lines += writers_part(results["writers"]) if results.get("writers") else []
    lines += sklearn_part(results["sklearn"]) if results.get("sklearn") else []
    lines += fonts_part(results, tunes) if tunes and results.get("fonts") else []
    lines += sheets_part(results["mnist_sheets"]) if results.get("mnist_sheets") else []
    lines += tuning_part(tunes) if tunes else []
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=MODEL, help=f"the model fine-tuned from (default {MODEL})")
    parser.add_argument("--data", help="a data path holding MNIST, as mnist-cnn train --data")
    parser.add_argument("--dataset", default="mnist", help="mnist, or sample (the shipped one: a quick check)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to measure (all)")
    parser.add_argument("--writers", type=int, nargs="+", default=list(WRITER_SEEDS), help="writers' seeds (1-6)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="fine-tuning seeds (default 1 2 3)")
    parser.add_argument("--sklearn-scored", type=int, default=None, help="scikit-learn's digits scored (default all)")
    parser.add_argument("--mnist-sheets", type=int, default=MNIST_SHEETS, help="sheets of MNIST test digits (5)")
    parser.add_argument("--settings", nargs="*", default=[], help="TuneSettings changed, e.g. learning_rate=1e-3")
    parser.add_argument("--quick", action="store_true", help="2 writers, 1 seed, 300 scikit-learn digits, 1 sheet")
    parser.add_argument("--name", help="results: FOLDER/NAME.{json,md} (default handwriting, or handwriting-quick)")
    parser.add_argument("--folder", type=Path, default=RESULTS, help="where results go (default benchmarks/results)")
    args = parser.parse_args()
    if args.quick:
        args.writers, args.seeds, args.sklearn_scored, args.mnist_sheets = args.writers[:2], args.seeds[:1], 300, 1
    args.settings = parse_settings(args.settings)

    from mnist_cnn.data import load_raw, preprocess
    from mnist_cnn.model import load_model

    train_raw, test_raw = load_raw(args.dataset, args.data)
    mnist = (preprocess(*train_raw), preprocess(*test_raw))
    source = load_model(args.model)
    results = {"model": shown(args.model), "settings": args.settings, "seeds": args.seeds}
    font_files = handwriting_fonts() if "fonts" in args.parts else []
    extra = {}
    if font_files:
        images, labels, names = font_digits(font_files)
        extra["fonts"] = (images, labels)
        results |= {"fonts": names, "font_digits": len(labels), "fonts_before": accuracy(source, images, labels)}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        if "writers" in args.parts:
            results["writers"] = writer_rows(args, source, mnist, extra, Path(folder))
        if "sklearn" in args.parts:
            results["sklearn"] = sklearn_rows(args, source, mnist, extra, Path(folder) / "sklearn")
        if "sheets" in args.parts:
            results["mnist_sheets"] = mnist_sheet_rows(args, source, test_raw, Path(folder))
    print(f"all parts: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    name = args.name or ("handwriting-quick" if args.quick else "handwriting")
    write_results(name, results, markdown(results), folder=args.folder)


if __name__ == "__main__":
    main()
