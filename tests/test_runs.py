"""A run folder keeps a whole run on disk: an interrupted run resumes only as the same run, with its epochs, clock and
best model; --restart starts afresh; --replace loses nothing until the new run is saved (docs/run-folder.md)."""

import csv
import json
import os
import shutil
import signal
from pathlib import Path

import keras
import numpy as np
import pytest

from mnist_cnn.interrupts import Terminated
from mnist_cnn.model import build_model, load_model
from mnist_cnn.runs import BestModelCheckpoint, RunConflictError, RunFolder, read_epoch_log, run_callbacks
from mnist_cnn.train import (
    DivergedError,
    InterruptibleTraining,
    TensorBoardError,
    compile_model,
    run_settings,
    train_and_evaluate,
)

from callbacks import Epochs, StopAfterFirstEpoch
from conftest import QUICK_CONFIG, QUICK_VALIDATED


class LossBecomesNaN(keras.callbacks.Callback):
    """The loss of every epoch becomes NaN in the run's history, as where training diverges."""

    def on_epoch_end(self, epoch, logs=None):
        logs["loss"] = float("nan")


class SendSignal(keras.callbacks.Callback):
    """Sends this process `signal_number` at the end of epoch `epoch` (where it stands among the callbacks says
    when: after the run folder's, or between two of them), as `kill` or a scheduler would."""

    def __init__(self, signal_number, epoch):
        super().__init__()
        self.signal_number, self.epoch = signal_number, epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            os.kill(os.getpid(), self.signal_number)


def backed_up_epoch(folder):
    """The last epoch the run's backup holds."""
    return json.loads((folder / "backup" / "training_metadata.json").read_text())["epoch"]


def interrupted_run(config, data, workdir):
    """Train into `workdir` until Ctrl-C ends the first epoch; return the epoch log's bytes."""
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(config, data, workdir, verbose=0, callbacks=[StopAfterFirstEpoch()])
    return (Path(getattr(workdir, "path", workdir)) / "epochs.csv").read_bytes()


@pytest.mark.backend
def test_resume_keeps_the_finished_epochs_and_the_clock(sample_data, tmp_path):
    config = QUICK_VALIDATED.replace(epochs=3)
    folder = tmp_path / "run"
    first_epoch_log = interrupted_run(config, sample_data, folder)
    first = read_epoch_log(folder / "epochs.csv")
    epochs = Epochs()
    result = train_and_evaluate(config, sample_data, folder, verbose=0, callbacks=[epochs])
    history = result.history
    assert len(history["loss"]) == 3 and epochs.trained == [1, 2]
    for key, values in first.items():  # epoch 1 was not trained again: its row is the one logged before
        assert history[key][0] == values[0], key
    assert (folder / "epochs.csv").read_bytes().startswith(first_epoch_log.split(b"\n")[0])
    elapsed = history["elapsed_s"]
    assert elapsed[0] == first["elapsed_s"][0] and elapsed[0] < elapsed[1] < elapsed[2]


def test_resuming_with_other_settings_is_refused_and_leaves_the_run(sample_data, tmp_path):
    folder = tmp_path / "run"
    config = QUICK_VALIDATED.replace(epochs=3)
    log = interrupted_run(config, sample_data, folder)
    with pytest.raises(RunConflictError) as error:
        train_and_evaluate(config.replace(batch_size=32, learning_rate=0.01), sample_data, folder, verbose=0)
    message = str(error.value)
    assert "batch_size 128 -> 32" in message and "learning_rate 0.005 -> 0.01" in message
    assert "--restart" in message and "--output" in message and "\n" not in message
    assert (folder / "epochs.csv").read_bytes() == log and (folder / "backup").exists()

    restarted = train_and_evaluate(config.replace(epochs=2), sample_data, RunFolder(folder, restart=True), verbose=0)
    assert len(restarted.history["loss"]) == 2 and not (folder / "backup").exists()


@pytest.mark.backend
def test_a_diverged_run_saves_nothing_and_the_next_starts_afresh(sample_data, tmp_path):
    folder = tmp_path / "run"
    config = QUICK_CONFIG.replace(epochs=1, steps_per_epoch=1)
    with pytest.raises(DivergedError, match="training diverged"):
        train_and_evaluate(config, sample_data, folder, verbose=0, callbacks=[LossBecomesNaN()])
    assert list(folder.iterdir()) == []  # no backup to resume broken weights from, no log, no run.json
    epochs = Epochs()
    result = train_and_evaluate(config, sample_data, folder, verbose=0, callbacks=[epochs])
    assert epochs.trained == [0] and np.isfinite(result.history["loss"]).all()  # a resumed run would train none


