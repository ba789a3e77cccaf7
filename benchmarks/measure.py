"""One measurement in a process of its own (so that its memory and compilations are its own), printed as one JSON line.

    python -m benchmarks.measure RUNNER [accuracy] [--target T] [--stop] [--set NAME=VALUE ...]
    python -m benchmarks.measure RUNNER speed [--train-images N]
    python -m benchmarks.measure RUNNER,RUNNER,... interleaved [--rounds R] [--warmup-images N]
    python -m benchmarks.measure gemm|pipeline|notebook

RUNNER: `seed` (benchmarks.seed_notebook; `seed-again` runs it again), `torch` (benchmarks.torch_peer) or
`package-RECIPE[-PRECISION[-PIPELINE]]`, on the backend KERAS_BACKEND names; docs/benchmarks.md says what each measures.
"""

import argparse
import json
import resource
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

STARTED = time.perf_counter()  # stages count from here, after the standard library's imports
STARTED_WALL = time.time()  # JAX reports its compilations on this clock

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "mnist_cnn.ipynb"
SMOKE_STEPS = 3
MIN_EPOCHS = 2  # two epochs at least, so that a steady rate can be read
PEER_EPOCHS = 10  # the seed notebook's
PEER_PREDICT_BATCH = 1000
LATENCY_CALLS = 30
WARMUP_IMAGES = 2560
GEMM_SIDE = 2048
GEMM_REPEATS = 10
CELL_TIMEOUT_S = 600
JAX_STAGES = {"jaxpr_trace_duration": "trace_s", "jaxpr_to_mlir_module_duration": "lower_s"}
JAX_STAGES["backend_compile_duration"] = "compile_s"  # XLA's compilation and autotuning, or a cache's load


class Stages(dict):
    """Seconds spent in each named stage of this process, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.last = STARTED

    def mark(self, name: str) -> None:
        """End the stage `name` now."""
        now = time.perf_counter()
        self[name] = self.get(name, 0.0) + now - self.last
        self.last = now


class Runner:
    """What a runner has unless it says otherwise: the seed notebook's epochs, no validation split, data as given."""

    epochs, held_out = PEER_EPOCHS, 0.0

    def prepare(self, images, labels):
        return images, labels


class SeedRunner(Runner):
    """The seed notebook's code: its preprocessing, its model, Keras' `fit` and `predict`."""

    def __init__(self, seed: int, train_size: int, settings: dict) -> None:
        import keras

        from benchmarks import seed_notebook

        keras.utils.set_random_seed(seed)
        self.code, self.model = seed_notebook, seed_notebook.define_model(num_labels=10, image_size=28)
        self.batch_size = seed_notebook.batch_size

    def prepare(self, images, labels):
        return self.code.preprocess(images, labels, images[:1], labels[:1])[0]

    def train_epoch(self, prepared) -> None:
        self.code.train(self.model, *prepared, epochs=1, verbose=0)

    def predict(self, inputs):
        return self.model.predict(inputs, batch_size=self.batch_size, verbose=0)

    def curve(self, train, test, epochs: int, steps: int | None, tracker) -> None:
        """One `fit`, as the seed notebook trains."""
        fitting = {"batch_size": self.batch_size, "steps_per_epoch": steps, "verbose": 0}
        self.model.fit(*train, epochs=epochs, callbacks=[tracker], **fitting)


class PackageRunner(Runner):
    """This package with one of its recipes (`fast-float32`: the fast recipe in float32)."""

    def __init__(self, name: str, seed: int, train_size: int, settings: dict) -> None:
        from mnist_cnn.config import config_for
        from mnist_cnn.precision import set_precision

        recipe, precision, pipeline = (name.split("-") + [None, None])[:3]
        self.config = config_for(recipe, seed=seed, precision=precision, input_pipeline=pipeline, **settings)
        self.uses_bfloat16 = set_precision(self.config.precision) == "mixed_bfloat16"
        self.batch_size, self.epochs = self.config.batch_size, self.config.epochs
        self.held_out = self.config.validation_split
        self.train_size, self.model = train_size, None

    def prepare(self, images, labels):
        from mnist_cnn.data import preprocess

        return preprocess(images, labels)

    def train_epoch(self, prepared) -> None:
        from mnist_cnn.model import build_model
        from mnist_cnn.train import compile_model, fit

        self.model = self.model or compile_model(build_model(self.config), self.config, self.train_size)
        fit(self.model, prepared, self.config.replace(epochs=1), verbose=0)

    def predict(self, inputs):
        from mnist_cnn.model import predict_probabilities

        return predict_probabilities(self.model, inputs)

    def curve(self, train, test, epochs: int, steps: int | None, tracker) -> None:
        """As `mnist-cnn train` trains: one `fit`, the validation split held out."""
        from mnist_cnn.train import train_and_evaluate

        steps = steps or self.config.steps_per_epoch
        config = self.config.replace(epochs=epochs, steps_per_epoch=steps, calibrate=False)
        train_and_evaluate(config, (train, test), verbose=0, callbacks=[tracker])


