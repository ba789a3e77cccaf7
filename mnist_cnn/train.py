"""Training and evaluating the model: small functions, from one compile to a whole run with its files.

`train_and_evaluate` is what the command line and the notebook call; the pieces below it can be used alone.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from cloudmesh.common.StopWatch import StopWatch

from mnist_cnn.analysis import EvaluationReport, evaluation_report
from mnist_cnn.calibration import apply_temperature, fit_temperature
from mnist_cnn.config import Config
from mnist_cnn.data import Split, split_validation
from mnist_cnn.devices import distribution_strategy, scaled_for
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.files import atomic_path, write_json
from mnist_cnn.model import build_model, save_model
from mnist_cnn.precision import set_precision
from mnist_cnn.predict import predict_probabilities

OPTIMIZER_CLASSES = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}
STAGES = ("load", "build", "train", "calibrate", "evaluate")


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
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], jit_compile=config.jit_compile)
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


def calibrate(model: keras.Model, validation: Split) -> float:
    """Fit the temperature of the model's probabilities on `validation` and apply it to the model; return it."""
    images, labels = validation
    temperature = fit_temperature(predict_probabilities(model, images), labels.argmax(axis=1))
    apply_temperature(model, temperature)
    return temperature


class ElapsedTime(keras.callbacks.Callback):
    """Adds `elapsed_s`, the training time so far, to each epoch's logs (for time-to-accuracy).

    A resumed run passes the time its earlier part took, so that the clock goes on instead of starting again.
    """

    def __init__(self, earlier_s: float = 0.0) -> None:
        super().__init__()
        self.earlier_s = earlier_s

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["elapsed_s"] = self.earlier_s + time.perf_counter() - self.start