def test_a_stale_partial_best_model_is_dropped_even_when_no_epoch_beats_the_best(tmp_path):
    checkpoint = BestModelCheckpoint(tmp_path / "best.keras", best_so_far=0.99)  # a resumed run's best so far
    checkpoint.set_model(build_model())
    (tmp_path / ".best.partial.keras").write_bytes(b"half a model from a killed save")
    checkpoint.on_train_begin()
    checkpoint.on_epoch_end(0, {"val_accuracy": 0.5})
    assert not (tmp_path / "best.keras").exists() and not (tmp_path / ".best.partial.keras").exists()


@pytest.mark.backend
def test_best_model_is_the_epoch_with_the_best_validation_accuracy(sample_data, tmp_path):
    config = QUICK_VALIDATED.replace(epochs=4, learning_rate=0.05)  # so high that epochs go up and down
    result = train_and_evaluate(config, sample_data, tmp_path / "run", verbose=0)
    validation = sample_data[0][0][1800:], sample_data[0][1][1800:]
    _, best_accuracy = load_model(tmp_path / "run" / "best.keras").evaluate(*validation, verbose=0)
    assert best_accuracy == pytest.approx(max(result.history["val_accuracy"]), abs=1e-6)


def rewrite_epoch_log(path, **values):
    """Set these columns of every row of the epoch log at `path` to these values."""
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, **values} for row in rows)


@pytest.mark.backend
def test_a_resumed_run_keeps_the_best_model_of_its_earlier_epochs(sample_data, tmp_path):
    folder = tmp_path / "run"
    config = QUICK_VALIDATED.replace(epochs=3)
    interrupted_run(config, sample_data, folder)
    best_before = (folder / "best.keras").read_bytes()
    assert read_epoch_log(folder / "epochs.csv")["val_accuracy"][0] > 0
    rewrite_epoch_log(folder / "epochs.csv", val_accuracy="1.0")  # an earlier epoch no later one can beat
    result = train_and_evaluate(config, sample_data, folder, verbose=0)
    assert result.history["val_accuracy"][0] == 1.0 and all(
        0 < score < 1 for score in result.history["val_accuracy"][1:]
    )
    assert (folder / "best.keras").read_bytes() == best_before  # a checkpoint that forgot it would save epoch 2's


def test_epoch_log_keeps_the_last_row_of_a_redone_epoch_and_skips_a_cut_row(tmp_path):
    log = tmp_path / "epochs.csv"
    log.write_text("epoch,accuracy,loss\n0,0.5,2.0\n1,0.6,1.5\n1,0.7,1.4\n2,0.8,1.0\n3,0.9")
    assert read_epoch_log(log) == {"accuracy": [0.5, 0.7, 0.8], "loss": [2.0, 1.4, 1.0]}


def test_a_file_is_no_run_folder(tmp_path):
    (tmp_path / "file").write_text("")
    with (
        pytest.raises(RunConflictError, match="exists and is not a folder: choose another --output"),
        RunFolder(tmp_path / "file").locked(),
    ):
        pass


# --replace: the finished run stays whole until the new one is saved.

REPLACED = QUICK_CONFIG.replace(epochs=2, steps_per_epoch=2)  # no validation: it has no best.keras
FINISHED = QUICK_VALIDATED.replace(epochs=1)  # validated: it has a best.keras


@pytest.fixture(scope="module")
def finished_run_files(sample_data, tmp_path_factory):
    """A finished run, trained once for the tests that replace one."""
    folder = tmp_path_factory.mktemp("finished") / "run"
    train_and_evaluate(FINISHED, sample_data, folder, verbose=0)
    return folder


@pytest.fixture
def finished_run(finished_run_files):
    """A copy of the finished run (to replace) and the bytes of each of its files."""

    def copy_to(folder):
        shutil.copytree(finished_run_files, folder)
        return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}

    return copy_to


def assert_whole(folder, files, data):
    """The folder holds exactly the finished run's `files`, and its models load and predict."""
    assert {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()} == files
    for name in ("model.keras", "best.keras"):
        assert load_model(folder / name).predict_on_batch(data[1][0][:2]).shape == (2, 10)
    assert json.loads((folder / "results.json").read_text())["config"]["validation_split"] == 0.1


