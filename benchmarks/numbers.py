"""Written numbers, and things that are not digits, on the own-digits kinds of file (tests/digit_kinds.py), read as
`mnist-cnn predict` reads them (issue 38): numbers of 2 to 6 MNIST test digits read whole, against the same digits
as arrays; Fashion-MNIST's test images, letters and doodles refused as "not a digit", against real digits refused.

    python -m benchmarks.numbers --data ../shared/data [--per-kind 100] [--kinds pencil "thick marker"]
"""

import argparse
import string
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, ROOT, shown, table, write_results
from benchmarks.own_digits import digit_kinds

KINDS = digit_kinds()
MODEL = ROOT / "tests" / "data" / "reading-model.keras"
LOOK_ALIKES = "OoIliSsZzBbGgq"  # letters left out: digits' look-alikes (0, 1, 5, 2, 8, 6, 9)
LETTERS = [letter for letter in string.ascii_letters if letter not in LOOK_ALIKES]
FONTS = Path("/usr/share/fonts/truetype")
# Debian's fonts in their folders under FONTS: printed ones, and handwriting ones (fonts-breip, -femkeklaver, -sjfonts).
PRINTED, HANDWRITING = ("dejavu", "liberation"), ("breip", "femkeklaver", "sjfonts")
FONT_FILES = [
    sorted(path for name in group for path in (FONTS / name).glob("*.ttf")) for group in (PRINTED, HANDWRITING)
]
DOODLES = KINDS.DOODLES
# Gaps between digits' ink in pixels at MNIST's scale (a digit 20 high): spaced, written close (every other number),
# touching pairs; each digit scaled by SCALES, its foot up to SHIFT pixels off the line.
SPACED, CLOSE, TOUCHING, SCALES, SHIFT = (1, 8), (-3, 8), (-3, 0), (0.8, 1.2), KINDS.SHIFT
NOT_DIGITS = ("Fashion-MNIST", "letters, printed fonts", "letters, handwriting fonts", "doodles")
READ, REFUSED = ("whole", "arrays", "refused"), ("refused", "no_digit")
FIGURES = {"numbers": READ, "numbers apart": READ, "touching pairs": READ, "digits": (*REFUSED, "arrays_refused")}


def numbers(images: np.ndarray, count: int, rng, lengths=(2, 6), gaps=None) -> list[tuple]:
    """`count` numbers of random test digits, spaced and written close in turn: (image, the digits' indices, apart)."""
    made = []
    for index in range(count):
        length, (low, high) = int(rng.integers(lengths[0], lengths[1] + 1)), gaps or (SPACED, CLOSE)[index % 2]
        chosen, spaces = rng.integers(0, len(images), length), list(rng.integers(low, high + 1, length - 1))
        image, apart = KINDS.compose(
            images[chosen], spaces, rng.uniform(*SCALES, length), rng.integers(-SHIFT, SHIFT + 1, length)
        )
        made.append((image, chosen, apart))
    return made


def material(images, fashion, count: int, rng) -> dict[str, list[tuple]]:
    """Each set's `count` images for one kind of file: (image, its test digits' indices, no digits touching)."""
    not_digits = [fashion[rng.choice(len(fashion), count, replace=False)]]
    not_digits += [[KINDS.letter(rng.choice(group), rng.choice(LETTERS)) for _ in range(count)] for group in FONT_FILES]
    not_digits.append([KINDS.doodle(DOODLES[index % len(DOODLES)], rng) for index in range(count)])
    singles = rng.choice(len(images), count, replace=False)
    return {
        "numbers": numbers(images, count, rng),
        "touching pairs": numbers(images, count, rng, (2, 2), TOUCHING),
        "digits": [(images[index], np.array([index]), True) for index in singles],
        **{
            name: [(one, np.array([], int), True) for one in made]
            for name, made in zip(NOT_DIGITS, not_digits, strict=True)
        },
    }


def read(model, check, kind: str, made: dict[str, list[tuple]], folder: Path) -> tuple[dict[str, list], float]:
    """Every set's images written as files of `kind` (deleted once read) and read by one predict_files; its seconds."""
    from mnist_cnn.predict import predict_files

    paths = {
        name: KINDS.render_kind(kind, [one[0] for one in items], folder / name, KINDS.SEED + index)
        for index, (name, items) in enumerate(made.items())
    }
    every = [path for group in paths.values() for path in group]
    started = time.perf_counter()
    predictions = iter(predict_files(model, every, check=check))
    seconds = time.perf_counter() - started
    for path in every:
        path.unlink()
    return {name: [next(predictions) for _ in group] for name, group in paths.items()}, seconds


