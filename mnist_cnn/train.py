"""Training and evaluating the model: small functions, from one compile to a whole run with its files.

`train_and_evaluate` is what the command line and the notebook call: build, compile, fit, calibrate, evaluate, each a
function that can be used alone. The run folder (checkpoints, epoch log, resuming, replacing) is `mnist_cnn.runs`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Iterator
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
from mnist_cnn.interrupts import handle_signals, interruption, restore_signals, terminate_as_interrupt
from mnist_cnn.model import build_model, predict_probabilities
from mnist_cnn.novelty import NoveltyCheck, fit_on_run
from mnist_cnn.pipeline import TrainingBatches
from mnist_cnn.precision import precision_policy
from mnist_cnn.runs import RunFiles, RunFolder, read_epoch_log, run_callbacks


class TensorBoardError(MnistCnnError):
    """TensorBoard logging asked for where it cannot be done."""


OPTIMIZER_CLASSES = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}


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


def fit_arguments(config: Config, train: Split, validation: Split | None = None) -> dict:
    """The keyword arguments `fit` gives Keras' `model.fit`: the images and labels with the batch size (or the
    package's batches), the epochs and the validation data."""
    x, y = train
    if config.steps_per_epoch is not None:
        x, y = x[: config.steps_per_epoch * config.batch_size], y[: config.steps_per_epoch * config.batch_size]
    if config.feeds_batches:
        inputs = {"x": TrainingBatches((x, y), config), "shuffle": False}  # It shuffles, the same on every backend.
    else:
        inputs = {"x": x, "y": y, "batch_size": config.batch_size}
    return {
        **inputs,
        "epochs": config.epochs,
        "validation_data": validation,
        "validation_batch_size": config.batch_size,
    }


def fit(
    model: keras.Model,
    train: Split,
    config: Config,
    validation: Split | None = None,
    callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: str | int = "auto",
) -> keras.callbacks.History:
    """Train a compiled model on `train`; report loss and accuracy on `validation` after each epoch if given."""
    try:
        return model.fit(**fit_arguments(config, train, validation), callbacks=callbacks, verbose=verbose)
    finally:
        for callback in callbacks or []:
            if isinstance(callback, InterruptibleTraining):
                callback.release()  # an error out of fit skips on_train_end: the signals get their handlers back


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
    """Makes Ctrl-C and SIGTERM stop training on every backend, never between an epoch's log row and its backup.

    While training runs, each of the two signals raises its KeyboardInterrupt (`Terminated` for SIGTERM) at once,
    except while the epoch's end is being written (this callback comes first: the run folder's callbacks after it
    write the log row, then the backup): then it waits for the next epoch's start, or the end of training. On JAX the
    KeyboardInterrupt raised at once can land inside NumPy's conversion of a JAX array, which swallows it, and
    training goes on: the signal is also noted here, and the next batch's start raises it from our own code (at its
    start: a callback at batch ends makes every step wait for the last, docs/run-folder.md "Callbacks").
    """

    def __init__(self) -> None:
        super().__init__()
        self.signal_number: int | None = None
        self.ending_epoch = False
        self.previous_handlers: dict[int, object] = {}

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.signal_number = None
        self.ending_epoch = False
        self.previous_handlers = handle_signals(self.note_signal)

    def note_signal(self, signal_number: int, frame: object) -> None:
        """The signal handler: note the signal, and stop at once unless the epoch's end is being written (a second
        signal stops it at once all the same: the user insists)."""
        insisted = self.signal_number is not None
        self.signal_number = signal_number
        if insisted or not self.ending_epoch:
            self.stop()

    def stop(self) -> None:
        """Give the signals back their handlers and raise the noted signal's KeyboardInterrupt."""
        self.release()
        raise interruption(self.signal_number)

    def release(self) -> None:
        """Give the signals back the handlers they had before training (again: nothing)."""
        restore_signals(self.previous_handlers)
        self.previous_handlers = {}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.ending_epoch = True  # the callbacks after this one write the epoch's log row and backup: none is cut off

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.ending_epoch = False
        if self.signal_number is not None:
            self.stop()

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.signal_number is not None:
            self.stop()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.ending_epoch = False
        if self.signal_number is not None:
            self.stop()  # after the last epoch's backup: the run resumes to calibrate and save
        self.release()


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
    novelty: NoveltyCheck | None = None  # what says "not a digit" (mnist_cnn.novelty), kept beside the model
    files: RunFiles | None = None


