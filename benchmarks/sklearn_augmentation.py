"""Can training close the gap on scikit-learn's digits? The `fast` recipe trained on MNIST with a share of its
training images changed, scored on scikit-learn's 1,797 handwritten 8x8 digits read from files as `mnist-cnn
predict` reads them.

    python benchmarks/sklearn_augmentation.py --data ../shared/data [--seeds 1 2] [--share 0.3] [--variants ...]

Reading alone left scikit-learn's digits at 94.2% (benchmarks/results/own-digits-reading.md) against 99.3% for
MNIST's. The changes tried, on --share of the training images (a seeded draw, once before training, so that Keras
still takes the arrays): "lower resolution, wider, thicker" (the issue's suggestion: the image at 9 to 14 pixels a
side and back, half of them 1 to 1.6 times wider, half of them with strokes a pixel thicker), "box-filled" (as
UCI's optdigits made scikit-learn's digits: the digit stretched to fill a square of 8 to 16 pixels, then fitted in
20x20 and centred as MNIST's) and "elastic" (other writers' shapes: each image warped by a smooth random field, as
Simard, Steinkraus and Platt did for MNIST in 2003, with their sigma of 4 pixels and alpha of 34). Choices are
made on data that is not the test: MNIST's validation split (the last 10% of the training images, never changed)
and half of scikit-learn's digits (a seeded half); the other half is held out. MNIST's test set is scored once per
model. Results go to benchmarks/results/NAME.json and .md (--name, sklearn-augmentation by default); the Markdown
is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from own_digits import save_results, sklearn_file
from PIL import Image
from scipy import ndimage

VARIANTS = ("none", "lower resolution, wider, thicker", "box-filled", "elastic")


def lower_resolution(image: np.ndarray, side: int) -> np.ndarray:
    """The 28x28 image at side x side pixels (each the mean of those it covers), then bilinear at 28x28 again."""
    small = Image.fromarray(image).resize((side, side), Image.Resampling.BOX)
    return np.asarray(small.resize(image.shape[::-1], Image.Resampling.BILINEAR), dtype=np.float32)


def wider(image: np.ndarray, factor: float) -> np.ndarray:
    """The image stretched `factor` times along its rows, about its centre."""
    centre = (np.array(image.shape) - 1) / 2
    matrix = np.diag([1.0, 1.0 / factor])
    return ndimage.affine_transform(image, matrix, centre - matrix @ centre, order=1)


def box_filled(image: np.ndarray, side: int) -> np.ndarray:
    """The digit stretched to fill a side x side square (as UCI's optdigits, scikit-learn's, and USPS normalise
    theirs), then made MNIST-like again: fitted in 20x20 keeping the aspect ratio, centred by mass."""
    from mnist_cnn.mnist_style import DIGIT_BOX, centre_by_mass, fit_in_box

    rows, columns = np.flatnonzero(image.max(axis=1) > 0.1), np.flatnonzero(image.max(axis=0) > 0.1)
    crop = image[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    small = Image.fromarray(crop).resize((side, side), Image.Resampling.BOX)
    square = np.clip(np.asarray(small.resize((DIGIT_BOX, DIGIT_BOX), Image.Resampling.BICUBIC)), 0, 1)
    return centre_by_mass(fit_in_box(square.astype(np.float32)))


def elastic(image: np.ndarray, rng: np.random.Generator, sigma: float = 4.0, alpha: float = 34.0) -> np.ndarray:
    """The image warped by a random displacement field smoothed by a Gaussian of `sigma` pixels and scaled by
    `alpha` (Simard et al., "Best practices for convolutional neural networks applied to visual document analysis")."""

    def smooth_shifts() -> np.ndarray:
        return alpha * ndimage.gaussian_filter(rng.uniform(-1, 1, image.shape), sigma)

    rows, columns = np.indices(image.shape, dtype=np.float64)
    return ndimage.map_coordinates(image, [rows + smooth_shifts(), columns + smooth_shifts()], order=1)


def changed(images: np.ndarray, variant: str, share: float, rng: np.random.Generator) -> np.ndarray:
    """`images` (N, 28, 28, 1) with `share` of them, drawn at random, changed as `variant` says."""
    result = images.copy()
    for index in np.flatnonzero(rng.random(len(images)) < share):
        image = images[index, ..., 0]
        if variant == "box-filled":
            image = box_filled(image, int(rng.integers(8, 17)))
        elif variant == "elastic":
            image = elastic(image, rng)
        else:
            if rng.random() < 0.5:
                image = wider(image, rng.uniform(1.0, 1.6))
            if rng.random() < 0.5:
                image = ndimage.grey_dilation(image, size=(2, 2))
            image = lower_resolution(image, int(rng.integers(9, 15)))
        result[index, ..., 0] = np.clip(image / max(image.max(), 1e-6), 0, 1)
    return result


def sklearn_read() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as the files of benchmarks/own_digits.py, read as `mnist-cnn predict` reads them."""
    from sklearn.datasets import load_digits

    from mnist_cnn.image_files import read_grey_image
    from mnist_cnn.mnist_style import image_to_mnist

    digits = load_digits()
    with tempfile.TemporaryDirectory() as folder:
        paths = [sklearn_file(image, Path(folder) / f"{index:04d}") for index, image in enumerate(digits.images)]
        read = np.stack([image_to_mnist(read_grey_image(path)) for path in paths])
    return read, digits.target