def outcomes(made: dict, predictions: dict, labels, arrays: tuple, threshold: float) -> dict[str, dict]:
    """For each set, each file's outcome: read whole, right as arrays (all its digits), refused (not a digit, or no
    digit found), no digit found, refused as arrays, its novelty score (no digit found: infinite); and its subsets."""
    found = {}
    for name, items in made.items():
        read, chosen = predictions[name], [digits for _, digits, _ in items]
        no_digit = np.array(["no digit found" in (p.error or "") for p in read], bool)
        found[name] = {
            "whole": np.array([p.number == "".join(map(str, labels[c])) for p, c in zip(read, chosen, strict=True)]),
            "arrays": np.array([(arrays[0][c] == labels[c]).all() for c in chosen], bool),
            "refused": np.array([p.not_a_digit for p in read], bool) | no_digit,
            "no_digit": no_digit,
            "arrays_refused": np.array([(arrays[1][c] > threshold).any() for c in chosen], bool),
            "score": np.array([np.inf if p.error else p.novelty for p in read], float),
        }
    apart = np.array([apart for _, _, apart in made["numbers"]], bool)
    return found | {"numbers apart": {key: value[apart] for key, value in found["numbers"].items()}}


def figures(kind: str, found: dict, seconds: float) -> dict:
    """A kind's figures: numbers read whole against the arrays' product, and each set's share refused."""
    count = sum(len(found[name]["score"]) for name in found if name != "numbers apart")
    row = {"kind": kind, "files": count, "seconds": seconds, "images_per_s": count / seconds}
    for name, outcome in found.items():
        keys = {key: outcome[key] for key in FIGURES.get(name, REFUSED)}
        row[name] = {"count": len(outcome["score"])} | {
            key: int(value.sum()) if key == "no_digit" else float(value.mean()) for key, value in keys.items()
        }
    return row


def trade_off(found: list[dict], on_test: np.ndarray, threshold: float) -> tuple[list[dict], list[list[dict]]]:
    """Each set's share refused at thresholds spanning all scores: for all kinds together (and MNIST's test digits as
    arrays), and for each kind (drawn, not kept)."""
    scored = [{name: outcome["score"] for name, outcome in one.items() if name != "numbers apart"} for one in found]
    finite = np.concatenate([scores[np.isfinite(scores)] for scores in scored[-1].values()])
    thresholds = np.unique([*np.quantile(finite, np.linspace(0, 1, 101)), threshold]).tolist()
    curve = lambda sets: [{"threshold": t, **{n: float((s > t).mean()) for n, s in sets.items()}} for t in thresholds]  # noqa: E731
    pooled = curve(scored[-1] | {"test digits as arrays": on_test})
    return pooled, [curve(scores) for scores in scored[:-1]]


