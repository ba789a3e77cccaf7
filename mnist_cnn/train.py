"""Training and evaluating the model: small functions, from one compile to a whole run with its files.

`train_and_evaluate` is what the command line and the notebook call; the pieces below it can be used alone. The run
folder's bookkeeping (checkpoints, epoch log, resuming) is in `mnist_cnn.runs`.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import keras
from cloudmesh.common.StopWatch import StopWatch

from mnist_cnn import backend
from mnist_cnn.analysis import EvaluationReport, evaluation_report
from mnist_cnn.calibration import apply_temperature, fit_temperature
from mnist_cnn.config import Config
from mnist_cnn.data import Split, split_validation
from mnist_cnn.devices import chosen_devices, scaled_for
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.model import build_model, predict_probabilities
from mnist_cnn.pipeline import TrainingBatches
from mnist_cnn.precision import precision_policy
from mnist_cnn.runs import RunFiles, read_epoch_log, run_callbacks, run_lock, save_run, start_run


class TensorBoardError(MnistCnnError):
    """TensorBoard logging asked for where it cannot be done."""


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
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=["accuracy"],
        jit_compile=backend.jit_compile(config.jit_compile),
        steps_per_execution=backend.steps_per_execution(config.steps_per_execution),
    )
    return model


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
    if config.feeds_batches:
        inputs = {"x": TrainingBatches((x, y), config), "shuffle": False}  # It shuffles, the same on every backend.
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


class InterruptibleTraining(keras.callbacks.Callback):
    """Makes Ctrl-C stop training on every backend.

    On JAX the KeyboardInterrupt that Python raises on Ctrl-C can land inside NumPy's conversion of a JAX array, which
    swallows it, and training goes on. While training runs, Ctrl-C is also noted here, and the next batch's start
    raises KeyboardInterrupt from our own code (at its start, not its end: a callback at batch ends makes Keras wait
    for every step to finish before sending the next: on an H100 the seed recipe lost 28% of its speed).
    """

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.interrupted = False
        self.previous_handler = None
        if threading.current_thread() is threading.main_thread():
            self.previous_handler = signal.signal(signal.SIGINT, self.note_interrupt)

    def note_interrupt(self, signal_number: int, frame: object) -> None:
        self.interrupted = True
        raise KeyboardInterrupt

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.interrupted:
            raise KeyboardInterrupt

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.previous_handler is not None:
            signal.signal(signal.SIGINT, self.previous_handler)


class StopOnNonFiniteLoss(keras.callbacks.TerminateOnNaN):
    """Keras' TerminateOnNaN, looking at each batch's loss beside the training rather than between its steps (Keras'
    asynchronous dispatch, where the backend allows it): training stops a step or two later, and runs at full speed
    on a GPU."""

    async_safe = True


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
    backend: str
    devices: list[str]  # the names of the devices it trained on
    trained_config: Config  # batch size and learning rate scaled for the devices
    temperature: float | None = None
    files: RunFiles | None = None


class DivergedError(MnistCnnError):
    """Training gave a loss that is not a number: the weights are lost."""


def check_converged(history: keras.callbacks.History, config: Config, files: RunFiles | None) -> None:
    """Raise DivergedError where the training loss became NaN or infinite (Keras' TerminateOnNaN stopped it), after
    discarding the run's backup, so that the next run starts afresh instead of resuming broken weights."""
    losses = history.history.get("loss", [])
    if all(math.isfinite(loss) for loss in losses):
        return
    if files is not None:
        files.discard_unfinished()
    raise DivergedError(
        f"training diverged: the loss became {losses[-1]} in epoch {len(losses)}; nothing was saved. Try a lower "
        f"--learning-rate (this run's: {config.learning_rate:g})"
    )


def tensorboard_callback(folder: str | Path) -> keras.callbacks.TensorBoard:
    """Keras' TensorBoard callback logging to `folder`; TensorBoardError where it cannot log here."""
    reason = backend.tensorboard_error()
    if reason is not None:
        raise TensorBoardError(f"--tensorboard {folder}: {reason}")
    if Path(folder).exists() and not Path(folder).is_dir():
        raise TensorBoardError(f"--tensorboard {folder}: not a folder (a file of that name is there)")
    return keras.callbacks.TensorBoard(str(folder))


def train_and_evaluate(
    config: Config,
    data: tuple[Split, Split],
    output_dir: str | Path | None = None,
    verbose: str | int = "auto",
    callbacks: list[keras.callbacks.Callback] | None = None,
    restart: bool = False,
    tensorboard_dir: str | Path | None = None,
    replace_finished: bool = False,
) -> RunResult:
    """Seed, build, compile, train, calibrate and test; with `output_dir`, also save the model, history and results.

    `config.validation_split` holds out the last part of the training data: the per-epoch curves, the best-epoch
    checkpoint and the temperature are chosen on it. The test set is scored once, at the end.
    With `tensorboard_dir`, Keras' TensorBoard callback logs the losses, accuracies and learning rate of each epoch
    there (`tensorboard --logdir DIR`). A run with an `output_dir` that was interrupted resumes from its last
    finished epoch when called again with the same config and data (RunConflictError otherwise, unless `restart`).
    A finished run in `output_dir` is kept (RunConflictError) unless `restart` (discarded first) or
    `replace_finished`: the new run then trains beside it and takes its place only once saved, so that a replacement
    that fails or is interrupted leaves the finished run whole (the next one resumes it). While the run lasts, no
    other process can train into the same folder.
    Stage timings are taken with cloudmesh-common's StopWatch (`StopWatch.benchmark()` prints them).
    """
    train, test = data
    train, validation = split_validation(train, config.validation_split)
    keras.utils.set_random_seed(config.seed)
    devices = chosen_devices(config.devices)  # before the folder is touched: a count refused leaves it as it was
    folder_files = RunFiles(output_dir) if output_dir is not None else None
    with run_lock(folder_files):  # one folder, one run
        files, earlier_s = None, 0.0
        if folder_files is not None:
            settings = {**dataclasses.asdict(config), "train_images": len(train[0]), "test_images": len(test[0])}
            # With replace_finished, the files of a new run beside the finished one, until it is saved.
            files, earlier_s = start_run(folder_files, settings, restart, replace_finished)
        callbacks = [
            InterruptibleTraining(),
            StopOnNonFiniteLoss(),
            ElapsedTime(earlier_s),
            *([tensorboard_callback(tensorboard_dir)] if tensorboard_dir is not None else []),
            *(run_callbacks(files, validates=validation is not None) if files is not None else []),
            *(callbacks or []),
        ]

        StopWatch.start("build")
        trained_config = scaled_for(config, len(devices))
        with backend.data_parallel(devices):  # on JAX, the model is used where its weights were placed
            with precision_policy(config.precision) as precision:
                model = compile_model(build_model(trained_config), trained_config, len(train[0]))
            StopWatch.stop("build")

            StopWatch.start("train")
            history = fit(model, train, trained_config, validation=validation, callbacks=callbacks, verbose=verbose)
            StopWatch.stop("train")
            check_converged(history, config, files)

            temperature = None
            if config.calibrate:
                StopWatch.start("calibrate")
                temperature = calibrate(model, validation)
                StopWatch.stop("calibrate")

            StopWatch.start("evaluate")
            report = evaluation_report(model, test)  # the test set's one pass through the model
            StopWatch.stop("evaluate")

        timings = stage_timings(calibrated=config.calibrate)
        result = RunResult(
            model=model,
            history=history.history,
            test_loss=report.loss,
            test_accuracy=report.accuracy,
            test_calibration_error=report.calibration_error,
            report=report,
            timings=timings,
            train_size=len(train[0]),
            validation_size=0 if validation is None else len(validation[0]),
            precision=precision,
            backend=backend.name(),
            devices=devices,
            trained_config=trained_config,
            temperature=temperature,
            files=files,
        )
        if files is not None:
            result.history = read_epoch_log(files.epoch_log)
            result.files = save_run(result, config)
        return result


# The end time of the "load" timer already counted in a run: a later run that loads no data of its own has no load.
_counted_load_end: float | None = None


def stage_timings(calibrated: bool) -> dict[str, float]:
    """The seconds each stage of the run took, from StopWatch, which keeps the timers of every run in the process:
    "load" only where data was loaded for this run, "calibrate" only where this run calibrated."""
    global _counted_load_end
    timed = StopWatch.keys()
    stages = [stage for stage in STAGES if stage in timed and (calibrated or stage != "calibrate")]
    load_end = StopWatch.timer_end.get("load")
    if "load" in stages and load_end == _counted_load_end:
        stages.remove("load")
    _counted_load_end = load_end
    return {stage: float(StopWatch.get(stage, digits=4)) for stage in stages}