class DivergedError(MnistCnnError):
    """Training gave a loss that is not a number: the weights are lost."""


def check_converged(history: keras.callbacks.History, config: Config) -> None:
    """Raise DivergedError where the training loss became NaN or infinite (StopOnNonFiniteLoss stopped it)."""
    losses = history.history.get("loss", [])
    if all(math.isfinite(loss) for loss in losses):
        return
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


@contextlib.contextmanager
def timed(stage: str, timings: dict[str, float]) -> Iterator[None]:
    """Time the block as StopWatch's `stage` timer (`StopWatch.benchmark()` lists it) and put its seconds in
    `timings`."""
    StopWatch.start(stage)
    try:
        yield
    finally:
        StopWatch.stop(stage)
    timings[stage] = float(StopWatch.get(stage, digits=4))


def build(config: Config, train_size: int, start_from: keras.Model | None = None) -> tuple[keras.Model, str]:
    """The compiled model, built in the config's precision (or a copy of `start_from`, see `copied`); and that
    precision's name."""
    with precision_policy(config.precision) as precision:
        model = build_model(config) if start_from is None else copied(start_from)
        return compile_model(model, config, train_size), precision


def copied(model: keras.Model) -> keras.Model:
    """A new model with `model`'s layers (each trainable or frozen as there, its dtype kept) and its weights: training
    the copy leaves `model` as it was."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def training_callbacks(
    files: RunFiles | None,
    validates: bool,
    tensorboard_dir: str | Path | None,
    callbacks: list[keras.callbacks.Callback] | None,
) -> list[keras.callbacks.Callback]:
    """Ctrl-C, NaN and clock callbacks, TensorBoard's, the run folder's, then the caller's (which see their logs)."""
    return [
        InterruptibleTraining(),
        StopOnNonFiniteLoss(),
        ElapsedTime(files.elapsed_s if files is not None else 0.0),
        *([tensorboard_callback(tensorboard_dir)] if tensorboard_dir is not None else []),
        *(run_callbacks(files, validates) if files is not None else []),
        *(callbacks or []),
    ]


