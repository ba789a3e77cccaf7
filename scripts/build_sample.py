"""Build the small real MNIST sample shipped in mnist_cnn/sample/ from the 10,000 real MNIST test digits.

Run once by a developer (the package never reads ../shared):
    .venv/bin/python scripts/build_sample.py ../shared/data
"""

import argparse
from pathlib import Path

import numpy as np

from mnist_cnn.data import IDX_NAMES, NUM_CLASSES, SAMPLE_PATH, read_idx
from mnist_cnn.files import atomic_path

# Enough digits to train a model that learns in seconds, few enough to ship in the package (half a megabyte).
TRAIN_SIZE = 2000
# Enough test digits that one more right is a tenth of a percent.
TEST_SIZE = 1000
# The draw is seeded so that building the sample again picks the same digits.
SEED = 0


def stratified_split(labels: np.ndarray, train_size: int, test_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a train and a test part with each digit in the proportion it has in `labels`."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for digit in range(NUM_CLASSES):
        indices = rng.permutation(np.flatnonzero(labels == digit))
        share = len(indices) / len(labels)
        n_train, n_test = round(train_size * share), round(test_size * share)
        train.extend(indices[:n_train])
        test.extend(indices[n_train : n_train + n_test])
    return rng.permutation(train), rng.permutation(test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder with t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz")
    parser.add_argument("--output", type=Path, default=SAMPLE_PATH)
    parser.add_argument("--train-size", type=int, default=TRAIN_SIZE)
    parser.add_argument("--test-size", type=int, default=TEST_SIZE)
    args = parser.parse_args()
    images = read_idx(args.source / f"{IDX_NAMES['x_test']}.gz")
    labels = read_idx(args.source / f"{IDX_NAMES['y_test']}.gz")
    train, test = stratified_split(labels, args.train_size, args.test_size, SEED)
    with atomic_path(args.output) as temporary:
        np.savez_compressed(
            temporary, x_train=images[train], y_train=labels[train], x_test=images[test], y_test=labels[test]
        )
    print(f"{args.output}: {len(train)} train and {len(test)} test digits, {args.output.stat().st_size:,} bytes")
    print("train counts:", np.bincount(labels[train], minlength=NUM_CLASSES).tolist())
    print("test counts: ", np.bincount(labels[test], minlength=NUM_CLASSES).tolist())


if __name__ == "__main__":
    main()
