"""One measurement in a process of its own (so that its memory and compilations are its own), printed as one JSON line.
RUNNER: seed, seed-again, torch or package-RECIPE[-PRECISION[-PIPELINE]] (several, comma-separated, for interleaved), or
gemm, pipeline or notebook; on the backend KERAS_BACKEND names. docs/benchmarks.md says what each measures."""

import argparse
import json
import resource
import statistics
import tempfile
import time
from datetime import datetime
from functools import partial
from pathlib import Path

from mnist_cnn.backend import use_backend

# Keras and the library are imported where used, after `notebook` and `gemm` are dispatched: those need neither.
STARTED = time.perf_counter()  # stages count from here, after the standard library's imports
NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "mnist_cnn.ipynb"
MIN_EPOCHS = 2  # two epochs at least, so that a steady rate can be read
PEER_EPOCHS = 10  # the seed notebook's
PEER_PREDICT_BATCH = 1000  # PyTorch's test-set pass after each epoch, clock paused: big batches keep it short
SMOKE_STEPS = 3  # a smoke check's steps an epoch: every stage runs, in seconds on a CPU
LATENCY_CALLS = 30  # one-image predictions timed after a warm-up one; their median is the latency
CELL_TIMEOUT_S = 600  # a notebook cell's limit: its training cells take minutes on a CPU
JAX_STAGES = {"jaxpr_trace": "trace_s", "jaxpr_to_mlir_module": "lower_s", "backend_compile": "compile_s"}
STAGES: dict[str, float] = {}  # the seconds of each stage of this process, in order, from STARTED
COMPILATIONS: dict[str, dict[str, float]] = {}  # JAX's, by program and stage (compile_s: XLA's, autotuning included)


def mark(stage: str) -> None:
    """End `stage` now: the seconds since the last stage ended are added to its."""
    STAGES[stage] = STAGES.get(stage, 0.0) + time.perf_counter() - STARTED - sum(STAGES.values())


def add_jax_compilation(event: str, start: float, end: float, fun_name: str = "?", **_: object) -> None:
    """Add a span that JAX reports (jax.monitoring) to its program's COMPILATIONS."""
    stage = JAX_STAGES.get(event.rsplit("/", 1)[-1].removesuffix("_duration"))
    if stage:
        name = fun_name.removeprefix("jit(").removesuffix(")")  # traced as f, lowered and compiled as jit(f)
        COMPILATIONS.setdefault(name, dict.fromkeys(JAX_STAGES.values(), 0.0))[stage] += end - start


class SeedRunner:
    """The seed notebook's code: its preprocessing and model, one Keras `fit` as it trains, Keras' `predict`."""

    held_out = 0.0

    def __init__(self, name: str, args: argparse.Namespace, train_size: int) -> None:
        import keras

        from benchmarks import seed_notebook

        keras.utils.set_random_seed(args.seed)
        self.batch_size, self.model = seed_notebook.batch_size, seed_notebook.define_model(num_labels=10, image_size=28)
        self.prepare = lambda images, labels: seed_notebook.preprocess(images, labels, images[:1], labels[:1])[0]
        self.train_epoch = partial(seed_notebook.train, self.model, epochs=1, verbose=0)
        self.predict = partial(self.model.predict, batch_size=self.batch_size, verbose=0)

    def curve(self, train, test, steps: int | None, tracker) -> None:
        fitting = {"batch_size": self.batch_size, "steps_per_epoch": steps, "verbose": 0}
        self.model.fit(*train, epochs=PEER_EPOCHS, callbacks=[tracker], **fitting)


class PackageRunner:
    """This package with a recipe (`fast-float32`: the fast one in float32), one `fit` as `mnist-cnn train`'s."""

    def __init__(self, name: str, args: argparse.Namespace, train_size: int) -> None:
        from benchmarks.common import parse_settings
        from mnist_cnn.config import config_for
        from mnist_cnn.data import preprocess
        from mnist_cnn.model import predict_probabilities
        from mnist_cnn.precision import set_precision

        recipe, precision, pipeline = (name.removeprefix("package-").split("-") + [None, None])[:3]
        settings = {"seed": args.seed, "precision": precision, "input_pipeline": pipeline, **parse_settings(args.set)}
        self.config = config_for(recipe, **settings)
        self.uses_bfloat16 = set_precision(self.config.precision) == "mixed_bfloat16"
        self.batch_size, self.held_out = self.config.batch_size, self.config.validation_split
        self.train_size, self.model, self.prepare = train_size, None, preprocess
        self.predict = lambda inputs: predict_probabilities(self.model, inputs)

    def train_epoch(self, images, labels) -> None:
        from mnist_cnn.model import build_model
        from mnist_cnn.train import compile_model, fit

        self.model = self.model or compile_model(build_model(self.config), self.config, self.train_size)
        fit(self.model, (images, labels), self.config.replace(epochs=1), verbose=0)

    def curve(self, train, test, steps: int | None, tracker) -> None:
        from mnist_cnn.train import train_and_evaluate

        config = self.config.replace(steps_per_epoch=steps or self.config.steps_per_epoch, calibrate=False)
        train_and_evaluate(config, (train, test), verbose=0, callbacks=[tracker])