def train_and_evaluate(
    config: Config,
    data: tuple[Split, Split],
    workdir: str | Path | RunFolder | None = None,
    *,
    verbose: str | int = "auto",
    callbacks: list[keras.callbacks.Callback] | None = None,
    tensorboard_dir: str | Path | None = None,
    load_s: float | None = None,
    start_from: keras.Model | None = None,
    run_identity: dict | None = None,
) -> RunResult:
    """Seed, build, compile, train, calibrate and test; with a `workdir`, also save the model, history and results.

    `config.validation_split` holds out the last part of the training data: the per-epoch curves, the best-epoch
    checkpoint and the temperature are chosen on it. The test set is scored once, at the end.
    `workdir` is a run folder (a path, or a `RunFolder` saying whether to `restart` or `replace` a run there): an
    interrupted run resumes from its last finished epoch when called again with the same config and data, and no
    other process trains into it meanwhile. With `tensorboard_dir`, Keras' TensorBoard callback logs each epoch
    there. `timings` holds the seconds of each stage this call took, and `load_s` (the data's loading) as "load".
    Ctrl-C and SIGTERM stop it with a KeyboardInterrupt (`mnist_cnn.interrupts.Terminated` for SIGTERM), never between
    an epoch's log row and its backup.
    With `start_from`, training starts from a copy of that model (its layers and weights; it is left as it was)
    instead of a new network: fine-tuning (mnist_cnn.tune). `run_identity` adds to what a run must have the same of
    to be resumed (run.json), e.g. the model it started from and the data it was given, and is kept in results.json.
    """
    with terminate_as_interrupt():  # SIGTERM stops the run as Ctrl-C does, wherever it lands
        backend.keep_compilations()  # before anything compiles: JAX reads where to keep programs once
        train, test = data
        train, validation = split_validation(train, config.validation_split)
        keras.utils.set_random_seed(config.seed)
        devices = chosen_devices(config.devices)  # before the folder is touched: a count refused leaves it as it was
        timings = {"load": load_s} if load_s is not None else {}
        if workdir is None:
            fit_callbacks = training_callbacks(None, validation is not None, tensorboard_dir, callbacks)
            return run_stages(config, (train, validation, test), devices, fit_callbacks, verbose, timings, start_from)
        folder = workdir if isinstance(workdir, RunFolder) else RunFolder(workdir)
        with folder.locked():  # one folder, one run
            files = folder.start_run({**run_settings(config, train, test), **(run_identity or {})})
            fit_callbacks = training_callbacks(files, validation is not None, tensorboard_dir, callbacks)
            try:
                result = run_stages(
                    config, (train, validation, test), devices, fit_callbacks, verbose, timings, start_from
                )
            except DivergedError:
                files.discard_unfinished()  # the next run starts afresh instead of resuming broken weights
                raise
            result.history = read_epoch_log(files.epoch_log)  # all its epochs, across resumptions
            results = {**saved_results(result, config), **(run_identity or {})}
            result.files = folder.save_run(files, result.model, result.history, results, result.novelty)
            return result


def run_settings(config: Config, train: Split, test: Split) -> dict:
    """What a run must have the same of to be resumed: its config and the sizes of its data (run.json)."""
    return {**dataclasses.asdict(config), "train_images": len(train[0]), "test_images": len(test[0])}


def run_stages(
    config: Config,
    splits: tuple[Split, Split | None, Split],
    devices: list[str],
    callbacks: list[keras.callbacks.Callback],
    verbose: str | int,
    timings: dict[str, float],
    start_from: keras.Model | None = None,
) -> RunResult:
    """Build (or copy `start_from`), compile, fit, calibrate and evaluate on the (train, validation, test) `splits`,
    timing each stage."""
    train, validation, test = splits
    trained_config = scaled_for(config, len(devices))
    with backend.data_parallel(devices):  # on JAX, the model is used where its weights were placed
        with timed("build", timings):
            model, precision = build(trained_config, len(train[0]), start_from)
        with timed("train", timings):
            history = fit(model, train, trained_config, validation, callbacks, verbose)
        check_converged(history, config)
        temperature = None
        if config.calibrate:
            with timed("calibrate", timings):
                temperature = calibrate(model, validation)
        with timed("novelty", timings):
            novelty = fit_on_run(model, train, validation, config.seed)
        with timed("evaluate", timings):
            report = evaluation_report(model, test)  # the test set's one pass through the model
    return RunResult(
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
        novelty=novelty,
    )


def saved_results(result: RunResult, config: Config) -> dict:
    """What results.json holds: the settings asked for and trained with, the data's sizes, test scores, timings."""
    return {
        "config": dataclasses.asdict(config),
        "train_images": result.train_size,
        "validation_images": result.validation_size,
        "precision": result.precision,
        "backend": result.backend,
        "devices": result.devices,
        "trained_config": dataclasses.asdict(result.trained_config),
        "temperature": result.temperature,
        "test_loss": result.test_loss,
        "test_accuracy": result.test_accuracy,
        "test_calibration_error": result.test_calibration_error,
        "timings_s": result.timings,
    }
