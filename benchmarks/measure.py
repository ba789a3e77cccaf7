"""One measurement of one implementation, in a process of its own (so that its peak memory is its own).

    python benchmarks/measure.py RUNNER speed [--train-images N]          -> training and inference speed, memory
    python benchmarks/measure.py RUNNER accuracy [--epochs N] [--seed S]  -> test accuracy and training time per epoch

RUNNER is `seed` (the seed notebook's code), `torch` (plain PyTorch), or `package-RECIPE[-PRECISION[-PIPELINE]]`
(this package, e.g. package-seed, package-fast, package-fast-float32, package-fast-float32-batches); `gemm speed`
measures the machine's matrix-multiply rate. Prints one JSON object. Keras' runners run on the backend KERAS_BACKEND
names.

The accuracy task measures test accuracy after each epoch to time how long training takes to reach a target: that
is measurement, and nothing is chosen with it (the package's recipes are chosen on validation data). The clock
stops while test accuracy is measured. The package trains as `mnist-cnn train` does (`train_and_evaluate`, in one
`fit`, its validation split held out), the seed code as the seed notebook does (`model.fit` on arrays, here one
epoch per call, which reshuffles every epoch just as one call of 10 epochs), PyTorch with its usual loop.
"""

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import keras
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from mnist_cnn.data import load_raw  # noqa: E402
from mnist_cnn.model import predict_probabilities  # noqa: E402

LATENCY_CALLS = 30
WARMUP_IMAGES = 2560


class SeedRunner:
    """The seed notebook's code."""

    def __init__(self, train_size: int, seed: int = 42) -> None:
        import keras

        import seed_notebook

        keras.utils.set_random_seed(seed)
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
        return self.model.predict(x, verbose=0)  # The seed notebook predicts no single image: Keras' usual call.

    def accuracy_curve(self, train, test, epochs: int, target: float | None) -> list[dict]:
        prepared = self.prepare(*train)
        inputs, labels = self.prepare(*test)[0], test[1]
        return epoch_by_epoch(lambda: self.train_epoch(prepared), lambda: self.predict(inputs), labels, epochs, target)


class PackageRunner:
    """This package, with one of its recipes."""

    def __init__(self, recipe: str, train_size: int, seed: int = 42) -> None:
        from mnist_cnn.config import config_for
        from mnist_cnn.model import build_model
        from mnist_cnn.precision import set_precision
        from mnist_cnn.train import compile_model

        # e.g. fast-float32: the fast recipe in float32; fast-float32-batches: with the package's batches
        recipe, precision, pipeline = (recipe.split("-") + [None, None])[:3]
        self.config = config_for(recipe, seed=seed, precision=precision, input_pipeline=pipeline)
        self.uses_bfloat16 = set_precision(self.config.precision) == "mixed_bfloat16"
        self.model = compile_model(build_model(self.config), self.config, train_size)

    def prepare(self, images, labels):
        from mnist_cnn.data import preprocess

        return preprocess(images, labels)

    def train_epoch(self, prepared) -> None:
        from mnist_cnn.train import fit

        fit(self.model, prepared, self.config.replace(epochs=1), verbose=0)

    def predict(self, x, batch_size: int = 128):
        from mnist_cnn.model import predict_probabilities

        return predict_probabilities(self.model, x, batch_size)

    def predict_one(self, x):
        from mnist_cnn.model import predict_probabilities

        return predict_probabilities(self.model, x)

    def accuracy_curve(self, train, test, epochs: int, target: float | None) -> list[dict]:
        """Train as `mnist-cnn train` does, measuring test accuracy after each epoch with the clock stopped."""
        from mnist_cnn.data import preprocess
        from mnist_cnn.train import train_and_evaluate

        curve = TestAccuracyCurve(self.prepare(*test)[0], test[1], target)
        data = preprocess(*train), preprocess(*test)
        train_and_evaluate(self.config.replace(epochs=epochs), data, verbose=0, callbacks=[curve])
        return curve.points


