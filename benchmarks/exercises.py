"""The notebook's exercises, measured: each change to the network or the data, trained as the notebook trains.

    python -m benchmarks.exercises --data ../shared/data [--recipe fast] [--seeds 1 2 3] [--only NAME ...]

Each exercise starts from the library's network (`build_model`, the network the notebook writes as Keras layers),
makes the one change the notebook's exercise asks for, and trains it as the notebook does (`compile_model` and
`fit`: the notebook's compile and fit calls, a test checks), once for each seed, all in one process, so that their
times compare: run it on an otherwise idle machine. Only the validation images are scored (the notebook's rule);
the training time is `model.fit`'s, validation included. Written to benchmarks/results/exercises.{json,md}: per
exercise, the weights, the validation accuracy (mean and standard deviation over the seeds), the first and last
epochs' training and validation accuracy, and the training time as a ratio to the network as given (the median
over the seeds of the ratio between runs of the same seed).
"""

import argparse
import statistics
import time
from collections.abc import Callable

import keras

from benchmarks.common import write_results
from mnist_cnn.config import Config, config_for
from mnist_cnn.data import Split, load_data, split_validation
from mnist_cnn.model import INPUT_SHAPE, MODEL_NAME, build_model
from mnist_cnn.precision import precision_policy
from mnist_cnn.train import compile_model, fit, steps_per_epoch

FEW_DIGITS = 1000  # exercise 4


def copied(layers: list[keras.layers.Layer]) -> keras.Sequential:
    """A new network of fresh copies of `layers` (built for other shapes, the originals would not fit)."""
    copies = [type(layer).from_config(layer.get_config()) for layer in layers]
    return keras.Sequential([keras.Input(shape=INPUT_SHAPE), *copies], name=MODEL_NAME)


def without_first_pooling(config: Config) -> keras.Sequential:
    """Exercise 1: the network with its first MaxPooling2D taken out: the second convolution sees 28x28 images."""
    layers = build_model(config).layers
    first_pooling = next(layer for layer in layers if isinstance(layer, keras.layers.MaxPooling2D))
    return copied([layer for layer in layers if layer is not first_pooling])


def augmented(config: Config) -> keras.Sequential:
    """Exercise 5: Keras' random shifts (10% of the side) and turns (0.03 of a turn) before the network's layers."""
    moves = [keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant"),
             keras.layers.RandomRotation(0.03, fill_mode="constant")]  # fmt: skip
    return copied([*moves, *build_model(config).layers])


def few_digits(config: Config, train: Split) -> tuple[Config, Split]:
    """Exercise 4: the first 1,000 training digits, for as many epochs as give the full run's optimizer steps."""
    full_steps = steps_per_epoch(config, len(train[0])) * config.epochs
    kept = (train[0][:FEW_DIGITS], train[1][:FEW_DIGITS])
    return config.replace(epochs=full_steps // steps_per_epoch(config, FEW_DIGITS)), kept


def unchanged(config: Config, train: Split) -> tuple[Config, Split]:
    return config, train


# name: (changes to the recipe, the network from the config, the config and training images from the full ones)
Exercise = tuple[dict, Callable[[Config], keras.Model], Callable[[Config, Split], tuple[Config, Split]]]
EXERCISES: dict[str, Exercise] = {
    "as-is": ({}, build_model, unchanged),
    "no-first-pooling": ({}, without_first_pooling, unchanged),
    "dropout-0.5": ({"dropout": 0.5}, build_model, unchanged),
    "dropout-0": ({"dropout": 0.0}, build_model, unchanged),
    "half-filters": ({"filters": 32}, build_model, unchanged),
    "1000-digits": ({}, build_model, few_digits),
    "augmentation": ({}, augmented, unchanged),
}


def run_exercise(name: str, recipe: str, seed: int, train: Split, validation: Split) -> dict:
    """Train the exercise's network once, as the notebook does; its validation scores and training time."""
    changes, network, data = EXERCISES[name]
    config, train = data(config_for(recipe, seed=seed, **changes), train)
    keras.utils.set_random_seed(config.seed)
    with precision_policy(config.precision):
        model = compile_model(network(config), config, len(train[0]))
    start = time.perf_counter()
    history = fit(model, train, config, validation=validation, verbose=0).history
    train_s = time.perf_counter() - start
    epochs = {f"{key}_epoch_{index}": history[key][index] for key in ("accuracy", "val_accuracy") for index in (0, -1)}
    return {"weights": model.count_params(), "epochs": config.epochs, "train_s": train_s, **epochs}


def summary(name: str, runs: list[dict], as_is: list[dict]) -> dict:
    """An exercise's runs over the seeds: the mean and spread of its validation accuracy, its time ratio."""
    accuracies = [run["val_accuracy_epoch_-1"] for run in runs]
    ratios = [run["train_s"] / base["train_s"] for run, base in zip(runs, as_is, strict=True)]
    spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    return {"exercise": name, "weights": runs[0]["weights"], "val_accuracy_mean": statistics.mean(accuracies),
            "val_accuracy_sd": spread, "time_ratio": statistics.median(ratios), "runs": runs}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="MNIST: a Keras mnist.npz or a folder of its four IDX files")
    parser.add_argument("--recipe", default="fast")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--only", nargs="+", choices=list(EXERCISES), default=list(EXERCISES))
    args = parser.parse_args()
    (images, labels), _ = load_data("mnist", args.data)  # the test images stay unscored
    train, validation = split_validation((images, labels), config_for(args.recipe).validation_split)
    names = ["as-is", *(name for name in args.only if name != "as-is")]
    runs = {name: [] for name in names}
    for seed in args.seeds:  # seeds outermost: a change in the machine's load touches every exercise alike
        for name in names:
            runs[name].append({"seed": seed, **run_exercise(name, args.recipe, seed, train, validation)})
            print(name, runs[name][-1], flush=True)
    results = [summary(name, runs[name], runs["as-is"]) for name in names]
    rows = [f"| {r['exercise']} | {r['weights']:,} | {r['time_ratio']:.2f}x | {r['val_accuracy_mean']:.2%} "
            f"± {r['val_accuracy_sd']:.2%} |" for r in results]  # fmt: skip
    table = "| exercise | weights | training time, against as-is | validation accuracy |\n| --- | ---: | ---: | ---: |"
    as_is_s = statistics.median(run["train_s"] for run in runs["as-is"])
    markdown = f"{table}\n" + "\n".join(rows) + f"\n\nas-is trained in {as_is_s:.0f} s (median); seeds {args.seeds}."
    write_results("exercises", {"recipe": args.recipe, "seeds": args.seeds, "exercises": results}, markdown)


if __name__ == "__main__":
    main()
