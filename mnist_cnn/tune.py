"""Teaching a trained model your handwriting: fine-tuning it on your own digits, and the figures before and after.

Your digits come from photos of filled sheets (mnist_cnn.sheet) or from folders of labelled image files (0/ ... 9/,
one digit a file, read as `mnist-cnn predict` reads it); what cannot be read, and a box or file with two digits or a
scribble, is reported and never learnt. Some of each digit is held out. The model's layers and weights are copied
(the model file is left as it was) and trained further, as a new run in its own run folder (mnist_cnn.runs:
resumable, --replace), at a small learning rate, on the rest of your digits shifted and turned a little at random,
with MNIST training digits mixed in so that MNIST's are not forgotten. The held-out digits, with MNIST validation
digits beside them, are the run's validation split: they score each epoch (best.keras keeps the best; model.keras is
the last) and fit the temperature and the novelty check. MNIST's test set is scored once, at the end, as in any run.

Defaults (mnist_cnn.config.TuneSettings): Adam at 1e-3, constant, for 10 epochs, all layers, then each weight mixed back
towards the trained model's, 0.7 of the fine-tuned kept (WiSE-FT: Wortsman et al., 2022), before the temperature and
the novelty check are fitted (best.keras keeps its epoch's weights unmixed); each of your digits 8 times an epoch,
shifted (up to 0.1) and turned (up to 0.06 of a turn) anew each time, with 16 MNIST training digits per digit of
yours; labels smoothed by 0.1; a tenth of yours held out (at least one of each digit). They were chosen on writers
and digits the benchmark never scores and on MNIST's validation digits, never a test set: docs/your-handwriting.md
has each setting tried and what it gave.
With about 100 digits it runs in about 20 seconds on 2 cores.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from mnist_cnn.config import FAST_RECIPE, PRECISIONS, Config, TuneSettings, config_for
from mnist_cnn.data import IMAGE_SIZE, NUM_CLASSES, DataUnavailableError, Split, load_data, one_hot, split_validation
from mnist_cnn.errors import ImageError, MnistCnnError
from mnist_cnn.files import write_json
from mnist_cnn.model import load_model, predict_probabilities
from mnist_cnn.predict import read_ink
from mnist_cnn.runs import RunFiles, RunFolder
from mnist_cnn.sheet import SheetReading, read_sheet
from mnist_cnn.train import RunResult, copied, train_and_evaluate

logger = logging.getLogger(__name__)
# The folders of a folder of labelled digits: one for each digit, named by it.
DIGIT_FOLDERS = tuple(str(digit) for digit in range(NUM_CLASSES))
# MNIST's validation digits are the last share of its training images that the validated recipes hold out: a model
# trained by `mnist-cnn train` never trained on them.
MNIST_VALIDATION_SHARE = FAST_RECIPE.validation_split
# At least this many MNIST validation digits, so that the temperature and the novelty threshold have some to fit on.
LEAST_MNIST_VALIDATION = 200
# What the run writes beside its model: the figures before and after, and each sheet photo's contact sheet.
TUNING_FILE = "tuning.json"
CONTACT_SHEET = "contact-sheet-{number}.png"


class TuneError(MnistCnnError):
    """A source of digits that cannot be used, no digits at all, or a run folder that would replace the source."""


@dataclass
class DigitSource:
    """What one source gave: its digits' count, the lines of what was not learnt, and for a sheet photo its reading
    (its `contact_sheet()` shows what was read)."""

    path: Path
    count: int
    problems: list[str]
    reading: SheetReading | None = None


@dataclass
class UserDigits:
    """A user's digits, MNIST-like: images (N, 28, 28, 1) float32 in [0, 1], labels (N,) ints; what was not learnt,
    one line each; and what each source gave."""

    images: np.ndarray
    labels: np.ndarray
    problems: list[str]
    sources: list[DigitSource]


@dataclass
class TuneResult:
    """A fine-tuning run and its figures before and after: accuracy on the user's held-out digits (None where none
    could be held out), on the MNIST validation digits beside them, and on MNIST's test set (before: from the source
    run's results.json where it was tested on the same data, else scored once here: `mnist_test_before_from`)."""

    run: RunResult
    held_out_before: float | None
    held_out_after: float | None
    mnist_validation_before: float
    mnist_validation_after: float
    mnist_test_before: float
    mnist_test_after: float
    mnist_test_before_from: str
    tuned_digits: int  # the user's, trained on
    held_out_digits: int  # the user's, never trained on
    mnist_digits: int  # MNIST's training digits mixed in
    mnist_validation_digits: int
    seconds: float
    contact_sheets: list[Path] = field(default_factory=list)

    def summary(self) -> dict:
        """The figures and counts as plain values (tuning.json)."""
        figures = {name: getattr(self, name) for name in SUMMARY_FIELDS}
        return {**figures, "contact_sheets": [str(path) for path in self.contact_sheets]}