class TorchRunner:
    """Plain PyTorch (benchmarks.torch_peer) on uint8 images, in a loop timed as the Keras runners' callback times."""

    held_out = 0.0
    prepare = staticmethod(lambda images, labels: (images, labels))

    def __init__(self, name: str, args: argparse.Namespace, train_size: int) -> None:
        from benchmarks.torch_peer import BATCH_SIZE, TorchClassifier

        classifier, self.batch_size = TorchClassifier(args.seed), BATCH_SIZE
        self.train_epoch, self.predict = classifier.train_epoch, classifier.predict

    def curve(self, train, test, steps: int | None, tracker) -> None:
        from benchmarks.common import accuracy_curve

        tracker.on_train_begin()
        epoch, predict = partial(self.train_epoch, *train, steps), partial(self.predict, test[0], PEER_PREDICT_BATCH)
        tracker.points = accuracy_curve(epoch, predict, test[1], PEER_EPOCHS, tracker.target, MIN_EPOCHS, tracker.clock)
        tracker.on_train_end()


RUNNERS = {"seed": SeedRunner, "seed-again": SeedRunner, "torch": TorchRunner}  # any other: a PackageRunner


def measure_accuracy(args: argparse.Namespace, train, test) -> dict:
    """Test accuracy and training time after each epoch, the clock started once the device is set up."""
    import keras

    from benchmarks.common import AccuracyCurve, Clock, parse_settings, seconds, time_to

    class StagedCurve(AccuracyCurve):
        """An AccuracyCurve that also ends the stages of building and compiling the model, and of `fit`."""

        def on_train_begin(self, logs=None):
            mark("build_and_compile_model_s")
            super().on_train_begin(logs)

        def on_train_end(self, logs=None):
            mark("fit_s")

    keras.ops.convert_to_numpy(keras.ops.zeros(1))  # the device set up before the clock starts
    mark("device_s")
    clock, steps = Clock(), SMOKE_STEPS if args.smoke else None
    runner = RUNNERS.get(args.runner, PackageRunner)(args.runner, args, len(train[0]))
    prepared_train, prepared_test = runner.prepare(*train), runner.prepare(*test)
    tracker = StagedCurve(prepared_test[0], test[1], args.target if args.stop else None, MIN_EPOCHS, clock)
    runner.curve(prepared_train, prepared_test, steps, tracker)
    mark("test_and_after_s")
    # The training images put on the device once, after training (what each epoch copies in batches); the last waits.
    copy_s = seconds(lambda: keras.ops.convert_to_numpy(keras.ops.convert_to_tensor(prepared_train[0])[-1]))
    points, ends = tracker.points, [point["train_s"] for point in tracker.points]
    images = steps * runner.batch_size if steps else round(len(train[0]) * (1 - runner.held_out))
    durations = [end - start for start, end in zip([0.0, *ends], ends, strict=False)]  # each epoch's
    return {
        "settings": parse_settings(args.set),
        "epochs": len(points),
        "target": args.target,
        "first_epoch_s": points[0]["train_s"],
        "time_to_target_s": time_to(points, args.target),
        "epoch_images_per_s": [images / duration for duration in durations],
        "steady_images_per_s": images / statistics.median(durations[1:]) if len(durations) > 1 else None,
        "final_accuracy": points[-1]["test_accuracy"],
        "curve": points,
        "stages": {**STAGES, "test_pauses_s": clock.paused_s, "copy_train_set_s": copy_s},
        "compilations": COMPILATIONS,
    }


def measure_speed(args: argparse.Namespace, train, test) -> dict:
    """Training images/s after a warm-up epoch, runners taking turns (interleaved); for one runner, inference too."""
    from benchmarks.common import milliseconds, rotated, seconds

    (x, y), names, made = train, args.runner.split(","), {}
    for name in names:  # each runner's warm-up epoch builds its step
        runner = RUNNERS.get(name, PackageRunner)(name, args, len(x))
        runner.train_epoch(*runner.prepare(x[: args.warmup_images], y[: args.warmup_images]))
        made[name] = runner, runner.prepare(x[: args.train_images], y[: args.train_images])
    rates = {clock: {name: [] for name in names} for clock in ("wall", "cpu")}
    for round_number in range(args.rounds if args.task == "interleaved" else 1):
        for name in rotated(names, round_number):
            (runner, timed), wall, cpu = made[name], time.perf_counter(), time.process_time()
            runner.train_epoch(*timed)
            rates["wall"][name].append(args.train_images / (time.perf_counter() - wall))
            rates["cpu"][name].append(args.train_images / (time.process_time() - cpu))
    if args.task == "interleaved":
        return rates
    runner = made[names[0]][0]  # speed: the one runner
    inputs = runner.prepare(*test)[0]  # the runner's own form: floats for Keras, bytes for PyTorch
    runner.predict(inputs[:256])
    predict_s = seconds(lambda: runner.predict(inputs))
    latencies = milliseconds(lambda _: runner.predict(inputs[:1]), LATENCY_CALLS)  # after a warm-up call
    return {
        "train_images_per_s": rates["wall"][names[0]][0],
        "predict_images_per_s": len(inputs) / predict_s,
        "latency_ms": statistics.median(latencies),
        "bfloat16": float(getattr(runner, "uses_bfloat16", False)),
    }


