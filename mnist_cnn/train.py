"""Training and evaluating the model: small functions, from one compile to a whole run with its files.

`train_and_evaluate` is what the command line and the notebook call; the pieces below it can be used alone.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from cloudmesh.common.StopWatch import StopWatch

from mnist_cnn.config import Config
from mnist_cnn.data import Split
from mnist_cnn.files import write_json
from mnist_cnn.model import build_model, save_model

OPTIMIZER_CLASSES = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}
STAGES = ("load", "build", "train", "evaluate")


def steps_per_epoch(config: Config, train_size: int) -> int:
    """Batches in one epoch of `train_size` images (the last batch may be smaller), or config.steps_per_epoch."""
    return min(math.ceil(train_size / config.batch_size), config.steps_per_epoch or math.inf)


def learning_rate(config: Config, steps: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The constant rate, or a linear warm-up to it followed by cosine decay to zero over `steps` steps."""
    if config.lr_schedule == "constant":
        return config.learning_rate
    warmup_steps = round(config.warmup_epochs * steps / config.epochs)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=max(steps - warmup_steps, 1),
        warmup_target=config.learning_rate,
        warmup_steps=warmup_steps,
    )


def compile_model(model: keras.Model, config: Config, train_size: int) -> keras.Model:
    """Compile with the config's optimizer and categorical cross-entropy, reporting accuracy, as the seed does."""
    total_steps = steps_per_epoch(config, train_size) * config.epochs
    optimizer = OPTIMIZER_CLASSES[config.optimizer](learning_rate=learning_rate(config, total_steps))
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def augmenter(config: Config) -> keras.Sequential:
    """Random small shifts and rotations of a batch of training images, filled with black."""
    layers = []
    if config.max_shift > 0:
        layers.append(
            keras.layers.RandomTranslation(config.max_shift, config.max_shift, fill_mode="constant", seed=config.seed)
        )
    if config.max_rotation > 0:
        layers.append(keras.layers.RandomRotation(config.max_rotation, fill_mode="constant", seed=config.seed))
    return keras.Sequential(layers, name="augmentation")


