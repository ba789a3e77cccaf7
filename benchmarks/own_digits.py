"""Your own digits, measured: MNIST test digits written as the image files people make (tests/digit_kinds.py) and
read back as `mnist-cnn predict` reads them, and scikit-learn's digits, each against the same digits as arrays.

    python -m benchmarks.own_digits MODEL --data ../shared/data [--per-kind 100] [--all] [--name own-digits]
"""

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np

from benchmarks.common import ROOT, write_results
from mnist_cnn.model import predict_probabilities


def digit_kinds() -> ModuleType:
    """tests/digit_kinds.py: the renderers are the tests' fixtures, so they live there and the package ships none."""
    spec = importlib.util.spec_from_file_location("digit_kinds", ROOT / "tests" / "digit_kinds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def answers(model, paths: list[Path]) -> tuple[np.ndarray, int, float]:
    """The digits read from the files (-1: none), how many had "no digit found", and the files read a second."""
    from mnist_cnn.predict import predict_files

    started = time.perf_counter()
    predictions = predict_files(model, paths)
    per_second = len(paths) / (time.perf_counter() - started)
    digits = np.array([-1 if prediction.digit is None else prediction.digit for prediction in predictions])
    no_digit = sum("no digit found" in (prediction.error or "") for prediction in predictions)
    return digits, no_digit, per_second


def array_answers(model, digits: np.ndarray) -> np.ndarray:
    """The model's answers on 28x28 uint8 digits as arrays."""
    return predict_probabilities(model, digits[..., None].astype(np.float32) / 255).argmax(axis=1)


def kind_digits(count: int, per_kind: int, kinds: int, seed: int, every: bool) -> list[np.ndarray]:
    """For each kind, the indices of its test digits: distinct draws while they last (with `every`, all of them)."""
    if every:
        return [np.arange(count)] * kinds
    order = np.random.default_rng(seed).permutation(count)
    return [order[np.arange(start, start + per_kind) % count] for start in range(0, per_kind * kinds, per_kind)]


def row(kind: str, model, paths: list[Path], labels: np.ndarray, on_arrays: np.ndarray) -> dict:
    """One row of the table: the files' accuracy, "no digit found", the arrays' accuracy, files read a second."""
    from_files, no_digit, per_second = answers(model, paths)
    accuracy, arrays_accuracy = float((from_files == labels).mean()), float((on_arrays == labels).mean())
    print(f"{kind}: {accuracy:.1%} ({arrays_accuracy:.1%} as arrays)", file=sys.stderr)
    figures = {"accuracy": accuracy, "no_digit": int(no_digit), "arrays_accuracy": arrays_accuracy}
    return {"kind": kind, "digits": len(labels), **figures, "files_per_s": per_second}


def measure(model, images, labels, args: argparse.Namespace, folder: Path) -> list[dict]:
    """A row for each kind of file, then one for scikit-learn's digits."""
    from sklearn.datasets import load_digits

    kinds = digit_kinds()
    chosen = kind_digits(len(images), args.per_kind, len(kinds.KINDS), kinds.SEED, args.all)
    on_arrays, rows = array_answers(model, images), []
    for kind, indices in zip(kinds.KINDS, chosen, strict=True):
        paths = kinds.render_kind(kind, images[indices], folder)
        rows.append(row(kind, model, paths, labels[indices], on_arrays[indices]))
        for path in paths:  # 10,500 files of up to 1,000 pixels a side would fill a small disk
            path.unlink()
    sklearn = load_digits()
    paths = [kinds.sklearn_file(image, folder / f"sklearn-{index:04d}") for index, image in enumerate(sklearn.images)]
    as_mnist = np.stack([kinds.sklearn_as_mnist(image) for image in sklearn.images])
    return rows + [row("scikit-learn's digits", model, paths, sklearn.target, array_answers(model, as_mnist))]


def total(rows: list[dict]) -> dict:
    """The kinds together, weighted by their digits."""
    count = sum(row["digits"] for row in rows)
    mean = {key: sum(row[key] * row["digits"] for row in rows) / count for key in ("accuracy", "arrays_accuracy")}
    seconds = sum(row["digits"] / row["files_per_s"] for row in rows)
    figures = {"no_digit": sum(row["no_digit"] for row in rows), **mean, "files_per_s": count / seconds}
    return {"kind": "**all files**", "digits": count, **figures}


def markdown(rows: list[dict], model: Path) -> str:
    """The table: each kind, all kinds together, and scikit-learn's digits (whose arrays are made MNIST-like)."""
    lines = [
        f"Your own digits, model {model}: each kind of file read as `mnist-cnn predict` reads it, against the same"
        " digits as arrays (scikit-learn's: the 8x8 arrays cut to their ink, fitted in 20x20, centred by mass).",
        "",
        "| kind of file | digits | accuracy from the files | no digit found | accuracy as arrays | gap (points) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for one in [*rows[:-1], total(rows[:-1]), rows[-1]]:
        gap = 100 * (one["arrays_accuracy"] - one["accuracy"])
        lines.append(
            f"| {one['kind']} | {one['digits']:,} | {one['accuracy']:.1%} | {one['no_digit']} "
            f"| {one['arrays_accuracy']:.1%} | {gap:+.1f} |"
        )
    per_second = total(rows[:-1])["files_per_s"]
    return "\n".join([*lines, "", f"Files read a second (reading, preprocessing and predicting): {per_second:.0f}."])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a model file, as mnist-cnn predict takes")
    parser.add_argument("--dataset", default="mnist", help="mnist, or sample (the shipped one: a quick check)")
    parser.add_argument("--data", help="a data path, as mnist-cnn train --data")
    parser.add_argument("--per-kind", type=int, default=100, help="test digits per kind of file (default 100)")
    parser.add_argument("--all", action="store_true", help="every test digit through every kind (hours)")
    parser.add_argument("--name", default="own-digits", help="results go to benchmarks/results/NAME.{json,md}")
    args = parser.parse_args()

    from mnist_cnn.data import load_raw
    from mnist_cnn.model import load_model

    model = load_model(args.model)
    _, (images, labels) = load_raw(args.dataset, args.data)
    with tempfile.TemporaryDirectory() as folder:
        rows = measure(model, images, labels, args, Path(folder))
    write_results(
        args.name, {"model": str(args.model), "kinds": rows[:-1], "sklearn": rows[-1]}, markdown(rows, args.model)
    )


if __name__ == "__main__":
    main()