# What tuning.json keeps of a TuneResult: all but the run (its own files say it) and the contact sheets' paths.
SUMMARY_FIELDS = tuple(
    item.name for item in dataclasses.fields(TuneResult) if item.name not in ("run", "contact_sheets")
)
# The settings fine_tune uses unless given others.
DEFAULT_SETTINGS = TuneSettings()


# Reading the user's digits.


def user_digits(sources: list[str | os.PathLike]) -> UserDigits:
    """The digits of each source: a photo (or scan) of a filled sheet, or a folder of subfolders 0 ... 9 of image files
    of one digit each. TuneError for a source that is missing or a folder without digit subfolders, or where no
    digit at all was read; a photo that cannot be read raises ImageError, one where no sheet is found SheetError."""
    images, labels, read = [], [], []
    for source in map(Path, sources):
        if source.is_dir():
            found, kinds, problems = folder_digits(source)
            reading = None
        elif source.is_file():
            reading = read_sheet(source)
            found, kinds = reading.digits()
            problems = reading.problems()
        else:
            raise TuneError(f"{source}: no such file or folder (give sheet photos, or folders of 0/ ... 9/)")
        images.append(np.asarray(found, np.float32).reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1))
        labels.append(np.asarray(kinds, int).reshape(-1))
        read.append(DigitSource(source, len(labels[-1]), problems, reading))
    problems = [line for source in read for line in source.problems]
    if not sum(source.count for source in read):
        unread = f": {len(problems)} not learnt, the first {problems[0]}" if problems else ""
        raise TuneError(f"no digits to learn from in {', '.join(map(str, sources))}{unread}")
    return UserDigits(np.concatenate(images), np.concatenate(labels), problems, read)