class TorchRunner(Runner):
    """Plain PyTorch (benchmarks.torch_peer), on uint8 images."""

    def __init__(self, seed: int, train_size: int, settings: dict) -> None:
        from benchmarks.torch_peer import BATCH_SIZE, TorchClassifier

        self.classifier, self.batch_size = TorchClassifier(seed), BATCH_SIZE

    def train_epoch(self, prepared) -> None:
        self.classifier.train_epoch(*prepared)

    def predict(self, images):
        return self.classifier.predict(images)

    def curve(self, train, test, epochs: int, steps: int | None, tracker) -> None:
        """A loop of its own, timed as the Keras runners' callback times theirs."""
        from benchmarks.common import accuracy_curve

        tracker.on_train_begin()
        train_epoch = lambda: self.classifier.train_epoch(*train, steps)  # noqa: E731
        predict = lambda: self.classifier.predict(test[0], PEER_PREDICT_BATCH)  # noqa: E731
        target, clock = tracker.target, tracker.clock
        tracker.points = accuracy_curve(train_epoch, predict, test[1], epochs, target, MIN_EPOCHS, clock)
        tracker.on_train_end()


def make_runner(name: str, seed: int, train_size: int, settings: dict | None = None) -> Runner:
    """The runner that `name` names."""
    if name.startswith("package-"):
        return PackageRunner(name.removeprefix("package-"), seed, train_size, settings or {})
    if name.startswith("seed") or name == "torch":
        return (TorchRunner if name == "torch" else SeedRunner)(seed, train_size, settings or {})
    raise SystemExit(f"unknown runner {name!r}")


def record_jax_compilations(compilations: dict) -> None:
    """Have JAX add each program's tracing, lowering and compiling seconds to `compilations` as it goes."""
    import jax.monitoring

    def added(event: str, start: float, end: float, fun_name: str = "?", **_: object) -> None:
        stage = JAX_STAGES.get(event.rsplit("/", 1)[-1])
        if stage:
            name = fun_name.removeprefix("jit(").removesuffix(")")  # traced as f, lowered and compiled as jit(f)
            program = compilations.setdefault(name, {"first_at_s": start - STARTED_WALL})
            program[stage] = program.get(stage, 0.0) + end - start

    jax.monitoring.register_event_time_span_listener(added)


def staged_curve(stages: Stages, images, labels, target: float | None, clock):
    """An AccuracyCurve that also marks the end of building and compiling, and of `fit`."""
    from benchmarks.common import AccuracyCurve

    class StagedCurve(AccuracyCurve):
        def on_train_begin(self, logs=None):
            stages.mark("build_and_compile_model_s")
            super().on_train_begin(logs)

        def on_train_end(self, logs=None):
            stages.mark("fit_s")

    return StagedCurve(images, labels, target, MIN_EPOCHS, clock)