def plot(pooled: list[dict], per_kind: list[list[dict]], threshold: float, path: Path) -> None:
    """Non-digits refused against digit files refused: a panel for each kind of non-digit, a line for each kind of
    file, the threshold marked."""
    from mnist_cnn.plots import plt, save_figure

    figure, axes = plt.subplots(2, 2, figsize=(11, 9), sharex=True, sharey=True)
    for axis, name in zip(axes.flat, NOT_DIGITS, strict=True):
        for points in [*per_kind, pooled]:
            axis.plot(*([100 * p[key] for p in points] for key in ("digits", name)), alpha=0.3, color="grey")
        axis.lines[-1].set(alpha=1, color="tab:blue", lw=2, label="all kinds of file")
        arrays = ([100 * p[key] for p in pooled] for key in ("test digits as arrays", name))
        axis.plot(*arrays, color="tab:blue", ls="--", label="against MNIST's 10,000 test digits as arrays")
        at = next(p for p in pooled if p["threshold"] == threshold)
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
    share = lambda row, key, second: f"{row[key]:.1%} ({row[second]:.1%})"  # noqa: E731
    read = [[row["kind"], *(share(row[n], "whole", "arrays") for n in FIGURES if n != "digits")] for row in rows]
    refused = [
        [row["kind"], *(f"{row[n]['refused']:.1%} ({row[n]['no_digit']})" for n in NOT_DIGITS)]
        + [share(row["digits"], "refused", "arrays_refused"), f"{row['numbers']['refused']:.1%}"]
        + [f"{row['images_per_s']:.0f}"]
        for row in rows
    ]
    count = {key: f"{rows[-1][key]['count']:,}" for key in FIGURES}
    return "\n".join(
        [
            "Numbers read whole from the files (in brackets: the arrays' product, all the digits read right as"
            f" arrays): {count['numbers']} numbers of 2 to 6 MNIST test digits, {count['numbers apart']} of them"
            f" with no digits touching; {count['touching pairs']} pairs touching or overlapping.",
            "",
            *table(["kind of file", "numbers", "no digits touching", "touching pairs"], read),
            "",
            f'Refused (in brackets: how many as "no digit found"); letters leave out {", ".join(LOOK_ALIKES)}. Digit'
            f" files: {count['digits']} MNIST test digits (in brackets: as arrays; of all 10,000: {on_test:.2%}).",
            "",
            *table(["kind of file", *NOT_DIGITS, "digit files", "numbers", "files read a second"], refused),
            "",
            f"The trade-off as the threshold varies: {name}-not-a-digit.png, its points in {name}.json. The fine pen"
            " (tests/digit_kinds.py) traces at 300 pixels on the longer side: a long number coarser than a digit.",
        ]
    )


def measure(model, check, args: argparse.Namespace, folder: Path) -> tuple[list[dict], list[dict], np.ndarray]:
    """Each kind's figures, then all kinds' together; their outcomes; the test digits' novelty scores as arrays."""
    from mnist_cnn.data import load_raw
    from mnist_cnn.novelty import DigitReader

    _, (images, labels) = load_raw("mnist", args.data)
    probabilities, novelty = DigitReader(model, check).read(images[..., None].astype(np.float32) / 255)
    fashion, rows, found = load_raw("fashion")[1][0], [], []
    for kind in args.kinds:
        made = material(images, fashion, args.per_kind, np.random.default_rng([KINDS.SEED, *kind.encode()]))
        predictions, seconds = read(model, check, kind, made, folder)
        found.append(outcomes(made, predictions, labels, (probabilities.argmax(axis=1), novelty), check.threshold))
        rows.append(figures(kind, found[-1], seconds))
        print(f"{kind}: {rows[-1]['numbers']['whole']:.1%} of numbers read whole", file=sys.stderr)
    together = {
        name: {key: np.concatenate([one[name][key] for one in found]) for key in found[0][name]} for name in found[0]
    }
    found.append(together)
    rows.append(figures("**all**", found[-1], sum(row["seconds"] for row in rows)))
    return rows, found, novelty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=MODEL, help="a model file, its .novelty.npz beside it")
    parser.add_argument("--data", help="a data path holding MNIST, as mnist-cnn train --data")
    parser.add_argument("--per-kind", type=int, default=100, help="images of each set for each kind (default 100)")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS.KINDS), help="own-digits kinds (default: all)")
    parser.add_argument(
        "--name", default="numbers", help="results: benchmarks/results/NAME.{json,md}, NAME-not-a-digit.png"
    )
    args = parser.parse_args()

    from mnist_cnn.model import load_model
    from mnist_cnn.novelty import novelty_for

    model = load_model(args.model)
    check = novelty_for(model, args.model)
    with tempfile.TemporaryDirectory() as folder:
        rows, found, on_test = measure(model, check, args, Path(folder))
    pooled, curves = trade_off(found, on_test, check.threshold)
    plot(pooled, curves, check.threshold, RESULTS / f"{args.name}-not-a-digit.png")
    refused = float((on_test > check.threshold).mean())
    fonts = [path.name for group in FONT_FILES for path in group]
    results = {"model": shown(args.model), "threshold": check.threshold, "letters_left_out": LOOK_ALIKES}
    results |= {"fonts": fonts}
    results |= {"test_digits_refused_as_arrays": refused, "kinds": rows[:-1], "all": rows[-1], "curve": pooled}
    write_results(args.name, results, markdown(rows, refused, args.name))


if __name__ == "__main__":
    main()
