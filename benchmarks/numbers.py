"""Numbers of 2 to 6 MNIST test digits read whole, and things that are not digits (Fashion-MNIST, letters, doodles)
refused, as the own-digits kinds of file (tests/digit_kinds.py) read by `mnist-cnn predict`, against the arrays (#38).

    python -m benchmarks.numbers --data ../shared/data [--per-kind 100]
"""

import argparse
import itertools
import string
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, ROOT, shown, table, write_results
from benchmarks.own_digits import digit_kinds
from mnist_cnn.data import load_raw
from mnist_cnn.model import load_model
from mnist_cnn.novelty import DigitReader, novelty_for
from mnist_cnn.plots import plt, save_figure
from mnist_cnn.predict import predict_files

KINDS = digit_kinds()
LOOK_ALIKES = "OoIliSsZzBbGgq"  # letters left out: digits' look-alikes (0, 1, 5, 2, 8, 6, 9)
LETTERS = [letter for letter in string.ascii_letters if letter not in LOOK_ALIKES]
# Debian's printed fonts (DejaVu alone: Liberation's come with Chromium on some machines, and would change the letters
# drawn), and its handwriting ones (fonts-breip, -femkeklaver, -sjfonts), each in its folder.
FONT_GROUPS, FONTS = (("dejavu",), ("breip", "femkeklaver", "sjfonts")), Path("/usr/share/fonts/truetype")
FONT_FILES = [sorted(path for path in FONTS.glob("*/*.ttf") if path.parent.name in group) for group in FONT_GROUPS]
# Gaps between digits' ink in pixels at MNIST's scale (a digit 20 high): spaced, written close (every other number),
# touching pairs (digit_kinds: each digit scaled by SCALES, its foot up to SHIFT pixels off the line).
SPACED, CLOSE, TOUCHING, SCALES, SHIFT = (1, 8), (-3, 8), KINDS.TOUCHING, KINDS.SCALES, KINDS.SHIFT
NOT_DIGITS = ("Fashion-MNIST", "letters, printed fonts", "letters, handwriting fonts", "doodles")
READ, REFUSED = ("whole", "arrays", "refused"), ("refused", "no_digit")
READ_RIGHT = "numbers read right / wrong"  # of the numbers read whole, and of the others, the share refused
FIGURES = {"numbers": READ, "numbers apart": READ, "touching pairs": READ, "digits": (*REFUSED, "arrays_refused")}


def material(images, fashion, count: int, rng) -> dict[str, list[tuple]]:
    """Each set's `count` images for one kind of file: (image, no digits touching, its test digits' indices)."""
    not_digits = [fashion[rng.choice(len(fashion), count, replace=False)]]
    not_digits += [[KINDS.letter(rng.choice(group), rng.choice(LETTERS)) for _ in range(count)] for group in FONT_FILES]
    not_digits.append([KINDS.doodle(KINDS.DOODLES[index % len(KINDS.DOODLES)], rng) for index in range(count)])
    made = {"numbers": [], "touching pairs": []}
    made["digits"] = [(images[index], True, np.array([index])) for index in rng.choice(len(images), count, False)]
    for name, index in itertools.product(("numbers", "touching pairs"), range(count)):
        length = int(rng.integers(2, 7 if name == "numbers" else 3))  # 2 to 6 digits, or a pair
        low, high = (SPACED, CLOSE)[index % 2] if name == "numbers" else TOUCHING
        chosen, spaces = rng.integers(0, len(images), length), list(rng.integers(low, high + 1, length - 1))
        scales, shifts = rng.uniform(*SCALES, length), rng.integers(-SHIFT, SHIFT + 1, length)
        made[name].append((*KINDS.compose(images[chosen], spaces, scales, shifts), chosen))
    return made | dict(zip(NOT_DIGITS, [[(one, True, np.arange(0)) for one in lot] for lot in not_digits], strict=True))