def folder_digits(folder: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The digits of the image files in `folder`'s subfolders 0 ... 9, their labels, and a line for each file not
    learnt (unreadable, no digit, or several digits)."""
    subfolders = [folder / name for name in DIGIT_FOLDERS if (folder / name).is_dir()]
    if not subfolders:
        raise TuneError(
            f"{folder}: no subfolders 0 ... 9 (a folder of your digits holds one subfolder a digit, named by it, "
            "of image files of one digit each)"
        )
    images, labels, problems = [], [], []
    for subfolder in subfolders:
        for path in sorted(subfolder.iterdir()):
            if path.name.startswith("."):
                continue  # hidden files (.DS_Store) are no digits
            if not path.is_file():
                problems.append(f"{path}: a folder inside {subfolder.name}/, not read: put its files in {subfolder}")
                continue
            try:
                images.append(file_digit(path))
                labels.append(int(subfolder.name))
            except ImageError as error:
                problems.append(f"{error}, not learnt")
    return np.array(images, np.float32).reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1), np.array(labels, int), problems


def file_digit(path: Path) -> np.ndarray:
    """The one digit in an image file, MNIST-like (28, 28, 1), read as `mnist-cnn predict` reads it; ImageError
    where it cannot be read or holds several digits side by side."""
    _, groups = read_ink(path, str(path))
    if len(groups) > 1:
        raise ImageError(f"{path}: {len(groups)} digits side by side, not one")
    return groups[0].images[0]


# What is trained on, and what is held out.


def held_out_indices(labels: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The indices of the digits to train on and of those held out: `share` of each digit's, drawn at random, at
    least one of each digit given twice or more, and never all of one."""
    rng = np.random.default_rng(seed)
    tuned, held = [], []
    for digit in np.unique(labels):
        indices = rng.permutation(np.flatnonzero(labels == digit))
        count = 0 if len(indices) < 2 else min(len(indices) - 1, max(1, round(share * len(indices))))
        held.append(indices[:count])
        tuned.append(indices[count:])
    return np.sort(np.concatenate(tuned)), np.sort(np.concatenate(held))


def mnist_parts(train: Split, settings: TuneSettings, tuned: int, held: int) -> tuple[Split, Split]:
    """MNIST's training digits to mix in (`mnist_share` per user digit trained on, drawn from all but its validation
    split) and its validation digits (as many per digit held out, at least LEAST_MNIST_VALIDATION)."""
    learn, validation = split_validation(train, MNIST_VALIDATION_SHARE)
    rng = np.random.default_rng(settings.seed)
    mixed = rng.permutation(len(learn[0]))[: settings.mnist_share * tuned]
    scored = rng.permutation(len(validation[0]))[: max(settings.mnist_share * held, LEAST_MNIST_VALIDATION)]
    return (learn[0][mixed], learn[1][mixed]), (validation[0][scored], validation[1][scored])


@dataclass
class TuningData:
    """A fine-tune's data: `train` holds the user's digits to learn and the MNIST digits mixed in, then the
    `validation_size` validation digits last, as validation_split takes them (the user's held out, then MNIST's)."""

    train: Split
    validation_size: int
    user_held: Split  # integer labels
    mnist_validation: Split
    tuned_digits: int
    mnist_digits: int


def tuning_data(digits: UserDigits, mnist_train: Split, settings: TuneSettings) -> TuningData:
    """The user's digits split into those learnt and those held out, with MNIST's mixed in and beside them."""
    tuned, held = held_out_indices(digits.labels, settings.held_out, settings.seed)
    mixed, mnist_validation = mnist_parts(mnist_train, settings, len(tuned), len(held))
    user_held = (digits.images[held], digits.labels[held])
    learnt = np.tile(tuned, settings.repeats)
    images = [digits.images[learnt], mixed[0], user_held[0], mnist_validation[0]]
    labels = [one_hot(digits.labels[learnt]), mixed[1], one_hot(user_held[1]), mnist_validation[1]]
    train = (np.concatenate(images), np.concatenate(labels))
    validation_size = len(held) + len(mnist_validation[0])
    return TuningData(train, validation_size, user_held, mnist_validation, len(tuned), len(mixed[0]))


def tuning_config(settings: TuneSettings, validation_split: float, precision: str) -> Config:
    """The run's Config: the `fast` recipe's batches, at the settings' constant learning rate and epochs, augmented,
    the last `validation_split` of its data validating and fitting the temperature."""
    return config_for(
        "fast",
        epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        lr_schedule="constant",
        warmup_epochs=0.0,
        label_smoothing=settings.label_smoothing,
        max_shift=settings.max_shift,
        max_rotation=settings.max_rotation,
        validation_split=validation_split,
        calibrate=True,
        precision=precision,
        seed=settings.seed,
    )


class WeightsMixedBack(keras.callbacks.Callback):
    """When training ends, each trainable layer's weights made `mix` the fine-tuned ones and the rest those of the
    same layer in `source` (the model training started from a copy of); frozen layers are left as they are."""

    def __init__(self, source: keras.Model, mix: float) -> None:
        super().__init__()
        self.source, self.mix = source, mix

    def on_train_end(self, logs: dict | None = None) -> None:
        """Mix the weights (a resumed run restores the last epoch's unmixed weights first, so they mix once)."""
        for layer in self.model.layers:
            if layer.trainable and layer.weights:
                pairs = zip(self.source.get_layer(layer.name).get_weights(), layer.get_weights(), strict=True)
                layer.set_weights([(1 - self.mix) * old + self.mix * new for old, new in pairs])


def model_precision(model: keras.Model) -> str:
    """The precision the model's layers compute in (its copy keeps it), as Config names it."""
    name = model.layers[0].dtype_policy.name
    return name if name in PRECISIONS else "float32"


def with_layers_trained(model: keras.Model, layers: str) -> keras.Model:
    """`model` (in memory) with the layers that `layers` says train trainable and the others frozen."""
    for layer in model.layers:
        layer.trainable = layers == "all" or isinstance(layer, keras.layers.Dense)
    return model


# Scores before and after.


def accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> float | None:
    """The share of `images` the model reads as their integer `labels`; None where there are none."""
    if not len(images):
        return None
    return float(np.mean(predict_probabilities(model, images).argmax(axis=1) == labels))


def source_results(model_path: Path) -> dict | None:
    """The results.json of the run whose folder holds `model_path`; None where there is none to be read."""
    try:
        results = json.loads(RunFiles(model_path.parent).results.read_text())
    except (OSError, ValueError):
        return None  # no run's results, or an odd file: nothing known
    return results if isinstance(results, dict) else None


def recorded_test_accuracy(model_path: Path, train_images: int) -> float | None:
    """The test accuracy the source model's run recorded, where that run trained and validated on `train_images`
    images (the same dataset, so the same test set); else None."""
    if model_path.name != "model.keras":
        return None  # the run's results are its model.keras's
    results = source_results(model_path) or {}
    try:
        same_data = results["train_images"] + results["validation_images"] == train_images
        return float(results["test_accuracy"]) if same_data else None
    except (KeyError, TypeError, ValueError):
        return None  # an odd results.json: the source is scored instead


def trained_on_validation(model_path: Path) -> bool:
    """Whether the run that saved the model trained on MNIST's validation digits too: a run with no validation
    split, as the `seed` recipe's."""
    return (source_results(model_path) or {}).get("validation_images") == 0


def warn_if_trained_on_validation(model_path: Path) -> None:
    """Log a note where the source model trained on the MNIST validation digits that score the fine-tune."""
    if trained_on_validation(model_path):
        logger.warning(
            f"note: {model_path} was trained on MNIST's validation digits too (its run had no validation split): its "
            "scores on them, before and after, flatter it"
        )


def digest(*arrays: np.ndarray) -> str:
    """The SHA-256 of arrays' bytes: what tells a run's data from other data when it is resumed."""
    hashed = hashlib.sha256()
    for array in arrays:
        hashed.update(np.ascontiguousarray(array).tobytes())
    return hashed.hexdigest()


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mnist_data() -> tuple[Split, Split]:
    """MNIST, or where it cannot be had the sample shipped in the package, saying so."""
    try:
        return load_data("mnist")
    except DataUnavailableError as error:
        logger.warning(f"note: {error.short} Mixing in the real MNIST sample shipped in the package instead.")
        return load_data("sample")


def check_source_kept(model_path: Path, workdir: str | os.PathLike | RunFolder | None) -> None:
    """TuneError where the run folder is the source model's own: the tuned model would take its place."""
    if workdir is None:
        return
    run = workdir if isinstance(workdir, RunFolder) else RunFolder(Path(workdir))
    if model_path.resolve().parent in (run.files.folder.resolve(), run.replacement.folder.resolve()):
        raise TuneError(f"{run.path.resolve()}: holds the model being tuned, {model_path}: choose another --output")


# Fine-tuning.


def test_accuracy_before(model_path: Path, source: keras.Model, train_images: int, test: Split) -> tuple[float, str]:
    """The source's test accuracy and where it came from: its run's results.json where that run had the same data,
    else the test set scored once here."""
    recorded = recorded_test_accuracy(model_path, train_images)
    if recorded is not None:
        return recorded, "results.json"
    return accuracy(source, test[0], test[1].argmax(axis=1)), "scored"


def tuning_identity(model_path: Path, digits: UserDigits, settings: TuneSettings) -> dict:
    """What a tuning run must have the same of to be resumed: the source model, the user's digits, the settings."""
    return {
        "tuned_from": str(model_path.resolve()),
        "tuned_from_sha256": file_digest(model_path),
        "user_digits_sha256": digest(digits.images, digits.labels),
        "tune_settings": dataclasses.asdict(settings),
    }


def fine_tune(
    model_path: str | os.PathLike,
    digits: UserDigits,
    workdir: str | os.PathLike | RunFolder | None = None,
    *,
    mnist: tuple[Split, Split] | None = None,
    settings: TuneSettings = DEFAULT_SETTINGS,
    source: keras.Model | None = None,
    verbose: str | int = "auto",
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> TuneResult:
    """Train a new run from the model at `model_path` on the user's `digits` (see the module's docstring) and score
    it before and after; the model file is left as it was. `workdir` is the new run's folder, as train_and_evaluate
    takes it (its model, novelty check and results, with tuning.json and each sheet photo's contact sheet beside);
    `mnist` is MNIST's (train, test), by default loaded (the shipped sample where MNIST cannot be had); `source` the
    model at `model_path` where the caller has loaded it."""
    started = time.perf_counter()
    model_path = Path(model_path)
    check_source_kept(model_path, workdir)
    source = with_layers_trained(copied(source) if source is not None else load_model(model_path), settings.layers)
    (mnist_train, test) = mnist if mnist is not None else mnist_data()
    data = tuning_data(digits, mnist_train, settings)
    train, user_held, mnist_validation = data.train, data.user_held, data.mnist_validation
    config = tuning_config(settings, data.validation_size / len(train[0]), model_precision(source))
    mnist_validation_labels = mnist_validation[1].argmax(axis=1)
    warn_if_trained_on_validation(model_path)
    mnist_test_before, before_from = test_accuracy_before(model_path, source, len(mnist_train[0]), test)
    held_out_before = accuracy(source, *user_held)
    mnist_validation_before = accuracy(source, mnist_validation[0], mnist_validation_labels)
    identity = tuning_identity(model_path, digits, settings)
    mixed_back = [WeightsMixedBack(source, settings.mix)] if settings.mix < 1 else []
    run = train_and_evaluate(
        config,
        (train, test),
        workdir,
        verbose=verbose,
        callbacks=[*(callbacks or []), *mixed_back],
        start_from=source,
        run_identity=identity,
    )
    result = TuneResult(
        run=run,
        held_out_before=held_out_before,
        held_out_after=accuracy(run.model, *user_held),
        mnist_validation_before=mnist_validation_before,
        mnist_validation_after=accuracy(run.model, mnist_validation[0], mnist_validation_labels),
        mnist_test_before=mnist_test_before,
        mnist_test_after=run.test_accuracy,
        mnist_test_before_from=before_from,
        tuned_digits=data.tuned_digits,
        held_out_digits=len(user_held[1]),
        mnist_digits=data.mnist_digits,
        mnist_validation_digits=len(mnist_validation[0]),
        seconds=0.0,
    )
    return saved_with_contact_sheets(result, digits, started)


def saved_with_contact_sheets(result: TuneResult, digits: UserDigits, started: float) -> TuneResult:
    """The result with its seconds since `started`; its contact sheets and tuning.json saved in its run's folder."""
    if result.run.files is not None:
        result.contact_sheets = save_contact_sheets(digits, result.run.files.folder)
    result.seconds = time.perf_counter() - started
    if result.run.files is not None:
        write_json(result.run.files.folder / TUNING_FILE, result.summary())
    return result


def save_contact_sheets(digits: UserDigits, folder: Path) -> list[Path]:
    """Each sheet photo's contact sheet (what was read in each box) as contact-sheet-N.png in `folder`."""
    readings = [source.reading for source in digits.sources if source.reading is not None]
    for old in folder.glob(CONTACT_SHEET.format(number="*")):
        old.unlink()  # a run replaced or restarted keeps no contact sheet of the one before
    saved = []
    for number, reading in enumerate(readings, start=1):
        path = folder / CONTACT_SHEET.format(number=number)
        saved.append(reading.save_contact_sheet(path))
    return saved