def measure_accuracy(args: argparse.Namespace, settings: dict, train, test, stages: Stages) -> dict:
    """Test accuracy and training time after each epoch, the clock started once the device is set up."""
    import keras

    from benchmarks.common import Clock

    keras.ops.convert_to_numpy(keras.ops.zeros(1))  # the device set up before the clock starts
    stages.mark("device_s")
    clock, steps = Clock(), SMOKE_STEPS if args.smoke else None
    runner = make_runner(args.runner, args.seed, len(train[0]), settings)
    prepared_train, prepared_test = runner.prepare(*train), runner.prepare(*test)
    tracker = staged_curve(stages, prepared_test[0], test[1], args.target if args.stop else None, clock)
    runner.curve(prepared_train, prepared_test, runner.epochs, steps, tracker)
    stages.mark("test_and_after_s")
    stages["test_pauses_s"] = clock.paused_s
    stages["copy_train_set_s"] = copy_seconds(prepared_train[0])
    images = steps * runner.batch_size if steps else round(len(train[0]) * (1 - runner.held_out))
    return summary(tracker.points, images, args.target)


def copy_seconds(images) -> float:
    """Seconds to put the training images on the device once, after training (what each epoch copies in batches)."""
    import keras

    started = time.perf_counter()
    keras.ops.convert_to_numpy(keras.ops.convert_to_tensor(images)[-1])  # the last image waits for the whole copy
    return time.perf_counter() - started


def summary(points: list[dict], images: int, target: float) -> dict:
    """Time to the target, steady images/s (the median epoch after the first), first epoch and final accuracy."""
    from benchmarks.common import time_to

    durations = [later["train_s"] - earlier["train_s"] for earlier, later in zip(points, points[1:], strict=False)]
    return {
        "epochs": len(points),
        "images_per_epoch": images,
        "first_epoch_s": points[0]["train_s"],
        "time_to_target_s": time_to(points, target),
        "steady_images_per_s": images / statistics.median(durations) if durations else None,
        "final_accuracy": points[-1]["test_accuracy"],
        "curve": points,
    }


def seconds(call) -> float:
    """How long `call()` takes."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure_speed(runner, train, test, train_images: int) -> dict:
    """Training images/s over one epoch after a warm-up one, inference images/s, one-image latency."""
    (x_train, y_train), (x_test, y_test) = train, test
    runner.train_epoch(runner.prepare(x_train[:WARMUP_IMAGES], y_train[:WARMUP_IMAGES]))  # builds the step
    timed = runner.prepare(x_train[:train_images], y_train[:train_images])
    train_s = seconds(lambda: runner.train_epoch(timed))
    inputs = runner.prepare(x_test, y_test)[0]  # the runner's own form: floats for Keras, bytes for PyTorch
    runner.predict(inputs[:256])
    predict_s = seconds(lambda: runner.predict(inputs))
    runner.predict(inputs[:1])
    latencies = [seconds(lambda: runner.predict(inputs[:1])) for _ in range(LATENCY_CALLS)]
    return {
        "train_images_per_s": train_images / train_s,
        "predict_images_per_s": len(x_test) / predict_s,
        "latency_ms": 1000 * statistics.median(latencies),
        "bfloat16": float(getattr(runner, "uses_bfloat16", False)),
    }


def measure_interleaved(args: argparse.Namespace, train) -> dict[str, dict[str, list[float]]]:
    """Training images a second of each runner in each round, by the wall clock and by CPU time, taking turns."""
    from benchmarks.common import rotated

    (x, y), names, made, timed = train, args.runner.split(","), {}, {}
    for name in names:
        made[name] = make_runner(name, args.seed, len(x))
        made[name].train_epoch(made[name].prepare(x[: args.warmup_images], y[: args.warmup_images]))
        timed[name] = made[name].prepare(x[: args.train_images], y[: args.train_images])
    rates = {clock: {name: [] for name in names} for clock in ("wall", "cpu")}
    for round_number in range(args.rounds):
        for name in rotated(names, round_number):
            wall, cpu = time.perf_counter(), time.process_time()
            made[name].train_epoch(timed[name])
            rates["wall"][name].append(args.train_images / (time.perf_counter() - wall))
            rates["cpu"][name].append(args.train_images / (time.process_time() - cpu))
    return rates


def measure_gemm() -> dict:
    """The machine's matrix-multiply rate in GFLOP/s, float32 and bfloat16: the ceiling a training step nears."""
    import tensorflow as tf

    rates = {}
    for dtype in ("float32", "bfloat16"):
        matrix = tf.cast(tf.random.uniform((GEMM_SIDE, GEMM_SIDE), seed=1), dtype)
        tf.matmul(matrix, matrix).numpy()  # warm-up
        start = time.perf_counter()
        for _ in range(GEMM_REPEATS):
            product = tf.matmul(matrix, matrix)
        product.numpy()
        rates[f"{dtype}_gflops"] = 2 * GEMM_SIDE**3 * GEMM_REPEATS / (time.perf_counter() - start) / 1e9
    return rates


