"""Your own digits, measured: MNIST test digits written as the image files people make (tests/digit_kinds.py) and
read back as `mnist-cnn predict` reads them, and scikit-learn's digits, each against the same digits as arrays.

    python -m benchmarks.own_digits MODEL --data ../shared/data [--per-kind 100] [--name own-digits]
"""

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np

from benchmarks.common import ROOT, table, write_results
from mnist_cnn.data import load_raw
from mnist_cnn.model import load_model, predict_probabilities
from mnist_cnn.predict import predict_files

HEADER = ["kind of file", "digits", "accuracy from the files", "no digit found", "accuracy as arrays", "gap (points)"]


def digit_kinds() -> ModuleType:
    """tests/digit_kinds.py: the renderers are the tests' fixtures, so they live there and the package ships none."""
    spec = importlib.util.spec_from_file_location("digit_kinds", ROOT / "tests" / "digit_kinds.py")
    spec.loader.exec_module(module := importlib.util.module_from_spec(spec))
    return module


def array_answers(model, digits: np.ndarray) -> np.ndarray:
    """The model's answers on 28x28 uint8 digits as arrays."""
    return predict_probabilities(model, digits[..., None].astype(np.float32) / 255).argmax(axis=1)


def row(kind: str, model, paths: list[Path], labels: np.ndarray, on_arrays: np.ndarray) -> dict:
    """One row of the table: the files' accuracy, "no digit found", the arrays' accuracy, files read a second."""
    started = time.perf_counter()
    predictions = predict_files(model, paths)
    per_second = len(paths) / (time.perf_counter() - started)
    digits = np.array([-1 if prediction.digit is None else prediction.digit for prediction in predictions])
    no_digit = sum("no digit found" in (prediction.error or "") for prediction in predictions)
    accuracy, arrays_accuracy = float((digits == labels).mean()), float((on_arrays == labels).mean())
    print(f"{kind}: {accuracy:.1%} ({arrays_accuracy:.1%} as arrays)", file=sys.stderr)
    figures = {"accuracy": accuracy, "no_digit": int(no_digit), "arrays_accuracy": arrays_accuracy}
    return {"kind": kind, "digits": len(labels), **figures, "files_per_s": per_second}


def markdown(rows: list[dict], model: Path) -> str:
    """The table: each kind, all kinds together (weighted by their digits), and scikit-learn's digits."""
    kinds, count = rows[:-1], sum(row["digits"] for row in rows[:-1])
    together = {key: sum(row[key] * row["digits"] for row in kinds) / count for key in ("accuracy", "arrays_accuracy")}
    together |= {"kind": "**all files**", "digits": count, "no_digit": sum(row["no_digit"] for row in kinds)}
    per_second = count / sum(row["digits"] / row["files_per_s"] for row in kinds)
    intro = (
        f"Your own digits, model {model}: each kind of file read as `mnist-cnn predict` reads it, against the same"
        " digits as arrays (scikit-learn's: the 8x8 arrays cut to their ink, fitted in 20x20, centred by mass)."
    )
    cells = []
    for one in [*kinds, together, rows[-1]]:
        files, arrays = f"{one['accuracy']:.1%}", f"{one['arrays_accuracy']:.1%}"
        gap = 100 * (one["arrays_accuracy"] - one["accuracy"])
        cells.append([one["kind"], f"{one['digits']:,}", files, one["no_digit"], arrays, f"{gap:+.1f}"])
    speed = f"Files read a second (reading, preprocessing and predicting): {per_second:.0f}."
    return "\n".join([intro, "", *table(HEADER, cells), "", speed])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a model file, as mnist-cnn predict takes")
    parser.add_argument("--dataset", default="mnist", help="mnist, or sample (the shipped one: a quick check)")
    parser.add_argument("--data", help="a data path, as mnist-cnn train --data")
    parser.add_argument("--per-kind", type=int, default=100, help="test digits per kind of file (default 100)")
    parser.add_argument("--name", default="own-digits", help="results go to benchmarks/results/NAME.{json,md}")
    args = parser.parse_args()
    from sklearn.datasets import load_digits  # not above: numbers.py and demo_load.py import digit_kinds alone

    model, kinds, sklearn = load_model(args.model), digit_kinds(), load_digits()
    _, (images, labels) = load_raw(args.dataset, args.data)
    order = np.random.default_rng(kinds.SEED).permutation(len(images))  # each kind its own draw of test digits
    on_arrays, rows = array_answers(model, images), []
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        for number, kind in enumerate(kinds.KINDS):
            indices = order[np.arange(number * args.per_kind, (number + 1) * args.per_kind) % len(images)]
            paths = kinds.render_kind(kind, images[indices], folder)
            rows.append(row(kind, model, paths, labels[indices], on_arrays[indices]))
            for path in paths:  # 10,500 files of up to 1,000 pixels a side would fill a small disk
                path.unlink()
        paths = [kinds.sklearn_file(image, folder / f"sklearn-{n:04d}") for n, image in enumerate(sklearn.images)]
        as_mnist = np.stack([kinds.sklearn_as_mnist(image) for image in sklearn.images])
        rows.append(row("scikit-learn's digits", model, paths, sklearn.target, array_answers(model, as_mnist)))
    figures = {"model": str(args.model), "kinds": rows[:-1], "sklearn": rows[-1]}
    write_results(args.name, figures, markdown(rows, args.model))


if __name__ == "__main__":
    main()