def assert_replaced(folder):
    """The folder holds the replacing run's files only (REPLACED: no validation, no best.keras), nothing else."""
    assert sorted(path.name for path in folder.iterdir()) == [
        "epochs.csv",
        "history.json",
        "model.keras",
        "model.novelty.npz",
        "results.json",
    ]
    assert json.loads((folder / "results.json").read_text())["config"]["validation_split"] == 0


def test_a_finished_run_is_kept_unless_replace_or_restart_says_otherwise(sample_data, tmp_path, finished_run):
    folder = tmp_path / "run"
    files = finished_run(folder)
    with pytest.raises(RunConflictError, match=r"holds a finished run \(model.keras\): --replace trains a new one"):
        train_and_evaluate(REPLACED, sample_data, folder, verbose=0)
    assert_whole(folder, files, sample_data)


@pytest.mark.parametrize("failure", ["ctrl-c", "nan", "full-disk-at-save", "late-flag"])
def test_a_replacement_that_fails_leaves_the_finished_run_whole(
    sample_data, tmp_path, monkeypatch, failure, finished_run
):
    folder = tmp_path / "run"
    files = finished_run(folder)
    replace = {"data": sample_data, "workdir": RunFolder(folder, replace=True), "verbose": 0}
    if failure == "ctrl-c":
        with pytest.raises(KeyboardInterrupt):
            train_and_evaluate(REPLACED, callbacks=[StopAfterFirstEpoch()], **replace)
    elif failure == "nan":
        with pytest.raises(DivergedError):
            train_and_evaluate(REPLACED, callbacks=[LossBecomesNaN()], **replace)
    elif failure == "full-disk-at-save":

        def disk_full(model, path, *args, **kwargs):
            raise OSError(28, "No space left on device", str(path))

        monkeypatch.setattr(keras.Model, "save", disk_full)
        with pytest.raises(OSError, match="No space left"):
            train_and_evaluate(REPLACED, **replace)
        monkeypatch.undo()
    else:  # an error found once the run has started: --tensorboard naming a file
        (tmp_path / "file").write_text("")
        with pytest.raises(TensorBoardError, match="not a folder"):
            train_and_evaluate(REPLACED, tensorboard_dir=tmp_path / "file", **replace)
    assert_whole(folder, files, sample_data)

    result = train_and_evaluate(REPLACED, **replace)  # the next --replace replaces it
    assert_replaced(folder)
    assert len(json.loads((folder / "history.json").read_text())["loss"]) == 2 and result.files.folder == folder
    np.testing.assert_array_equal(load_model(folder / "model.keras").get_weights()[0], result.model.get_weights()[0])


def interrupt_a_replacement(folder, sample_data, finished_run) -> dict:
    """A finished run in `folder`, and a replacement of it stopped after one epoch that left it whole; the
    replacement's arguments."""
    files = finished_run(folder)
    replace = {"data": sample_data, "workdir": RunFolder(folder, replace=True), "verbose": 0}
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(REPLACED, callbacks=[StopAfterFirstEpoch()], **replace)
    assert_whole(folder, files, sample_data)
    return replace


def test_an_interrupted_replacement_is_resumed_by_the_next(sample_data, tmp_path, finished_run):
    folder = tmp_path / "run"
    replace = interrupt_a_replacement(folder, sample_data, finished_run)
    first_epoch = read_epoch_log(folder / ".replacement" / "epochs.csv")

    epochs = Epochs()
    result = train_and_evaluate(REPLACED, callbacks=[epochs], **replace)
    assert epochs.trained == [1]  # epoch 0 was kept from the interrupted replacement
    assert result.history["loss"][0] == first_epoch["loss"][0] and len(result.history["loss"]) == 2
    assert not (folder / "best.keras").exists() and not (folder / ".replacement").exists()


def test_a_replacement_with_other_settings_starts_the_interrupted_one_over(sample_data, tmp_path, finished_run, caplog):
    folder = tmp_path / "run"
    replace = interrupt_a_replacement(folder, sample_data, finished_run)
    epochs = Epochs()
    train_and_evaluate(REPLACED.replace(seed=7), callbacks=[epochs], **replace)
    assert epochs.trained == [0, 1]  # nothing kept of the replacement with the other seed
    assert any("other settings (seed 42 -> 7) starts over" in record.getMessage() for record in caplog.records)
    assert_replaced(folder)
    assert json.loads((folder / "results.json").read_text())["config"]["seed"] == 7