def measure_pipeline(train) -> dict:
    """Images a second that the `accurate` recipe's batches prepare (shuffle, shift, rotate), with no model."""
    from mnist_cnn.config import config_for
    from mnist_cnn.data import preprocess
    from mnist_cnn.pipeline import TrainingBatches

    batches = TrainingBatches(preprocess(*train), config_for("accurate"))
    start = time.perf_counter()
    count = sum(len(batches[index][0]) for index in range(len(batches)))
    return {"images_per_s": count / (time.perf_counter() - start)}


def measure_notebook(save: Path | None) -> dict:
    """Run the notebook whole in a fresh Jupyter kernel (its folder a new one, as Colab's /content); time each cell."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with tempfile.TemporaryDirectory() as folder:
        options = {"timeout": CELL_TIMEOUT_S, "kernel_name": "python3", "allow_errors": True}
        client = NotebookClient(notebook, resources={"metadata": {"path": folder}}, **options)
        whole_s = seconds(client.execute)
    if save:
        nbformat.write(notebook, save)
    cells = [cell_time(index, cell) for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    return {"whole_s": whole_s, "cells_s": sum(cell["seconds"] or 0 for cell in cells), "cells": cells}


def cell_time(index: int, cell) -> dict:
    """A run cell's seconds (from the kernel's own timestamps), its first line, whether it trains, its error."""
    timing = cell.metadata.get("execution", {})
    began, ended = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    seconds = (datetime.fromisoformat(ended) - datetime.fromisoformat(began)).total_seconds() if began else None
    errors = [output.get("ename") for output in cell.outputs if output.output_type == "error"]
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    named = {"cell": index, "first_line": first[:90], "trains": ".fit(" in cell.source}
    return {**named, "seconds": seconds, "error": (errors or [None])[0]}


def measure(args: argparse.Namespace) -> dict:
    """The measurement `args` asks for, on the backend KERAS_BACKEND names."""
    from mnist_cnn.backend import use_backend

    stages, compilations = Stages(), {}
    if use_backend() == "jax":
        record_jax_compilations(compilations)
    from benchmarks.common import parse_settings
    from mnist_cnn.data import load_raw

    stages.mark("imports_s")
    settings = parse_settings(args.set)
    train, test = load_raw("sample" if args.smoke else args.dataset, None if args.smoke else args.data)
    stages.mark("data_s")
    if args.runner in ("gemm", "pipeline"):
        return measure_gemm() if args.runner == "gemm" else measure_pipeline(train)
    if args.task == "interleaved":
        return measure_interleaved(args, train)
    if args.task == "speed":
        return measure_speed(make_runner(args.runner, args.seed, len(train[0])), train, test, args.train_images)
    result = measure_accuracy(args, settings, train, test, stages)
    return {"settings": settings, **result, "stages": stages, "compilations": compilations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runner")
    parser.add_argument("task", nargs="?", default="accuracy", choices=("accuracy", "speed", "interleaved"))
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data", help="a data path, as mnist-cnn train --data")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--target", type=float, default=0.99, help="accuracy: the test accuracy timed to")
    parser.add_argument("--stop", action="store_true", help="accuracy: stop at the target, two epochs at least")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="package: a recipe's setting")
    parser.add_argument("--train-images", type=int, default=12800, help="speed, interleaved: the images timed")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved: epochs each runner is timed")
    parser.add_argument("--warmup-images", type=int, default=640, help="interleaved: each runner's warm-up epoch")
    parser.add_argument("--save", type=Path, help="notebook: write the executed notebook here")
    parser.add_argument("--smoke", action="store_true", help="the shipped sample, a few steps an epoch: a check")
    args = parser.parse_args()
    result = measure_notebook(args.save) if args.runner == "notebook" else measure(args)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"runner": args.runner, "seed": args.seed, **result, "peak_rss_mb": peak_rss_mb}))


if __name__ == "__main__":
    main()
