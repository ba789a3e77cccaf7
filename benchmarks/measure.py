"""One measurement of one implementation, in a process of its own (so that its peak memory is its own).

    python benchmarks/measure.py RUNNER speed [--train-images N]   -> training and inference speed, peak memory
    python benchmarks/measure.py RUNNER accuracy [--epochs N]      -> test accuracy and training time after each epoch

RUNNER is `seed` (the seed notebook's code), `torch` (plain PyTorch), or `package-RECIPE` (this package, e.g.
package-seed, package-best). Prints one JSON object.
"""

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from mnist_cnn.data import load_raw  # noqa: E402

LATENCY_CALLS = 30
WARMUP_IMAGES = 2560


class SeedRunner:
    """The seed notebook's code."""

    def __init__(self, train_size: int) -> None:
        import seed_notebook

        self.seed = seed_notebook
        self.model = seed_notebook.define_model(num_labels=10, image_size=28)

    def prepare(self, images, labels):
        (x, y), _, _, _ = self.seed.preprocess(images, labels, images[:1], labels[:1])
        return x, y

    def train_epoch(self, prepared) -> None:
        self.seed.train(self.model, *prepared, epochs=1, verbose=0)

    def predict(self, x, batch_size: int = 128):
        return self.model.predict(x, batch_size=batch_size, verbose=0)

    def predict_one(self, x):
        return self.model.predict(x, verbose=0)


class PackageRunner:
    """This package, with one of its recipes."""

    def __init__(self, recipe: str, train_size: int) -> None:
        from mnist_cnn.config import config_for
        from mnist_cnn.model import build_model
        from mnist_cnn.train import compile_model

        self.config = config_for(recipe)
        self.model = compile_model(build_model(self.config), self.config, train_size)

    def prepare(self, images, labels):
        from mnist_cnn.data import preprocess

        return preprocess(images, labels)

    def train_epoch(self, prepared) -> None:
        from mnist_cnn.train import fit

        fit(self.model, prepared, self.config.replace(epochs=1), verbose=0)

    def predict(self, x, batch_size: int = 128):
        from mnist_cnn.predict import predict_probabilities

        return predict_probabilities(self.model, x, batch_size)

    def predict_one(self, x):
        from mnist_cnn.predict import predict_probabilities

        return predict_probabilities(self.model, x)


class TorchRunner:
    """Plain PyTorch."""

    def __init__(self, train_size: int) -> None:
        from torch_peer import TorchClassifier

        self.classifier = TorchClassifier()

    def prepare(self, images, labels):
        return images, labels

    def train_epoch(self, prepared) -> None:
        self.classifier.train_epoch(*prepared)

    def predict(self, images, batch_size: int = 128):
        return self.classifier.predict(images, batch_size)

    def predict_one(self, images):
        return self.classifier.predict(images)


def make_runner(name: str, train_size: int):
    if name == "seed":
        return SeedRunner(train_size)
    if name == "torch":
        return TorchRunner(train_size)
    if name.startswith("package-"):
        return PackageRunner(name.removeprefix("package-"), train_size)
    raise SystemExit(f"unknown runner {name!r}")


def test_inputs(runner, images, labels):
    """The runner's own form of the test images (floats for Keras, bytes for the PyTorch peer)."""
    return runner.prepare(images, labels)[0] if not isinstance(runner, TorchRunner) else images


def measure_speed(runner, train, test, train_images: int) -> dict:
    (x_train, y_train), (x_test, y_test) = train, test
    warmup = runner.prepare(x_train[:WARMUP_IMAGES], y_train[:WARMUP_IMAGES])
    timed = runner.prepare(x_train[:train_images], y_train[:train_images])
    runner.train_epoch(warmup)  # builds and traces the training step
    start = time.perf_counter()
    runner.train_epoch(timed)
    train_seconds = time.perf_counter() - start

    inputs = test_inputs(runner, x_test, y_test)
    runner.predict(inputs[:256])
    start = time.perf_counter()
    runner.predict(inputs)
    predict_seconds = time.perf_counter() - start

    one = inputs[:1]
    runner.predict_one(one)
    latencies = []
    for _ in range(LATENCY_CALLS):
        start = time.perf_counter()
        runner.predict_one(one)
        latencies.append(time.perf_counter() - start)
    return {
        "train_images_per_s": train_images / train_seconds,
        "predict_images_per_s": len(x_test) / predict_seconds,
        "latency_ms": 1000 * statistics.median(latencies),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure_accuracy(runner, train, test, epochs: int) -> dict:
    """Train epoch by epoch; the clock runs only while training (not while measuring test accuracy)."""
    prepared = runner.prepare(*train)
    inputs, labels = test_inputs(runner, *test), test[1]
    elapsed, curve = 0.0, []
    for _ in range(epochs):
        start = time.perf_counter()
        runner.train_epoch(prepared)
        elapsed += time.perf_counter() - start
        accuracy = float((runner.predict(inputs).argmax(axis=1) == labels).mean())
        curve.append({"train_s": elapsed, "test_accuracy": accuracy})
    return {"curve": curve, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runner")
    parser.add_argument("task", choices=("speed", "accuracy"))
    parser.add_argument("--dataset", default="fashion")
    parser.add_argument("--data", help="a data path, as mnist-cnn train --data")
    parser.add_argument("--train-images", type=int, default=12800)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    train, test = load_raw(args.dataset, args.data)
    np.random.seed(0)
    runner = make_runner(args.runner, len(train[0]))
    if args.task == "speed":
        result = measure_speed(runner, train, test, args.train_images)
    else:
        result = measure_accuracy(runner, train, test, args.epochs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
