"""The run folder: what a training run with a workdir keeps there, and how it resumes as the same run.

model.keras    the trained (and calibrated) model        history.json   each epoch's losses and accuracies
best.keras     the epoch with the best validation score  results.json   settings, test scores, timings
epochs.csv     the log of each finished epoch            run.json       an unfinished run's settings
backup/        the weights of the last two epochs (RunBackup): what a stopped run resumes from, until it is saved
.replacement/  a run that is to replace the finished one (--replace), with the same files: moved in once saved

`RunFolder` owns the folder: its lock, and starting, resuming, restarting, replacing and saving its run; the states
it goes through are drawn in docs/run-folder.md. The callbacks here keep a run safe on disk while it trains.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import keras

from mnist_cnn.errors import MnistCnnError
from mnist_cnn.files import atomic_path, locked_folder, naming, write_json
from mnist_cnn.model import save_model
from mnist_cnn.novelty import NoveltyCheck, novelty_path

logger = logging.getLogger(__name__)

MOVING = "moving.json"  # in .replacement: the names of the files being moved in, while they are


class RunConflictError(MnistCnnError):
    """A run folder holds a run that this one may not resume nor replace, or is in use."""


class EpochLog(keras.callbacks.Callback):
    """Keeps each epoch's logs in a CSV file, rewritten whole through a temporary file at every epoch's end, so that
    a killed run never leaves half a row (Keras' CSVLogger appends in place)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        rows = read_epoch_rows(self.path)
        rows[epoch] = {key: float(value) for key, value in (logs or {}).items()}
        keys = sorted({key for row in rows.values() for key in row})
        with atomic_path(self.path) as temporary, open(temporary, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=["epoch", *keys])
            writer.writeheader()
            writer.writerows({"epoch": number, **rows[number]} for number in sorted(rows))


class BestModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras' ModelCheckpoint of the best model so far, written to a temporary file and then renamed.

    It saves at epoch ends only, so it lets Keras send the next step before a batch's end is reported (`async_safe`:
    see docs/run-folder.md, "Callbacks").
    """

    async_safe = True

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
        try:
            super().on_epoch_end(epoch, logs)
        except OSError as error:  # a full disk: h5py's error names no file
            self.temporary_path.unlink(missing_ok=True)
            raise naming(error, self.final_path) from error
        if self.temporary_path.exists():  # Saved in this epoch: a new best.
            self.temporary_path.replace(self.final_path)


class InMemoryWeightsFile(io.BytesIO):
    """A file in memory that Keras' `save_weights` takes for a `.weights.h5` path (it checks the name's ending)."""

    def __str__(self) -> str:
        return "in-memory.weights.h5"


class RunBackup(keras.callbacks.Callback):
    """What a stopped run resumes from, as Keras' BackupAndRestore: the weights (the model's and the optimizer's) at
    the end of each of the last two epochs, `epoch-N.weights.h5`, each written whole (to a temporary file, then
    renamed), so that a save that fails (a full disk, a kill) leaves the backups before it. A backup damaged since (a
    machine's write cache lost in a crash, a sync tool) is passed over for the one before, saying so in one line;
    where none can be loaded, one error says so. training_metadata.json names the last epoch saved, as Keras' does.
    It saves at epoch ends only: `async_safe` (see BestModelCheckpoint)."""

    async_safe = True
    KEPT = 2  # the backups kept: the last epoch's, and the one before in case it is damaged

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = Path(folder)

    def saved(self) -> list[tuple[int, Path]]:
        """The backups in the folder as (epoch, path), the latest first."""
        found = []
        for path in self.folder.glob("epoch-*.weights.h5"):
            number = path.name.removeprefix("epoch-").removesuffix(".weights.h5")
            if number.isdigit():
                found.append((int(number), path))
        return sorted(found, reverse=True)

    def on_train_begin(self, logs: dict | None = None) -> None:
        damaged: list[tuple[Path, str]] = []
        for epoch, path in self.saved():
            try:
                self.restore(path)
            except Exception as error:  # Keras raises ValueError, OSError, KeyError... for a damaged file
                damaged.append((path, (str(error).strip().splitlines() or [type(error).__name__])[0]))
                continue
            self.model._initial_epoch = epoch  # as Keras' BackupAndRestore: fit goes on after this epoch
            if damaged:
                path, reason = damaged[0]
                logger.warning(f"note: {path} cannot be loaded ({reason}): resuming from the backup of epoch {epoch}")
            return
        if damaged:
            reason = damaged[0][1]
            raise RunConflictError(
                f"the backup in {self.folder} cannot be loaded ({reason}): run again with --restart to start over"
            )

    def restore(self, path: Path) -> None:
        """Load the weights of the model and of its optimizer from the backup at `path`."""
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self.model.load_weights(path)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        weights = InMemoryWeightsFile()
        self.model.save_weights(weights)  # in memory: h5py writing to a full disk crashed the process at exit
        with atomic_path(self.folder / f"epoch-{epoch + 1}.weights.h5") as temporary:
            temporary.write_bytes(weights.getvalue())
        write_json(self.folder / "training_metadata.json", {"epoch": epoch + 1, "batch": 0})
        for _, older in self.saved()[self.KEPT :]:
            older.unlink(missing_ok=True)


@dataclass
class RunFiles:
    """Where a run keeps its files in `folder` (a run folder, or its replacement folder)."""

    folder: Path

    model: Path = field(init=False)
    novelty: Path = field(init=False)
    best_model: Path = field(init=False)
    history: Path = field(init=False)
    results: Path = field(init=False)
    epoch_log: Path = field(init=False)
    backup: Path = field(init=False)
    run_config: Path = field(init=False)
    replacement: Path = field(init=False)

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        self.model = self.folder / "model.keras"
        self.novelty = novelty_path(self.model)
        self.best_model = self.folder / "best.keras"
        self.history = self.folder / "history.json"
        self.results = self.folder / "results.json"
        self.epoch_log = self.folder / "epochs.csv"
        self.backup = self.folder / "backup"
        self.run_config = self.folder / "run.json"
        self.replacement = self.folder / ".replacement"

    @property
    def saved_files(self) -> tuple[Path, ...]:
        """The files of a finished run, model.keras last."""
        return (self.best_model, self.epoch_log, self.history, self.results, self.novelty, self.model)

    @property
    def unfinished(self) -> bool:
        """Whether the folder holds a run that was interrupted: its backup is there until the run is saved."""
        return self.backup.exists()

    @property
    def finished(self) -> bool:
        """Whether the folder holds a run that was saved to the end."""
        return self.model.exists() and not self.unfinished

    @property
    def elapsed_s(self) -> float:
        """The training time of the epochs logged so far: what a resumed run's clock goes on from."""
        history = read_epoch_log(self.epoch_log)
        return history.get("elapsed_s", [0.0])[-1]

    def discard_unfinished(self) -> None:
        """Forget an interrupted run, so that the next one starts afresh."""
        shutil.rmtree(self.backup, ignore_errors=True)
        for path in (self.epoch_log, self.run_config, self.best_model):
            path.unlink(missing_ok=True)

    def discard(self) -> None:
        """Forget whatever run the folder holds, finished or not, and its replacement: its files, and only its files,
        are removed."""
        self.discard_unfinished()
        for path in (self.model, self.history, self.results):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.replacement, ignore_errors=True)

    def settings_changed(self, settings: dict) -> list[str]:
        """How the settings of the unfinished run here differ from `settings`, one "name old -> new" each."""
        if not (self.unfinished and self.run_config.exists()):
            return []
        earlier = json.loads(self.run_config.read_text())
        return [
            f"{name} {earlier.get(name)!r} -> {value!r}"
            for name, value in settings.items()
            if earlier.get(name) != value
        ]

    def resume_or_begin(self, settings: dict) -> None:
        """Resume the unfinished run here, or begin a new one (its settings in run.json, leftovers removed); an
        unfinished run with other settings is a RunConflictError, and is left as it was."""
        differences = self.settings_changed(settings)
        if differences:
            raise RunConflictError(
                f"{self.folder} holds an unfinished run with other settings ({'; '.join(differences)}). Resume it "
                "with the same settings as before, or start afresh: --restart discards it, or choose another --output."
            )
        if not self.unfinished:
            self.discard()  # what an earlier run left half done, before it made its backup
            write_json(self.run_config, settings)

    def save(self, model: keras.Model, history: dict, results: dict, novelty: NoveltyCheck | None = None) -> None:
        """Write the model (and its novelty check), history.json and results.json of the finished run, each
        atomically, and drop its backup and run.json: the run is then finished."""
        if novelty is not None:
            novelty.save(self.novelty)
        save_model(model, self.model)
        write_json(self.history, history)
        write_json(self.results, results)
        shutil.rmtree(self.backup, ignore_errors=True)
        self.run_config.unlink(missing_ok=True)