def measure_gemm(args: argparse.Namespace, side: int = 2048, repeats: int = 10) -> dict:
    """The machine's matrix-multiply rate in GFLOP/s, float32 and bfloat16: the ceiling a training step nears."""
    import tensorflow as tf

    rates = {"side": side}
    for dtype in ("float32", "bfloat16"):
        matrix = tf.cast(tf.random.uniform((side, side), seed=1), dtype)
        tf.matmul(matrix, matrix).numpy()  # warm-up
        start = time.perf_counter()
        [tf.matmul(matrix, matrix) for _ in range(repeats)][-1].numpy()  # the last product waits for all
        rates[f"{dtype}_gflops"] = 2 * side**3 * repeats / (time.perf_counter() - start) / 1e9
    return rates


def measure_pipeline(args: argparse.Namespace, train, test) -> dict:
    """Images a second that the `accurate` recipe's batches prepare (shuffle, shift, rotate), with no model."""
    from mnist_cnn.config import config_for
    from mnist_cnn.data import preprocess
    from mnist_cnn.pipeline import TrainingBatches

    batches = TrainingBatches(preprocess(*train), config_for("accurate"))
    start = time.perf_counter()
    count = sum(len(batches[index][0]) for index in range(len(batches)))
    return {"images_per_s": count / (time.perf_counter() - start)}


def measure_notebook(args: argparse.Namespace) -> dict:
    """Run the notebook whole in a fresh Jupyter kernel (its folder a new one, as Colab's /content); time each cell."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with tempfile.TemporaryDirectory() as folder:
        options = {"timeout": CELL_TIMEOUT_S, "kernel_name": "python3", "allow_errors": True}
        start = time.perf_counter()  # benchmarks.common's `seconds` would import Keras
        NotebookClient(notebook, resources={"metadata": {"path": folder}}, **options).execute()
        whole_s = time.perf_counter() - start
    if args.save:
        nbformat.write(notebook, args.save)
    cells = []
    for index, cell in enumerate(notebook.cells):
        stamps = {key: datetime.fromisoformat(value) for key, value in cell.metadata.get("execution", {}).items()}
        if "shell.execute_reply" in stamps:  # a code cell the kernel ran (not one tagged skip-execution), by its clock
            error = next((output.ename for output in cell.outputs if output.output_type == "error"), None)
            first = next(line for line in cell.source.splitlines() if line.strip())[:90]
            ran_s = (stamps["shell.execute_reply"] - stamps["iopub.execute_input"]).total_seconds()
            cells.append(dict(cell=index, first_line=first, seconds=ran_s, trains=".fit(" in cell.source, error=error))
    return {"whole_s": whole_s, "cells_s": sum(cell["seconds"] for cell in cells), "cells": cells}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runner", metavar="RUNNER")
    parser.add_argument("task", nargs="?", default="accuracy", choices=("accuracy", "speed", "interleaved"))
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data", help="a data path, as mnist-cnn train --data")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--target", type=float, default=0.99, help="accuracy: the test accuracy timed to")
    parser.add_argument("--stop", action="store_true", help="accuracy: stop at the target, two epochs at least")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="package: a recipe's setting")
    parser.add_argument("--train-images", type=int, default=12800, help="speed, interleaved: the images timed")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved: epochs each runner is timed")
    parser.add_argument("--warmup-images", type=int, default=2560, help="speed, interleaved: the warm-up epoch's")
    parser.add_argument("--save", help="notebook: write the executed notebook here")
    parser.add_argument("--smoke", action="store_true", help="the shipped sample, a few steps an epoch: a check")
    args = parser.parse_args()
    standalone = {"gemm": measure_gemm, "notebook": measure_notebook}.get(args.runner)  # needs no Keras, no data
    result = {"runner": args.runner, "seed": args.seed, **(standalone(args) if standalone else measure(args))}
    print(json.dumps({**result, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(args: argparse.Namespace) -> dict:
    """A measurement that needs Keras and the data, their import and loading timed as the first stages."""
    if use_backend() == "jax":  # on KERAS_BACKEND, before Keras is imported
        import jax.monitoring

        jax.monitoring.register_event_time_span_listener(add_jax_compilation)
    import keras  # noqa: F401 (timed among the imports)

    from mnist_cnn.data import load_raw

    mark("imports_s")
    train, test = load_raw("sample" if args.smoke else args.dataset, None if args.smoke else args.data)
    mark("data_s")
    task = measure_accuracy if args.task == "accuracy" else measure_speed
    return (measure_pipeline if args.runner == "pipeline" else task)(args, train, test)


if __name__ == "__main__":
    main()
