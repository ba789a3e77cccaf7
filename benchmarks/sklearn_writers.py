"""Is the gap on scikit-learn's digits their writers'? A trained model fine-tuned on half of scikit-learn's digits
(with MNIST's training images beside them, so that MNIST is not forgotten), scored on the other half, against the
same fine-tuning on MNIST's images alone.

    python benchmarks/sklearn_writers.py MODEL --data ../shared/data [--seeds 1 2 3]

Reading scikit-learn's digits from files gives what the same 8x8 arrays give with no file in between
(benchmarks/own_digits.py), and no change to the training images tried so far reads them better
(benchmarks/sklearn_augmentation.py). If a model that has seen such writing reads them as well as MNIST's, what is
left is how their 43 writers write, not how the files are read. scikit-learn's digits come without their writers'
names, so both halves hold digits of the same writers: the fine-tuned figure is what a model does for writers it
has seen, an upper bound for new ones.

The digits are read from files as `mnist-cnn predict` reads them; the halves are those of sklearn_augmentation.py
(a seeded half to learn from, the other half held out). Each seed fine-tunes the model twice, for --epochs epochs
at a learning rate of --learning-rate: on --mnist MNIST training images drawn at random (the control: more
training alone), and on the same images with the learning half added. MNIST's validation split (the last 10% of
its training images) is never trained on; MNIST's test set is scored once per model. Results go to
benchmarks/results/NAME.json and .md; the Markdown is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from own_digits import save_results
from sklearn_augmentation import sklearn_halves, sklearn_read

TRAINED_ON = ("MNIST only (control)", "MNIST and half of scikit-learn's")


def fine_tuned(model_path: Path, images: np.ndarray, labels: np.ndarray, epochs: int, learning_rate: float, seed: int):
    """The model in `model_path` trained further on `images` and one-hot `labels`."""
    import keras

    from mnist_cnn.model import load_model

    keras.utils.set_random_seed(seed)
    model = load_model(model_path)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(images, labels, batch_size=128, epochs=epochs, shuffle=True, verbose=0)
    return model


def accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    """The share of `images` read as `labels` (integers or one-hot)."""
    from mnist_cnn.model import predict_probabilities

    targets = labels.argmax(axis=1) if labels.ndim == 2 else labels
    return float((predict_probabilities(model, images).argmax(axis=1) == targets).mean())


def scores(model, validation, test, sklearn) -> dict:
    """The model's accuracy on scikit-learn's held-out half, MNIST's validation split and MNIST's test set."""
    read, target = sklearn
    held_out = sklearn_halves(len(target))["held out"]
    return {
        "sklearn_held_out": accuracy(model, read[held_out], target[held_out]),
        "mnist_validation": accuracy(model, *validation),
        "mnist_test": accuracy(model, *test),
    }


def measure(args: argparse.Namespace, train, validation, test, sklearn, seed: int) -> list[dict]:
    import keras

    images, labels = train
    read, target = sklearn
    learn = sklearn_halves(len(target))["choose"]
    drawn = np.random.default_rng(seed).choice(len(images), args.mnist, replace=False)
    sets = {
        TRAINED_ON[0]: (images[drawn], labels[drawn]),
        TRAINED_ON[1]: (
            np.concatenate([images[drawn], read[learn]]),
            np.concatenate([labels[drawn], keras.utils.to_categorical(target[learn], 10)]),
        ),
    }
    rows = []
    for trained_on, (x, y) in sets.items():
        started = time.perf_counter()
        model = fine_tuned(args.model, x, y, args.epochs, args.learning_rate, seed)
        seconds = time.perf_counter() - started
        rows.append(
            {"trained_on": trained_on, "seed": seed, **scores(model, validation, test, sklearn), "train_s": seconds}
        )
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def spread(values: list[float], decimals: int) -> str:
    return f"{np.mean(values):.{decimals}%} ({min(values):.{decimals}%} to {max(values):.{decimals}%})"


def markdown(result: dict) -> str:
    first = result["before"]
    lines = [
        "# Is the gap on scikit-learn's digits their writers'?",
        "",
        f"`{result['command']}`; {result['when']}; TensorFlow on a 2-core CPU. Fine-tuned {result['epochs']} epochs "
        f"at a learning rate of {result['learning_rate']} on {result['mnist']:,} MNIST training images, with or "
        "without the 898 scikit-learn digits of the half to learn from; scored on the other 899 (the same writers).",
        "",
        "| model | seeds | scikit-learn, held-out half | MNIST validation | MNIST test |",
        "|---|---:|---:|---:|---:|",
        f"| {result['model']} as it is | | {first['sklearn_held_out']:.1%} | {first['mnist_validation']:.2%} "
        f"| {first['mnist_test']:.2%} |",
    ]
    for trained_on in TRAINED_ON:
        rows = [row for row in result["rows"] if row["trained_on"] == trained_on]
        figures = [
            spread([row[key] for row in rows], decimals)
            for key, decimals in (("sklearn_held_out", 1), ("mnist_validation", 2), ("mnist_test", 2))
        ]
        lines.append(f"| fine-tuned on {trained_on} | {len(rows)} | {' | '.join(figures)} |")
    lines += ["", "Means over the seeds, their lowest and highest in brackets."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a model file, as mnist-cnn predict takes")
    parser.add_argument("--data", help="a data path, as mnist-cnn train --data")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--mnist", type=int, default=9000, help="MNIST training images fine-tuned on (default 9000)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--name", default="sklearn-writers", help="the results' file name, without suffix")
    args = parser.parse_args()

    from mnist_cnn.data import load_data, split_validation
    from mnist_cnn.model import load_model

    (train, test), sklearn = load_data("mnist", args.data), sklearn_read()
    train, validation = split_validation(train, 0.1)  # the `fast` recipe's: never trained on here
    result = {
        "command": "python benchmarks/sklearn_writers.py " + " ".join(sys.argv[1:]),
        "when": time.strftime("%Y-%m-%d"),
        "model": str(args.model),
        "epochs": args.epochs,
        "learning_rate": args.learning_rate,
        "mnist": args.mnist,
        "before": scores(load_model(args.model), validation, test, sklearn),
        "rows": [row for seed in args.seeds for row in measure(args, train, validation, test, sklearn, seed)],
    }
    save_results(args.name, result, markdown(result))


if __name__ == "__main__":
    main()