def test_a_replacement_stopped_while_moving_in_is_moved_in_by_the_next_run(sample_data, tmp_path, finished_run):
    folder = tmp_path / "run"
    finished_run(folder)
    real_replace, moved = os.replace, []

    def killed_after_two_files(source, target):  # the process killed between two renames of the move
        if Path(source).parent.name == ".replacement" and Path(target).parent == folder:
            if len(moved) == 2:
                raise KeyboardInterrupt
            moved.append(target)
        real_replace(source, target)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "replace", killed_after_two_files)
        with pytest.raises(KeyboardInterrupt):
            train_and_evaluate(REPLACED, sample_data, RunFolder(folder, replace=True), verbose=0)
    assert len(moved) == 2 and (folder / ".replacement" / "moving.json").exists()
    assert (folder / "model.keras").exists()  # the old model: model.keras moves last
    with pytest.raises(RunConflictError, match="holds a finished run"):
        train_and_evaluate(REPLACED, sample_data, folder, verbose=0)  # ... after the move is finished
    assert_replaced(folder)


@pytest.mark.backend
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_between_an_epochs_log_row_and_its_backup_stops_the_run_once_the_backup_is_written(
    signal_number, sample_data, tmp_path
):
    # The window the issue found SIGTERM landing in: the epoch logged, its backup not yet written.
    files = RunFolder(tmp_path / "run").start_run(run_settings(QUICK_CONFIG, *sample_data))
    epoch_log, backup = run_callbacks(files, validates=False)
    model = compile_model(build_model(QUICK_CONFIG), QUICK_CONFIG, train_size=len(sample_data[0][0]))
    callbacks = [InterruptibleTraining(), epoch_log, SendSignal(signal_number, epoch=0), backup]
    training = keras.callbacks.CallbackList(callbacks, model=model)
    handler = signal.getsignal(signal_number)
    training.on_train_begin()
    training.on_epoch_begin(0)
    try:
        training.on_epoch_end(0, {"loss": 1.0})  # the signal comes after the row: the backup is still written
    except KeyboardInterrupt:  # (a KeyboardInterrupt would end the whole test session)
        pytest.fail("the signal stopped the run between the epoch's log row and its backup")
    assert read_epoch_log(files.epoch_log) == {"loss": [1.0]} and backed_up_epoch(files.folder) == 1
    with pytest.raises(Terminated if signal_number == signal.SIGTERM else KeyboardInterrupt):
        training.on_epoch_begin(1)  # and the run stops before the next epoch
    assert signal.getsignal(signal_number) is handler  # the caller's handler is back


@pytest.mark.backend
def test_sigterm_stops_a_library_run_as_ctrl_c_and_the_next_call_resumes_after_the_last_epoch(sample_data, tmp_path):
    config = QUICK_VALIDATED.replace(epochs=3)
    folder = tmp_path / "run"
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated):  # a KeyboardInterrupt: what a script or a notebook gets for Ctrl-C
        train_and_evaluate(config, sample_data, folder, verbose=0, callbacks=[SendSignal(signal.SIGTERM, epoch=1)])
    assert signal.getsignal(signal.SIGTERM) is handler
    logged = (folder / "epochs.csv").read_bytes()
    assert len(logged.splitlines()) == 1 + 2 and backed_up_epoch(folder) == 2
    epochs = Epochs()
    result = train_and_evaluate(config, sample_data, folder, verbose=0, callbacks=[epochs])
    assert epochs.trained == [2] and len(result.history["loss"]) == 3  # the two epochs done are not trained again
    assert (folder / "epochs.csv").read_bytes().startswith(logged)


class FailsAtEpochEnd(keras.callbacks.Callback):
    """A caller's callback that fails at the first epoch's end, while the epoch's end is being written."""

    def on_epoch_end(self, epoch, logs=None):
        raise ValueError("the caller's callback failed")


@pytest.mark.backend
def test_an_error_out_of_training_gives_ctrl_c_and_sigterm_back_their_handlers(sample_data, tmp_path):
    # Keras skips on_train_end when an error leaves fit: a handler left behind would swallow the next Ctrl-C.
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(ValueError, match="the caller's callback failed"):
        train_and_evaluate(QUICK_CONFIG, sample_data, tmp_path / "run", verbose=0, callbacks=[FailsAtEpochEnd()])
    assert {number: signal.getsignal(number) for number in handlers} == handlers