def outcomes(model, check, kind: str, made: dict, labels, arrays: tuple, folder: Path) -> tuple[dict, float]:
    """Every set written as files of `kind`, read by one predict_files: each file's outcome, and the seconds taken."""
    paths = []
    for index, (name, items) in enumerate(made.items()):
        paths += KINDS.render_kind(kind, [image for image, _, _ in items], folder / name, KINDS.SEED + index)
    started = time.perf_counter()
    predictions = predict_files(model, paths, check=check)
    seconds, found = time.perf_counter() - started, {name: [] for name in made}
    files = [(name, apart, chosen) for name, items in made.items() for _, apart, chosen in items]
    for (name, apart, chosen), read in zip(files, predictions, strict=True):
        no_digit, right = "no digit found" in (read.error or ""), (arrays[0][chosen] == labels[chosen]).all()
        one = {"apart": apart, "whole": read.number == "".join(map(str, labels[chosen])), "arrays": right}
        one |= {"refused": read.not_a_digit or no_digit, "no_digit": no_digit}  # refused: not a digit, or none found
        one["arrays_refused"] = (arrays[1][chosen] > check.threshold).any()
        found[name].append(one | {"score": np.inf if read.error else read.novelty})  # no digit found: infinite
    return found, seconds


def figures(kind: str, found: dict[str, list[dict]], seconds: float) -> dict:
    """A kind's figures: numbers read whole against the arrays' product, and each set's share refused."""
    count = sum(len(group) for group in found.values())
    row = {"kind": kind, "files": count, "seconds": seconds, "images_per_s": count / seconds}
    for name, group in (found | {"numbers apart": [one for one in found["numbers"] if one["apart"]]}).items():
        values = {key: [one[key] for one in group] for key in FIGURES.get(name, REFUSED)}
        shares = {key: int(sum(value)) if key == "no_digit" else float(np.mean(value)) for key, value in values.items()}
        row[name] = {"count": len(group), **shares}
    for name in ("numbers", "touching pairs"):  # a right answer lost, against a wrong one caught
        for key, right in (("right_refused", True), ("wrong_refused", False)):
            row[name][key] = float(np.mean([one["refused"] for one in found[name] if one["whole"] == right] or [0]))
    return row


def trade_off(every: dict, by_kind: list[dict], on_test: np.ndarray, threshold: float) -> tuple[list, list[list]]:
    """Each set's share refused at thresholds spanning all files' scores: for all kinds together (and MNIST's test
    digits as arrays), and for each kind of file (drawn, not kept)."""
    scored = lambda found: {name: np.array([one["score"] for one in group]) for name, group in found.items()}  # noqa: E731
    finite = np.concatenate([scores[np.isfinite(scores)] for scores in scored(every).values()])
    thresholds = np.unique([*np.quantile(finite, np.linspace(0, 1, 101)), threshold]).tolist()
    curve = lambda sets: [{"threshold": t, **{n: float((s > t).mean()) for n, s in sets.items()}} for t in thresholds]  # noqa: E731
    return curve(scored(every) | {"test digits as arrays": on_test}), [curve(scored(found)) for found in by_kind]


def percents(points: list[dict], key: str) -> list[float]:
    """Each point's share of `key`, in %."""
    return [100 * point[key] for point in points]


def plot(pooled: list[dict], per_kind: list[list[dict]], threshold: float, path: Path) -> None:
    """Non-digits refused against digit files refused: a panel for each kind of non-digit, a line for each kind of
    file, the threshold and the goals marked."""
    figure, axes = plt.subplots(2, 2, figsize=(11, 9), sharex=True, sharey=True)
    at = next(point for point in pooled if point["threshold"] == threshold)
    for axis, name in zip(axes.flat, NOT_DIGITS, strict=True):
        for index, points in enumerate(per_kind):
            label = None if index else "each kind of file"
            axis.plot(percents(points, "digits"), percents(points, name), alpha=0.3, color="grey", label=label)
        axis.plot(percents(pooled, "digits"), percents(pooled, name), color="tab:blue", lw=2, label="all kinds of file")
        arrays = percents(pooled, "test digits as arrays"), percents(pooled, name)
        axis.plot(*arrays, color="tab:blue", ls="--", label="against MNIST's 10,000 test digits as arrays")
        axis.plot(100 * at["digits"], 100 * at[name], "o", color="tab:red", label="the model's threshold")
        axis.axvline(0.5, color="tab:green", ls=":", label="goals: 0.5% of digits, 95% of non-digits refused")
        axis.axhline(95, color="tab:green", ls=":")
        axis.set_xscale("symlog", linthresh=0.1)
        axis.set(title=name, xlim=(0, 100), ylim=(0, 101), xlabel="digit files refused (%)", ylabel="refused (%)")
    axes.flat[0].legend(loc="lower right")
    figure.suptitle("Not a digit, as the threshold varies: non-digit files refused against digit files refused")
    save_figure(figure, path)