@dataclass
class RunFolder:
    """A run folder, and what to do with the run it holds: an unfinished run is resumed; a finished one is kept
    (RunConflictError) unless `replace` (the new run trains beside it, in .replacement, and takes its place once
    saved, so that a replacement that fails leaves the finished run whole) or `restart` (whatever run is there is
    discarded first). See docs/run-folder.md for its states."""

    path: Path
    restart: bool = False
    replace: bool = False

    files: RunFiles = field(init=False)
    replacement: RunFiles = field(init=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.files = RunFiles(self.path)
        self.replacement = RunFiles(self.files.replacement)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder for this process while the block runs, so that two runs never write into one folder
        (`files.locked_folder`: a killed run never leaves it locked)."""
        if self.path.exists() and not self.path.is_dir():
            raise RunConflictError(f"{self.path}: exists and is not a folder: choose another --output")
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(locked_folder(self.path))
            except BlockingIOError:
                raise RunConflictError(
                    f"{self.path} is in use by another training run: wait for it to end, or choose another --output"
                ) from None
            yield

    def start_run(self, settings: dict) -> RunFiles:
        """Get the folder ready for a run with these settings: finish moving in a saved replacement, discard the run
        there (`restart`), then resume or begin the run, or its replacement (`replace`). Return where it writes."""
        self.path.mkdir(parents=True, exist_ok=True)
        if (self.replacement.folder / MOVING).exists() or self.replacement.finished:
            self.move_in_replacement()  # saved, then interrupted before it was all moved in
        if self.restart:
            self.files.discard()
        if not self.files.finished:
            shutil.rmtree(self.replacement.folder, ignore_errors=True)  # nothing left to replace
            self.files.resume_or_begin(settings)
            return self.files
        if not self.replace:
            raise RunConflictError(
                f"{self.path} holds a finished run ({self.files.model.name}): --replace trains a new one to take its "
                "place, --restart discards it, or choose another --output"
            )
        return self.start_replacement(settings)

    def start_replacement(self, settings: dict) -> RunFiles:
        """Resume or begin the run that is to replace the finished one; an interrupted replacement with other
        settings is discarded (this one takes its place). Return its files."""
        self.replacement.folder.mkdir(exist_ok=True)
        differences = self.replacement.settings_changed(settings)
        if differences:
            logger.warning(
                f"note: an interrupted replacement with other settings ({'; '.join(differences)}) starts over"
            )
            self.replacement.discard_unfinished()
        self.replacement.resume_or_begin(settings)
        return self.replacement

    def save_run(
        self, files: RunFiles, model: keras.Model, history: dict, results: dict, novelty: NoveltyCheck | None = None
    ) -> RunFiles:
        """Save the finished run in `files` (what start_run returned); a replacement then takes the finished run's
        place. Return the files of the folder's run."""
        files.save(model, history, results, novelty)
        if files.folder == self.replacement.folder:
            self.move_in_replacement()
        return self.files

    def move_in_replacement(self) -> None:
        """Make the saved replacement the folder's run, by renames: each of its files takes the place of the old
        run's, model.keras last, and the old run's files it has not (best.keras, where it validated on nothing) are
        removed. The list of what moves is written first, so that a move interrupted half way is finished by the
        next run (`start_run`)."""
        moving = self.replacement.folder / MOVING
        if not moving.exists():
            write_json(moving, [path.name for path in self.replacement.saved_files if path.exists()])
        names = json.loads(moving.read_text())
        for source, target in zip(self.replacement.saved_files, self.files.saved_files, strict=True):
            if source.name not in names:
                target.unlink(missing_ok=True)
            elif source.exists():
                os.replace(source, target)
        shutil.rmtree(self.replacement.folder)


def run_callbacks(files: RunFiles, validates: bool) -> list[keras.callbacks.Callback]:
    """Callbacks that keep a run safe on disk: the per-epoch log, the resumable backup and, where the run
    `validates`, the model of the epoch with the best validation accuracy.

    The log comes before the backup so that a run killed between the two redoes the epoch (its row is then
    written again and `read_epoch_log` keeps the last) rather than skipping its row.
    """
    callbacks = [EpochLog(files.epoch_log), RunBackup(files.backup)]
    if validates:
        monitor = "val_accuracy"
        earlier_epochs = read_epoch_log(files.epoch_log)
        best_so_far = max(earlier_epochs.get(monitor, []), default=None)  # A resumed run keeps its best model.
        callbacks.append(BestModelCheckpoint(files.best_model, monitor=monitor, best_so_far=best_so_far))
    return callbacks


def read_epoch_rows(path: Path) -> dict[int, dict[str, float]]:
    """Each epoch's logged values from a CSV epoch log (none where there is no log yet); the last row of an epoch
    wins, and a row that is not whole (a run killed while an older version appended it) is skipped."""
    rows: dict[int, dict[str, float]] = {}
    if not path.exists():
        return rows
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