class EpochLog(keras.callbacks.Callback):
    """Keeps each epoch's logs in a CSV file, rewritten whole through a temporary file at every epoch's end, so that
    a killed run never leaves half a row (Keras' CSVLogger appends in place)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        rows = read_epoch_rows(self.path) if self.path.exists() else {}
        rows[epoch] = {key: float(value) for key, value in (logs or {}).items()}
        keys = sorted({key for row in rows.values() for key in row})
        with atomic_path(self.path) as temporary, open(temporary, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=["epoch", *keys])
            writer.writeheader()
            writer.writerows({"epoch": number, **rows[number]} for number in sorted(rows))


class BestModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras' ModelCheckpoint of the best model so far, written to a temporary file and then renamed."""

    def __init__(self, path: Path, monitor: str = "val_accuracy", best_so_far: float | None = None) -> None:
        self.final_path = Path(path)
        self.temporary_path = self.final_path.with_name(f".{self.final_path.stem}.partial.keras")
        super().__init__(
            str(self.temporary_path),
            monitor=monitor,
            mode="max",
            save_best_only=True,
            initial_value_threshold=best_so_far,
        )

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.temporary_path.unlink(missing_ok=True)  # Half a model from a save that was killed.
        super().on_train_begin(logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self.temporary_path.exists():  # Saved in this epoch: a new best.
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
    run_config: Path = field(init=False)

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        self.model = self.folder / "model.keras"
        self.best_model = self.folder / "best.keras"
        self.history = self.folder / "history.json"
        self.results = self.folder / "results.json"
        self.epoch_log = self.folder / "epochs.csv"
        self.backup = self.folder / "backup"
        self.run_config = self.folder / "run.json"

    @property
    def unfinished(self) -> bool:
        """Whether the folder holds a run that was interrupted: its backup is there until the run is saved."""
        return self.backup.exists()

    def discard_unfinished(self) -> None:
        """Forget an interrupted run, so that the next one starts afresh."""
        shutil.rmtree(self.backup, ignore_errors=True)
        for path in (self.epoch_log, self.run_config, self.best_model):
            path.unlink(missing_ok=True)


class RunConflictError(MnistCnnError):
    """An output folder holds an unfinished run with other settings than the run asked for."""


@dataclass
class RunResult:
    """What a training run gives back: the model, per-epoch history, test scores and stage timings.

    `history` holds the training and (as `val_*`) validation loss and accuracy of each epoch; the test set is scored
    once, at the end: `test_loss`, `test_accuracy` and `test_calibration_error`.
    """

    model: keras.Model
    history: dict[str, list[float]]
    test_loss: float
    test_accuracy: float
    test_calibration_error: float
    report: EvaluationReport  # the test set's predictions: confusion matrix, per-digit scores, mistakes
    timings: dict[str, float]
    train_size: int
    validation_size: int
    precision: str
    devices: int
    trained_config: Config  # batch size and learning rate scaled for the devices
    temperature: float | None = None
    files: RunFiles | None = None


def run_callbacks(files: RunFiles, validates: bool) -> list[keras.callbacks.Callback]:
    """Callbacks that keep a run safe on disk: the per-epoch log, the resumable backup and, where the run
    `validates`, the model of the epoch with the best validation accuracy.

    The log comes before the backup so that a run killed between the two redoes the epoch (its row is then
    written again and `read_epoch_log` keeps the last) rather than skipping its row.
    """
    callbacks = [
        EpochLog(files.epoch_log),
        # Deleted by save_run once the model is saved, not by Keras when training ends.
        keras.callbacks.BackupAndRestore(str(files.backup), double_checkpoint=True, delete_checkpoint=False),
    ]
    if validates:
        monitor = "val_accuracy"
        earlier_epochs = read_epoch_log(files.epoch_log) if files.epoch_log.exists() else {}
        best_so_far = max(earlier_epochs.get(monitor, []), default=None)  # A resumed run keeps its best model.
        callbacks.append(BestModelCheckpoint(files.best_model, monitor=monitor, best_so_far=best_so_far))
    return callbacks


def read_epoch_rows(path: Path) -> dict[int, dict[str, float]]:
    """Each epoch's logged values from a CSV epoch log; the last row of an epoch wins, and a row that is not whole
    (a run killed while an older version appended it) is skipped."""
    rows: dict[int, dict[str, float]] = {}
    with open(path, newline="") as file:
        for row in csv.DictReader(file):
            try:
                epoch = int(row.pop("epoch"))
                rows[epoch] = {key: float(value) for key, value in row.items()}
            except (TypeError, ValueError):
                continue
    return rows


def read_epoch_log(path: Path) -> dict[str, list[float]]:
    """The history of a run from its CSV epoch log, across resumptions: a list of values per logged quantity."""
    rows = read_epoch_rows(path)
    epochs = [rows[epoch] for epoch in sorted(rows)]
    return {key: [row[key] for row in epochs] for key in epochs[0]} if epochs else {}


def start_run(files: RunFiles, settings: dict, restart: bool = False) -> float:
    """Get an output folder ready for a run with these settings; return the training time of its part done already.

    An unfinished run there with the same settings is resumed; with other settings, RunConflictError names what
    differs and leaves it untouched, unless `restart` discards it.
    """
    files.folder.mkdir(parents=True, exist_ok=True)
    if files.unfinished and restart:
        files.discard_unfinished()
    if files.unfinished and files.run_config.exists():
        earlier = json.loads(files.run_config.read_text())
        differences = [
            f"{name} {earlier.get(name)!r} -> {value!r}"
            for name, value in settings.items()
            if earlier.get(name) != value
        ]
        if differences:
            raise RunConflictError(
                f"{files.folder} holds an unfinished run with other settings ({'; '.join(differences)}). Resume it "
                "with the same settings as before, or start afresh: --restart discards it, or choose another --output."
            )
    if not files.unfinished:  # A fresh start: forget the log of an earlier, finished run.
        files.epoch_log.unlink(missing_ok=True)
        write_json(files.run_config, settings)
        return 0.0
    history = read_epoch_log(files.epoch_log) if files.epoch_log.exists() else {}
    return history.get("elapsed_s", [0.0])[-1]


def train_and_evaluate(
    config: Config,
    data: tuple[Split, Split],
    output_dir: str | Path | None = None,
    verbose: str | int = "auto",
    callbacks: list[keras.callbacks.Callback] | None = None,
    restart: bool = False,
    tensorboard_dir: str | Path | None = None,
) -> RunResult:
    """Seed, build, compile, train, calibrate and test; with `output_dir`, also save the model, history and results.

    `config.validation_split` holds out the last part of the training data: the per-epoch curves, the best-epoch
    checkpoint and the temperature are chosen on it. The test set is scored once, at the end.
    With `tensorboard_dir`, Keras' TensorBoard callback logs the losses, accuracies and learning rate of each epoch
    there (`tensorboard --logdir DIR`). A run with an `output_dir` that was interrupted resumes from its last
    finished epoch when called again with the same config and data (RunConflictError otherwise, unless `restart`).
    Stage timings are taken with cloudmesh-common's StopWatch (`StopWatch.benchmark()` prints them).
    """
    train, test = data
    train, validation = split_validation(train, config.validation_split)
    keras.utils.set_random_seed(config.seed)
    files = RunFiles(output_dir) if output_dir is not None else None
    earlier_s = 0.0
    if files is not None:
        settings = {**dataclasses.asdict(config), "train_images": len(train[0]), "test_images": len(test[0])}
        earlier_s = start_run(files, settings, restart)
    callbacks = [
        ElapsedTime(earlier_s),
        *([keras.callbacks.TensorBoard(str(tensorboard_dir))] if tensorboard_dir is not None else []),
        *(run_callbacks(files, validates=validation is not None) if files is not None else []),
        *(callbacks or []),
    ]

    StopWatch.start("build")
    precision = set_precision(config.precision)
    strategy = distribution_strategy(config.devices)
    trained_config = scaled_for(config, strategy.num_replicas_in_sync)
    with strategy.scope():
        model = compile_model(build_model(trained_config), trained_config, len(train[0]))
    StopWatch.stop("build")

    StopWatch.start("train")
    history = fit(model, train, trained_config, validation=validation, callbacks=callbacks, verbose=verbose)
    StopWatch.stop("train")

    temperature = None
    if config.calibrate:
        StopWatch.start("calibrate")
        temperature = calibrate(model, validation)
        StopWatch.stop("calibrate")

    StopWatch.start("evaluate")
    test_loss, test_accuracy = evaluate(model, test, config.batch_size, verbose=verbose)
    report = evaluation_report(model, test)
    StopWatch.stop("evaluate")

    timings = stage_timings()
    result = RunResult(
        model=model,
        history=history.history,
        test_loss=test_loss,
        test_accuracy=test_accuracy,
        test_calibration_error=report.calibration_error,
        report=report,
        timings=timings,
        train_size=len(train[0]),
        validation_size=0 if validation is None else len(validation[0]),
        precision=precision,
        devices=strategy.num_replicas_in_sync,
        trained_config=trained_config,
        temperature=temperature,
        files=files,
    )
    if files is not None:
        result.history = read_epoch_log(files.epoch_log)
        save_run(result, config)
    return result


# The end time of the "load" timer already counted in a run: a later run that loads no data of its own has no load.
_counted_load_end: float | None = None


def stage_timings() -> dict[str, float]:
    """The seconds each stage of the run took, from StopWatch; "load" only where data was loaded for this run."""
    global _counted_load_end
    timed = StopWatch.keys()
    stages = [stage for stage in STAGES if stage in timed]
    load_end = StopWatch.timer_end.get("load")
    if "load" in stages and load_end == _counted_load_end:
        stages.remove("load")
    _counted_load_end = load_end
    return {stage: float(StopWatch.get(stage, digits=4)) for stage in stages}


def save_run(result: RunResult, config: Config) -> None:
    """Write the model, history and results of a finished run, each atomically, and drop the backup."""
    files = result.files
    save_model(result.model, files.model)
    write_json(files.history, result.history)
    write_json(
        files.results,
        {
            "config": dataclasses.asdict(config),
            "train_images": result.train_size,
            "validation_images": result.validation_size,
            "precision": result.precision,
            "devices": result.devices,
            "trained_config": dataclasses.asdict(result.trained_config),
            "temperature": result.temperature,
            "test_loss": result.test_loss,
            "test_accuracy": result.test_accuracy,
            "test_calibration_error": result.test_calibration_error,
            "timings_s": result.timings,
        },
    )
    shutil.rmtree(files.backup, ignore_errors=True)
    files.run_config.unlink(missing_ok=True)