def sklearn_halves(count: int) -> dict[str, np.ndarray]:
    """The indices of scikit-learn's digits in two seeded halves: one to choose on, one held out."""
    chosen = np.random.default_rng(0).permutation(count)
    return {"choose": chosen[: count // 2], "held out": chosen[count // 2 :]}


def measure(variant: str, seed: int, share: float, data, sklearn) -> dict:
    from mnist_cnn.config import config_for
    from mnist_cnn.model import predict_probabilities
    from mnist_cnn.train import train_and_evaluate

    # float32: the same arithmetic on every CPU (the recipe's "auto" takes bfloat16 where a CPU has it).
    config = config_for("fast", precision="float32", seed=seed)
    (images, labels), test = data
    training = len(images) - round(len(images) * config.validation_split)  # the validation split stays as it was
    if variant != "none":
        images = images.copy()
        images[:training] = changed(images[:training], variant, share, np.random.default_rng(seed))
    started = time.perf_counter()
    result = train_and_evaluate(config, ((images, labels), test), verbose=0)
    seconds = time.perf_counter() - started
    read, target = sklearn
    answers = predict_probabilities(result.model, read).argmax(axis=1)
    halves = sklearn_halves(len(target))
    wrong = [(int(t), int(a)) for t, a in zip(target, answers, strict=True) if t != a]
    return {
        "variant": variant,
        "share": 0.0 if variant == "none" else share,
        "seed": seed,
        "mnist_validation": result.history["val_accuracy"][-1],
        "mnist_test": result.test_accuracy,
        "sklearn": float((answers == target).mean()),
        **{f"sklearn_{name}": float((answers[rows] == target[rows]).mean()) for name, rows in halves.items()},
        "commonest_mistakes": sorted({pair: wrong.count(pair) for pair in wrong}.items(), key=lambda kv: -kv[1])[:3],
        "train_s": seconds,
    }


def markdown(rows: list[dict], command: str) -> str:
    lines = [
        "# Can training close the gap on scikit-learn's digits?",
        "",
        f"`{command}`; {time.strftime('%Y-%m-%d')}; the `fast` recipe in float32 on TensorFlow, a 2-core CPU.",
        "",
        "| training images changed | share | seed | MNIST validation | MNIST test | scikit-learn, half to choose on "
        "| held-out half | all 1,797 | commonest mistakes (digit, read as: count) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        mistakes = ", ".join(f"{t} as {a}: {n}" for (t, a), n in row["commonest_mistakes"])
        lines.append(
            f"| {row['variant']} | {row['share']:.0%} | {row['seed']} | {row['mnist_validation']:.2%} "
            f"| {row['mnist_test']:.2%} | {row['sklearn_choose']:.1%} | {row['sklearn_held out']:.1%} "
            f"| {row['sklearn']:.1%} | {mistakes} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a data path, as mnist-cnn train --data")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--share", type=float, default=0.3, help="the share of training images changed")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--name", default="sklearn-augmentation", help="the results' file name, without suffix")
    args = parser.parse_args()

    from mnist_cnn.data import load_data

    data, sklearn = load_data("mnist", args.data), sklearn_read()
    rows = []
    for seed in args.seeds:
        for variant in args.variants:
            rows.append(measure(variant, seed, args.share, data, sklearn))
            print(json.dumps(rows[-1]), file=sys.stderr)
    command = "python benchmarks/sklearn_augmentation.py " + " ".join(sys.argv[1:])
    save_results(args.name, {"command": command, "rows": rows}, markdown(rows, command))


if __name__ == "__main__":
    main()