def markdown(rows: list[dict], on_test: float, name: str) -> str:
    """Two tables, each kind of file and all together: numbers read whole, and what is refused."""
    pair = lambda row, key, second: f"{row[key]:.1%} ({row[second]:.1%})"  # noqa: E731
    read = [[row["kind"], *(pair(row[n], "whole", "arrays") for n in FIGURES if n != "digits")] for row in rows]
    refused = [[row["kind"], *(f"{row[n]['refused']:.1%} ({row[n]['no_digit']})" for n in NOT_DIGITS)] for row in rows]
    for row, cells in zip(rows, refused, strict=True):
        numbers = row["numbers"]
        cells += [pair(row["digits"], "refused", "arrays_refused"), f"{numbers['refused']:.1%}"]
        cells.append(f"{numbers['right_refused']:.1%} / {numbers['wrong_refused']:.1%}")
        cells.append(f"{row['images_per_s']:.0f}")
    count = {key: f"{rows[-1][key]['count']:,}" for key in FIGURES}
    paragraphs = [
        "Numbers read whole from the files (in brackets: the arrays' product, all the digits read right as"
        f" arrays): {count['numbers']} numbers of 2 to 6 MNIST test digits, {count['numbers apart']} of them"
        f" with no digits touching; {count['touching pairs']} pairs touching or overlapping.",
        "\n".join(table(["kind of file", "numbers", "no digits touching", "touching pairs"], read)),
        f'Refused (in brackets: how many as "no digit found"); letters leave out {", ".join(LOOK_ALIKES)}. Digit'
        f" files: {count['digits']} MNIST test digits (in brackets: as arrays; of all 10,000: {on_test:.2%}).",
        "\n".join(
            table(["kind of file", *NOT_DIGITS, "digit files", "numbers", READ_RIGHT, "files read a second"], refused)
        ),
        f"The trade-off as the threshold varies: {name}-not-a-digit.png, its points in {name}.json.",
    ]
    return "\n\n".join(paragraphs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "tests" / "data" / "reading-model.keras", help="a model")
    parser.add_argument("--data", help="a data path holding MNIST, as mnist-cnn train --data")
    parser.add_argument("--per-kind", type=int, default=100, help="images of each set for each kind (default 100)")
    parser.add_argument("--name", default="numbers", help="results: benchmarks/results/NAME.{json,md}, a plot")
    args = parser.parse_args()
    model = load_model(args.model)
    check = novelty_for(model, args.model)
    (_, (images, labels)), fashion = load_raw("mnist", args.data), load_raw("fashion")[1][0]
    probabilities, on_test = DigitReader(model, check).read(images[..., None].astype(np.float32) / 255)
    arrays, rows, by_kind = (probabilities.argmax(axis=1), on_test), [], []
    for kind in KINDS.KINDS:
        made = material(images, fashion, args.per_kind, np.random.default_rng([KINDS.SEED, *kind.encode()]))
        with tempfile.TemporaryDirectory() as folder:
            found, seconds = outcomes(model, check, kind, made, labels, arrays, Path(folder))
        by_kind.append(found)
        rows.append(figures(kind, found, seconds))
        print(f"{kind}: {rows[-1]['numbers']['whole']:.1%} of numbers read whole", file=sys.stderr)
    every = {name: [one for found in by_kind for one in found[name]] for name in by_kind[0]}
    rows.append(figures("**all**", every, sum(row["seconds"] for row in rows)))
    curve, per_kind = trade_off(every, by_kind, on_test, check.threshold)
    plot(curve, per_kind, check.threshold, RESULTS / f"{args.name}-not-a-digit.png")
    refused = float((on_test > check.threshold).mean())
    results = {"model": shown(args.model), "threshold": check.threshold, "letters_left_out": LOOK_ALIKES}
    results["fonts"] = [path.name for group in FONT_FILES for path in group]
    results |= {"test_digits_refused_as_arrays": refused, "kinds": rows[:-1], "all": rows[-1], "curve": curve}
    write_results(args.name, results, markdown(rows, refused, args.name))


if __name__ == "__main__":
    main()
