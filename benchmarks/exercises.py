"""The notebook's exercises, measured: each change to the network or the data, trained as the notebook trains.

    python benchmarks/exercises.py --data ../shared/data [--recipe fast] [--only NAME ...] [--steps N --rounds R]

Each exercise starts from the library's network (`build_model`, the network the notebook writes as Keras layers),
makes the one change the exercise asks for, and trains it as the notebook does (the recipe's compile and fit: the
library's `compile_model` and `fit`), all in one process, one after the other, so that their times compare. Printed,
one JSON line each (and written to benchmarks/results/exercises.jsonl): the parameters, the validation accuracy of the
last epoch, the test accuracy and the training time (`model.fit`, validation included) in seconds.

With `--steps N`, each exercise only times N training steps (after 5 not timed: compiling) instead, in R rounds
that take the exercises in turn, and gives its median seconds a step: on a shared machine, the ratios between
exercises measured this way are steadier than whole runs one after the other.
"""

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import keras

from mnist_cnn.config import Config, config_for
from mnist_cnn.data import Split, load_data, split_validation
from mnist_cnn.model import INPUT_SHAPE, build_model
from mnist_cnn.precision import set_precision
from mnist_cnn.train import compile_model, fit

RESULTS = Path(__file__).parent / "results" / "exercises.jsonl"


def without_first_pooling(config: Config) -> keras.Sequential:
    """The network with its first MaxPooling2D taken out: the second convolution sees 28x28 images."""
    layers = build_model(config).layers
    first_pooling = next(layer for layer in layers if isinstance(layer, keras.layers.MaxPooling2D))
    copies = [type(layer).from_config(layer.get_config()) for layer in layers if layer is not first_pooling]
    return keras.Sequential([keras.Input(shape=INPUT_SHAPE), *copies], name="no_first_pooling")


def first_images(count: int) -> Callable[[Split], Split]:
    return lambda train: (train[0][:count], train[1][:count])


# name: (changes to the recipe, the network from the config, the training images kept)
EXERCISES: dict[str, tuple[dict, Callable[[Config], keras.Model], Callable[[Split], Split]]] = {
    "as-is": ({}, build_model, lambda train: train),
    "no-first-pooling": ({}, without_first_pooling, lambda train: train),
    "dropout-0.5": ({"dropout": 0.5}, build_model, lambda train: train),
    "dropout-0": ({"dropout": 0.0}, build_model, lambda train: train),
    "half-filters": ({"filters": 32}, build_model, lambda train: train),
    "1000-digits": ({}, build_model, first_images(1000)),
    "augmentation": ({"max_shift": 0.1, "max_rotation": 0.03}, build_model, lambda train: train),
}


class StepTimer(keras.callbacks.Callback):
    """The seconds from the start of the sixth training step to the end of training, and the steps timed."""

    UNTIMED = 5

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if batch == self.UNTIMED:
            self.start = time.perf_counter()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.seconds = time.perf_counter() - self.start


def time_steps(name: str, recipe: str, data: tuple[Split, Split], steps: int) -> float:
    """The seconds one training step of the exercise takes, over `steps` steps."""
    changes, network, keep = EXERCISES[name]
    config = config_for(recipe, **changes).replace(epochs=1, steps_per_epoch=StepTimer.UNTIMED + steps)
    train, _ = split_validation(data[0], config.validation_split)
    keras.utils.set_random_seed(config.seed)
    set_precision(config.precision)
    model = compile_model(network(config), config, len(train[0]))
    timer = StepTimer()
    fit(model, keep(train), config, callbacks=[timer], verbose=0)
    return timer.seconds / steps


def run_exercise(name: str, recipe: str, data: tuple[Split, Split]) -> dict:
    changes, network, keep = EXERCISES[name]
    config = config_for(recipe, **changes)
    train, test = data
    train, validation = split_validation(train, config.validation_split)
    train = keep(train)
    keras.utils.set_random_seed(config.seed)
    precision = set_precision(config.precision)
    model = compile_model(network(config), config, len(train[0]))
    start = time.perf_counter()
    history = fit(model, train, config, validation=validation, verbose=2)
    train_s = time.perf_counter() - start
    _, test_accuracy = model.evaluate(*test, batch_size=1024, verbose=0)
    return {
        "exercise": name,
        "recipe": recipe,
        "precision": precision,
        "parameters": model.count_params(),
        "train_images": len(train[0]),
        "val_accuracy": history.history["val_accuracy"][-1] if validation is not None else None,
        "test_accuracy": test_accuracy,
        "train_s": round(train_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="MNIST: a Keras mnist.npz or a folder of its four IDX files")
    parser.add_argument("--recipe", default="fast")
    parser.add_argument("--only", nargs="+", choices=list(EXERCISES), default=list(EXERCISES))
    parser.add_argument("--steps", type=int, help="only time this many training steps of each exercise")
    parser.add_argument("--rounds", type=int, default=3, help="with --steps: rounds over the exercises")
    args = parser.parse_args()
    data = load_data("mnist", args.data)
    machine = f"{platform.processor() or platform.machine()}, Keras {keras.__version__} on {keras.backend.backend()}"
    if args.steps:
        rounds = {name: [] for name in args.only}
        for _ in range(args.rounds):
            for name in args.only:
                rounds[name].append(round(time_steps(name, args.recipe, data, args.steps), 4))
        for name, seconds in rounds.items():
            result = {"exercise": name, "recipe": args.recipe, "steps": args.steps, "step_s": seconds,
                      "median_step_s": statistics.median(seconds), "machine": machine}  # fmt: skip
            print(json.dumps(result), flush=True)
            with RESULTS.open("a") as file:
                file.write(json.dumps(result) + "\n")
        return
    for name in args.only:
        result = {**run_exercise(name, args.recipe, data), "machine": machine}
        print(json.dumps(result), flush=True)
        with RESULTS.open("a") as file:
            file.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