class TorchRunner:
    """Plain PyTorch."""

    def __init__(self, train_size: int, seed: int = 42) -> None:
        from torch_peer import TorchClassifier

        self.classifier = TorchClassifier(seed)

    def prepare(self, images, labels):
        return images, labels

    def train_epoch(self, prepared) -> None:
        self.classifier.train_epoch(*prepared)

    def predict(self, images, batch_size: int = 128):
        return self.classifier.predict(images, batch_size)

    def predict_one(self, images):
        return self.classifier.predict(images)

    def accuracy_curve(self, train, test, epochs: int, target: float | None) -> list[dict]:
        return epoch_by_epoch(lambda: self.train_epoch(train), lambda: self.predict(test[0]), test[1], epochs, target)


class TestAccuracyCurve(keras.callbacks.Callback):
    """Test accuracy after each epoch of a Keras `fit`, and the training time until then, the clock stopped while
    measuring; stops training once `target` is reached, if given."""

    def __init__(self, images, labels, target: float | None) -> None:
        super().__init__()
        self.images, self.labels, self.target = images, labels, target
        self.points: list[dict] = []

    def on_train_begin(self, logs=None):
        self.train_s, self.resumed = 0.0, time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.train_s += time.perf_counter() - self.resumed
        accuracy = float((predict_probabilities(self.model, self.images).argmax(axis=1) == self.labels).mean())
        self.points.append({"train_s": self.train_s, "test_accuracy": accuracy})
        if self.target is not None and accuracy >= self.target:
            self.model.stop_training = True
        self.resumed = time.perf_counter()


def epoch_by_epoch(train_epoch, predict, labels, epochs: int, target: float | None) -> list[dict]:
    """Train epoch by epoch, measuring test accuracy after each with the clock stopped, until `target` if given."""
    elapsed, curve = 0.0, []
    for _ in range(epochs):
        start = time.perf_counter()
        train_epoch()
        elapsed += time.perf_counter() - start
        accuracy = float((predict().argmax(axis=1) == labels).mean())
        curve.append({"train_s": elapsed, "test_accuracy": accuracy})
        if target is not None and accuracy >= target:
            break
    return curve


def make_runner(name: str, train_size: int, seed: int):
    if name.startswith("seed"):  # seed, and seed-again: the same code twice shows the noise between two runs
        return SeedRunner(train_size, seed)
    if name == "torch":
        return TorchRunner(train_size, seed)
    if name.startswith("package-"):
        return PackageRunner(name.removeprefix("package-"), train_size, seed)
    raise SystemExit(f"unknown runner {name!r}")


def test_inputs(runner, images, labels):
    """The runner's own form of the test images (floats for Keras, bytes for the PyTorch peer)."""
    return runner.prepare(images, labels)[0] if not isinstance(runner, TorchRunner) else images


def measure_gemm(size: int = 2048, repeats: int = 10) -> dict:
    """The machine's matrix-multiply rate in GFLOP/s, in float32 and bfloat16: the ceiling a training step nears."""
    import tensorflow as tf

    rates = {}
    for dtype in ("float32", "bfloat16"):
        a = tf.random.uniform((size, size), dtype=tf.float32, seed=1)
        a = tf.cast(a, dtype)
        tf.matmul(a, a).numpy()  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            product = tf.matmul(a, a)
        product.numpy()
        rates[f"{dtype}_gflops"] = 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9
    return rates


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
        "bfloat16": float(getattr(runner, "uses_bfloat16", False)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runner")
    parser.add_argument("task", choices=("speed", "accuracy"))
    parser.add_argument("--dataset", default="fashion")
    parser.add_argument("--data", help="a data path, as mnist-cnn train --data")
    parser.add_argument("--train-images", type=int, default=12800)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--stop-at", type=float, help="stop training once test accuracy reaches this")
    args = parser.parse_args()
    if args.runner == "gemm":
        print(json.dumps(measure_gemm()))
        return
    train, test = load_raw(args.dataset, args.data)
    np.random.seed(args.seed)
    runner = make_runner(args.runner, len(train[0]), args.seed)
    if args.task == "speed":
        result = measure_speed(runner, train, test, args.train_images)
    else:
        curve = runner.accuracy_curve(train, test, args.epochs, args.stop_at)
        result = {"curve": curve, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