def training_dataset(x: np.ndarray, y: np.ndarray, config: Config) -> tf.data.Dataset:
    """A tf.data pipeline over in-memory arrays: shuffled each epoch, batched, augmented, prefetched."""
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    dataset = dataset.shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True).batch(config.batch_size)
    if config.augments:
        augment = augmenter(config)
        dataset = dataset.map(
            lambda images, labels: (augment(images, training=True), labels), num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def fit(
    model: keras.Model,
    train: Split,
    config: Config,
    validation: Split | None = None,
    callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: str | int = "auto",
) -> keras.callbacks.History:
    """Train a compiled model on `train`; report loss and accuracy on `validation` after each epoch if given."""
    x, y = train
    if config.steps_per_epoch is not None:
        x, y = x[: config.steps_per_epoch * config.batch_size], y[: config.steps_per_epoch * config.batch_size]
    if config.input_pipeline == "tf.data":
        inputs = {"x": training_dataset(x, y, config), "shuffle": False}  # The pipeline shuffles.
    else:
        inputs = {"x": x, "y": y, "batch_size": config.batch_size}
    return model.fit(
        **inputs,
        epochs=config.epochs,
        validation_data=validation,
        validation_batch_size=config.batch_size,
        callbacks=callbacks,
        verbose=verbose,
    )


def evaluate(
    model: keras.Model, test: Split, batch_size: int = 128, verbose: str | int = "auto"
) -> tuple[float, float]:
    """`(loss, accuracy)` of the model on `test`."""
    loss, accuracy = model.evaluate(*test, batch_size=batch_size, verbose=verbose)
    return float(loss), float(accuracy)


class ElapsedTime(keras.callbacks.Callback):
    """Adds `elapsed_s`, the wall time since training began, to each epoch's logs (for time-to-accuracy)."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["elapsed_s"] = time.perf_counter() - self.start


class BestModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras' ModelCheckpoint of the best model so far, written to a temporary file and then renamed."""

    def __init__(self, path: Path, monitor: str = "val_accuracy", best_so_far: float | None = None) -> None:
        self.final_path = Path(path)
        self.temporary_path = self.final_path.with_name(f".{self.final_path.stem}.partial.keras")
        super().__init__(
            str(self.temporary_path), monitor=monitor, save_best_only=True, initial_value_threshold=best_so_far
        )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self.temporary_path.exists():
            self.temporary_path.replace(self.final_path)


@dataclass
class RunFiles:
    """Where a run with an output folder keeps its files."""

    folder: Path

    model: Path = field(init=False)
    best_model: Path = field(init=False)
    history: Path = field(init=False)
    results: Path = field(init=False)
    epoch_log: Path = field(init=False)
    backup: Path = field(init=False)

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        self.model = self.folder / "model.keras"
        self.best_model = self.folder / "best.keras"
        self.history = self.folder / "history.json"
        self.results = self.folder / "results.json"
        self.epoch_log = self.folder / "epochs.csv"
        self.backup = self.folder / "backup"


@dataclass
class RunResult:
    """What a training run gives back: the model, per-epoch history, test scores and stage timings."""

    model: keras.Model
    history: dict[str, list[float]]
    test_loss: float
    test_accuracy: float
    timings: dict[str, float]
    files: RunFiles | None = None


def run_callbacks(files: RunFiles) -> list[keras.callbacks.Callback]:
    """Callbacks that keep a run safe on disk: the per-epoch log, the resumable backup and the best model.

    The log comes before the backup so that a run killed between the two redoes the epoch (its row is then
    written again and `read_epoch_log` keeps the last) rather than skipping its row.
    """
    monitor = "val_accuracy"
    earlier_epochs = read_epoch_log(files.epoch_log) if files.epoch_log.exists() else {}
    best_so_far = max(earlier_epochs.get(monitor, []), default=None)  # A resumed run keeps its best model.
    return [
        keras.callbacks.CSVLogger(str(files.epoch_log), append=True),
        # Deleted by save_run once the model is saved, not by Keras when training ends.
        keras.callbacks.BackupAndRestore(str(files.backup), double_checkpoint=True, delete_checkpoint=False),
        BestModelCheckpoint(files.best_model, monitor=monitor, best_so_far=best_so_far),
    ]


def read_epoch_log(path: Path) -> dict[str, list[float]]:
    """The history of a run from its CSV epoch log, across resumptions: the last row of each epoch wins."""
    rows: dict[int, dict[str, str]] = {}
    with open(path, newline="") as file:
        for row in csv.DictReader(file):
            rows[int(row.pop("epoch"))] = row
    epochs = [rows[epoch] for epoch in sorted(rows)]
    return {key: [float(row[key]) for row in epochs] for key in epochs[0]} if epochs else {}


def train_and_evaluate(
    config: Config,
    data: tuple[Split, Split],
    output_dir: str | Path | None = None,
    verbose: str | int = "auto",
) -> RunResult:
    """Seed, build, compile, train and evaluate; with `output_dir`, also save the model, history and results.

    A run with an `output_dir` that was interrupted resumes from its last finished epoch when called again.
    Stage timings are taken with cloudmesh-common's StopWatch (`StopWatch.benchmark()` prints them).
    """
    train, test = data
    keras.utils.set_random_seed(config.seed)
    files = RunFiles(output_dir) if output_dir is not None else None
    callbacks: list[keras.callbacks.Callback] = [ElapsedTime()]
    if files is not None:
        files.folder.mkdir(parents=True, exist_ok=True)
        if not files.backup.exists():  # A fresh start: forget the log of an earlier, finished run.
            files.epoch_log.unlink(missing_ok=True)
        callbacks += run_callbacks(files)

    StopWatch.start("build")
    model = compile_model(build_model(config), config, len(train[0]))
    StopWatch.stop("build")

    StopWatch.start("train")
    history = fit(model, train, config, validation=test, callbacks=callbacks, verbose=verbose)
    StopWatch.stop("train")

    StopWatch.start("evaluate")
    test_loss, test_accuracy = evaluate(model, test, config.batch_size, verbose=verbose)
    StopWatch.stop("evaluate")

    timed = StopWatch.keys()
    timings = {stage: float(StopWatch.get(stage, digits=4)) for stage in STAGES if stage in timed}
    result = RunResult(model, history.history, test_loss, test_accuracy, timings, files)
    if files is not None:
        result.history = read_epoch_log(files.epoch_log)
        save_run(result, config)
    return result


def save_run(result: RunResult, config: Config) -> None:
    """Write the model, history and results of a finished run, each atomically, and drop the backup."""
    files = result.files
    save_model(result.model, files.model)
    write_json(files.history, result.history)
    write_json(
        files.results,
        {
            "config": dataclasses.asdict(config),
            "test_loss": result.test_loss,
            "test_accuracy": result.test_accuracy,
            "timings_s": result.timings,
        },
    )
    shutil.rmtree(files.backup, ignore_errors=True)
