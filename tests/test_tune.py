"""Fine-tuning on a user's handwriting (mnist_cnn.tune, `mnist-cnn tune` and `mnist-cnn sheet`): the user's digits
read from a sheet photo and from folders of digit files, what is not a digit reported and never learnt, a new run
that reads the user's hand better and keeps MNIST's, the source model untouched, resuming as train does, and bad
input one line.

The user writes the shipped sample's test digits in a strongly slanted hand, which the reading model (trained on
MNIST's upright digits) reads worse; the fine-tunes are short, at a higher learning rate than the default's."""

import hashlib
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from mnist_cnn.cli import PAPERS, build_parser, tune_settings_from
from mnist_cnn.config import ConfigError, TuneSettings
from mnist_cnn.data import one_hot
from mnist_cnn.errors import ModelFileError
from mnist_cnn.mnist_style import centre_by_mass, fit_in_box, ink_box
from mnist_cnn.model import load_model, predict_probabilities
from mnist_cnn.runs import RunConflictError
from mnist_cnn.sheet import PAPERS as SHEET_PAPERS
from mnist_cnn.tune import (
    UserDigits,
    WeightsMixedBack,
    fine_tune,
    held_out_indices,
    recorded_test_accuracy,
    tuning_config,
    tuning_data,
    user_digits,
)

from callbacks import Epochs, StopAfterFirstEpoch
from conftest import run_command as run
from digit_kinds import as_image, enlarged
from sheet_photos import filled_sheet, sheet_photo

READING_MODEL = Path(__file__).parent / "data" / "reading-model.keras"


@pytest.fixture(scope="module")
def reading_model_file():
    """The stored reading model, where the Keras installed loads it: Keras 3.15 saved it, and the version sets' 3.13
    cannot (the notebook's run fine-tunes a model of their own there)."""
    try:
        load_model(READING_MODEL)
    except ModelFileError as error:
        pytest.skip(str(error))
    return READING_MODEL


# The user's hand leans this far right: a horizontal shift of this many pixels per pixel of height (45 degrees).
SLANT = 1.0
# Short fine-tunes: the default's steps take too long for the suite; a higher rate makes up for fewer of them.
# The sheet is filled with the first of the slanted digits, the folder's files are written from this one on.
FOLDER_FROM = 300
QUICK_TUNE = ["--epochs", "6", "--repeats", "2", "--learning-rate", "1e-3", "--mnist-share", "1", "--held-out", "0.3"]


def slanted(digit: np.ndarray) -> np.ndarray:
    """A 28x28 uint8 digit written leaning SLANT to the right, MNIST-like (ink in [0, 1])."""
    wide = np.pad(digit.astype(np.float32) / 255, 14)
    leaning = ndimage.affine_transform(wide, np.array([[1, 0], [SLANT, 1]]), offset=(0, -SLANT * 28), order=1)
    return centre_by_mass(fit_in_box(leaning[ink_box(leaning, 0.05)]))


def write_digit_file(ink: np.ndarray, path: Path) -> Path:
    """Ink (light on dark, [0, 1]) as a dark-on-white PNG 112 pixels high, as a scan of one digit."""
    as_image(1 - 0.9 * enlarged(np.pad(ink, 4), 112)).save(path)
    return path


@pytest.fixture(scope="module")
def slanted_sample(raw_sample):
    """The sample's test digits, slanted, and their labels."""
    images, labels = raw_sample[1]
    return np.stack([slanted(digit) for digit in images[:400]]), labels[:400]


@pytest.fixture
def digit_folder(slanted_sample, tmp_path):
    """A folder of the user's digit files, 0/ ... 9/, three slanted digits each; with a file that is no image, two
    digits in one file and a hidden file."""
    images, labels = slanted_sample
    folder = tmp_path / "my digits"
    for digit in range(10):
        (folder / str(digit)).mkdir(parents=True)
        for number, index in enumerate(FOLDER_FROM + np.flatnonzero(labels[FOLDER_FROM:] == digit)[:3]):
            write_digit_file(images[index], folder / str(digit) / f"{number}.png")
    (folder / "3" / "notes.txt").write_text("not an image")
    pair = np.hstack(
        [images[np.flatnonzero(labels == 5)[0]], np.zeros((28, 8)), images[np.flatnonzero(labels == 2)[0]]]
    )
    write_digit_file(pair, folder / "5" / "pair.png")
    (folder / "7" / ".DS_Store").write_bytes(b"\0\1")
    (folder / "8" / "more").mkdir()  # a folder within a digit's: said, not read
    return folder


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# The user's digits: no training.


def test_a_folder_of_digit_files_gives_each_files_digit_and_reports_what_is_not_learnt(digit_folder):
    digits = user_digits([digit_folder])
    assert digits.images.shape == (30, 28, 28, 1) and digits.images.dtype == np.float32
    assert digits.labels.tolist() == [digit for digit in range(10) for _ in range(3)]
    assert [(source.path, source.count) for source in digits.sources] == [(digit_folder, 30)]
    assert len(digits.problems) == 3
    assert digits.problems[0].startswith(f"{digit_folder / '3' / 'notes.txt'}: not a readable image")
    assert digits.problems[1] == f"{digit_folder / '5' / 'pair.png'}: 2 digits side by side, not one, not learnt"
    assert digits.problems[2].startswith(f"{digit_folder / '8' / 'more'}: a folder inside 8/, not read")


def test_some_of_each_digit_is_held_out_and_never_all_of_one():
    labels = np.array([0] * 10 + [1] * 2 + [2] * 1 + [3] * 5)
    tuned, held = held_out_indices(labels, 0.2, seed=1)
    assert sorted([*tuned, *held]) == list(range(len(labels)))
    assert np.bincount(labels[held], minlength=4).tolist() == [2, 1, 0, 1]  # a fifth, at least one, none of one
    assert np.array_equal(held, held_out_indices(labels, 0.2, seed=1)[1])  # seeded
    assert not np.array_equal(held, held_out_indices(labels, 0.2, seed=2)[1])
    assert np.bincount(labels[held_out_indices(labels, 0.99, seed=1)[1]], minlength=4).tolist() == [9, 1, 0, 4]


def test_each_digit_of_yours_is_trained_on_repeats_times_an_epoch_and_a_held_out_one_never():
    labels = np.repeat(np.arange(10), 5)
    numbered = np.arange(len(labels), dtype=np.float32)[:, None, None, None] * np.ones((1, 28, 28, 1), np.float32)
    mnist = (np.full((1000, 28, 28, 1), -1, np.float32), one_hot(np.arange(1000) % 10))  # MNIST's marked -1
    settings = TuneSettings(repeats=3, mnist_share=2)
    data = tuning_data(UserDigits(numbered, labels, [], []), mnist, settings)
    tuned, held = held_out_indices(labels, settings.held_out, settings.seed)
    trained = data.train[0][: -data.validation_size, 0, 0, 0]
    assert np.bincount(trained[trained >= 0].astype(int), minlength=len(labels))[tuned].tolist() == [3] * len(tuned)
    assert not np.isin(trained, held).any()  # the held-out digits are never trained on
    assert np.sum(trained < 0) == 2 * len(tuned) == 2 * data.tuned_digits  # MNIST's share per digit, not per repeat
    assert data.train[0][-data.validation_size :][: len(held), 0, 0, 0].tolist() == held.tolist()


def test_the_tune_run_trains_at_the_settings_constant_rate_smoothed_and_augmented():
    settings = TuneSettings(learning_rate=1e-4, epochs=3, label_smoothing=0.2, max_shift=0.05, max_rotation=0.02)
    config = tuning_config(settings, validation_split=0.25, precision="float32")
    assert (config.learning_rate, config.lr_schedule, config.epochs) == (1e-4, "constant", 3)
    assert (config.label_smoothing, config.max_shift, config.max_rotation) == (0.2, 0.05, 0.02)
    assert (config.validation_split, config.calibrate, config.seed) == (0.25, True, settings.seed)


def test_when_training_ends_the_trained_layers_are_mixed_back_towards_the_source_and_frozen_ones_kept():
    layers = [keras.Input((2,)), keras.layers.Dense(2, name="frozen"), keras.layers.Dense(2, name="tuned")]
    model = keras.Sequential(layers)
    model.get_layer("frozen").trainable = False
    source = keras.models.clone_model(model)
    source.set_weights([np.zeros_like(weight) for weight in model.get_weights()])
    frozen = model.get_layer("frozen").get_weights()
    for weight in model.get_layer("tuned").weights:
        weight.assign(np.ones(weight.shape))
    mixing = WeightsMixedBack(source, mix=0.7)
    mixing.set_model(model)
    mixing.on_train_end()
    assert all(np.allclose(weight, 0.7) for weight in model.get_layer("tuned").get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(model.get_layer("frozen").get_weights(), frozen, strict=True))


def test_the_test_accuracy_before_comes_from_the_source_runs_results_only_where_it_tested_on_the_same_data(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"a model")
    (tmp_path / "best.keras").write_bytes(b"another")
    results = {"train_images": 54000, "validation_images": 6000, "test_accuracy": 0.9921}
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert recorded_test_accuracy(tmp_path / "model.keras", 60000) == 0.9921
    assert recorded_test_accuracy(tmp_path / "model.keras", 2000) is None  # another dataset: scored instead
    assert recorded_test_accuracy(tmp_path / "best.keras", 60000) is None  # the results are model.keras's


def test_tune_flags_make_its_settings_and_a_bad_one_is_one_line(capsys):
    parsed = build_parser().parse_args(["tune", "m.keras", "photo.jpg", "--layers", "dense", "--mnist-share", "3"])
    assert tune_settings_from(parsed) == TuneSettings(layers="dense", mnist_share=3)
    assert parsed.sources == [Path("photo.jpg")]
    with pytest.raises(ConfigError, match="held_out must be in"):
        TuneSettings(held_out=1.0)
    status, out, err = run(["tune", "m.keras", "photo.jpg", "--epochs", "0"], capsys)
    assert (status, out, err) == (1, "", "error: epochs must be at least 1, not 0\n")
    status, _, err = run(["tune", "m.keras", "photo.jpg", "--dataset", "fashion"], capsys)
    assert status == 2 and "invalid choice: 'fashion'" in err  # clothes are no digits to mix in


@pytest.mark.parametrize(
    "source, message",
    [
        ("missing model", "error: missing.keras: no such model file"),
        ("no such source", "error: nothing: no such file or folder"),
        ("folder without digit subfolders", "error: empty: no subfolders 0 ... 9"),
        ("no digits", "error: no digits to learn from in junk: 1 not learnt, the first junk/4/notes.txt: not a"),
        ("not a photo", "error: notes.jpg: not a readable image"),
        ("the source's own folder", "error: "),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(source, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("empty").mkdir()
    Path("junk/4").mkdir(parents=True)
    Path("junk/4/notes.txt").write_text("not an image")
    Path("notes.jpg").write_text("not a photo")
    Path("runs/mine").mkdir(parents=True)
    shutil.copy(READING_MODEL, "runs/mine/model.keras")
    arguments = {
        "missing model": ["missing.keras", "empty"],
        "no such source": ["runs/mine/model.keras", "nothing"],
        "folder without digit subfolders": ["runs/mine/model.keras", "empty"],
        "no digits": ["runs/mine/model.keras", "junk"],
        "not a photo": ["runs/mine/model.keras", "notes.jpg"],
        "the source's own folder": ["runs/mine/model.keras", "junk", "--output", "runs/mine", "--replace"],
    }[source]
    before = sorted(str(path) for path in Path().rglob("*"))
    status, out, err = run(["tune", *arguments], capsys)
    assert status == 1 and out == "" and err.count("\n") == 1 and err.startswith(message), err
    if source == "the source's own folder":
        assert "holds the model being tuned" in err
    assert sorted(str(path) for path in Path().rglob("*")) == before


def test_sheet_writes_the_pdf_and_the_png_on_the_paper_asked_for(tmp_path, capsys):
    assert set(PAPERS) == set(SHEET_PAPERS)
    status, out, _ = run(["sheet", "--paper", "letter", "--output", tmp_path / "mine.pdf"], capsys)
    assert status == 0 and f"{tmp_path / 'mine.pdf'} and {tmp_path / 'mine.png'}" in out
    with Image.open(tmp_path / "mine.png") as png:
        assert png.width / png.height == pytest.approx(8.5 / 11, abs=0.002)  # Letter, not A4
    assert (tmp_path / "mine.pdf").read_bytes().startswith(b"%PDF")
    status, _, err = run(["sheet", "--output", tmp_path / "mine.jpg"], capsys)
    assert status == 2 and "a .pdf and a .png" in err


def test_sheet_read_says_what_each_photo_holds_and_saves_its_contact_sheet_to_check(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run(["sheet", "--output", "blank.png"], capsys)
    Path("notes.jpg").write_text("not a photo")
    status, out, err = run(["sheet", "--read", "blank.png", "notes.jpg"], capsys)
    assert status == 1 and out.splitlines()[0] == "blank.png: 0 digits read"
    assert "to check: blank-contact.png" in out and Image.open("blank-contact.png").width > 500
    assert err.startswith("error: notes.jpg: not a readable image") and err.count("\n") == 1
    written = sorted(path.name for path in tmp_path.iterdir())
    assert written == ["blank-contact.png", "blank.pdf", "blank.png", "notes.jpg"]  # nothing half-written


# Fine-tuning.


@pytest.mark.backend
def test_tune_reads_the_users_hand_better_in_a_new_run_and_leaves_the_model_as_it_was(
    slanted_sample, digit_folder, reading_model_file, tmp_path, monkeypatch, capsys
):
    images, labels = slanted_sample
    rng = np.random.default_rng(5)
    written, on_sheet = {}, []
    for row in range(10):
        chosen = rng.choice(np.flatnonzero(labels[:FOLDER_FROM] == row), 8, replace=False)
        written.update({(row, column): images[index] for column, index in enumerate(chosen)})
        on_sheet.extend(chosen)
    written[4, 9] = np.pad(np.ones((24, 24)), 2)  # a box blacked out
    photo = sheet_photo(filled_sheet(written, rng=rng), rng, tmp_path / "sheet.jpg", hard=False)
    model = shutil.copy(reading_model_file, tmp_path / "reading.keras")
    shutil.copy(reading_model_file.with_suffix(".novelty.npz"), tmp_path / "reading.novelty.npz")
    source_hash = file_hash(model)
    monkeypatch.chdir(tmp_path)

    status, out, err = run(["tune", model, photo, digit_folder, "--dataset", "sample", *QUICK_TUNE], capsys)

    assert status == 0, err
    output = Path("runs/reading-tuned")
    lines = out.splitlines()
    assert (
        f"{photo}: 80 digits read, 1 not learnt:" in lines
        and f"  {photo}: row 4, box 10: scribble, not learnt" in lines
    )
    assert f"{digit_folder}: 30 digits read, 3 not learnt:" in lines
    tuning = json.loads((output / "tuning.json").read_text())
    assert tuning["held_out_digits"] == 30 and tuning["tuned_digits"] == 80 and tuning["mnist_digits"] == 80
    assert tuning["held_out_before"] < 0.85  # the slanted hand is read worse ...
    assert tuning["held_out_after"] > tuning["held_out_before"]  # ... and better once tuned on
    assert tuning["mnist_test_after"] >= tuning["mnist_test_before"] - 0.02  # MNIST's kept
    assert (
        f"Your 30 held-out digits (never trained on): {tuning['held_out_before']:.1%} -> {tuning['held_out_after']:.1%}"
    ) in lines
    before, after = tuning["mnist_test_before"], tuning["mnist_test_after"]
    assert f"MNIST sample test accuracy (1,000 digits): {before:.2%} -> {after:.2%}" in lines
    assert f"Contact sheet of what was read, to check: {output / 'contact-sheet-1.png'}" in lines
    with Image.open(output / "contact-sheet-1.png") as contact:
        assert contact.width > 500
    assert file_hash(model) == source_hash  # the source model untouched
    results = json.loads((output / "results.json").read_text())
    assert results["tuned_from_sha256"] == source_hash and results["test_accuracy"] == tuning["mnist_test_after"]
    assert (output / "model.novelty.npz").exists() and results["temperature"] is not None
    tuned = output / "model.keras"
    unseen = np.setdiff1d(np.arange(FOLDER_FROM), on_sheet)  # more of the hand, neither trained on nor held out
    read = [predict_probabilities(load_model(path), images[unseen, ..., None]).argmax(1) for path in (model, tuned)]
    read_before, read_after = ((answers == labels[unseen]).mean() for answers in read)
    assert read_after >= read_before + 0.1, (read_before, read_after)


@pytest.mark.backend
def test_an_interrupted_tune_resumes_only_with_the_same_digits_and_a_finished_one_is_kept(
    slanted_sample, sample_data, trained_run, tmp_path
):
    images, labels = slanted_sample
    digits = UserDigits(images[:40, ..., np.newaxis].astype(np.float32), labels[:40], [], [])
    other = UserDigits(digits.images[::-1].copy(), digits.labels[::-1].copy(), [], [])
    settings = TuneSettings(epochs=2, mnist_share=1, layers="dense")
    train, test = sample_data
    mnist = (train, (test[0][:200], test[1][:200]))
    folder = tmp_path / "tuned"

    def tune(user, **more):
        return fine_tune(trained_run.files.model, user, folder, mnist=mnist, settings=settings, verbose=0, **more)

    with pytest.raises(KeyboardInterrupt):
        tune(digits, callbacks=[StopAfterFirstEpoch()])
    with pytest.raises(RunConflictError, match="other settings .*user_digits_sha256"):
        tune(other)
    epochs = Epochs()
    result = tune(digits, callbacks=[epochs])
    assert epochs.trained == [1] and len(result.run.history["loss"]) == 2  # resumed after the first epoch
    source = load_model(trained_run.files.model)
    kept = [layer for layer in result.run.model.layers if layer.weights and not isinstance(layer, keras.layers.Dense)]
    assert all(
        np.array_equal(layer.get_weights()[0], source.get_layer(layer.name).get_weights()[0]) for layer in kept
    )  # --layers dense: the convolutions as they were
    saved = file_hash(folder / "model.keras")
    given = load_model(trained_run.files.model)
    with pytest.raises(RunConflictError, match="holds a finished run"):
        tune(digits, source=given)
    assert file_hash(folder / "model.keras") == saved
    assert all(layer.trainable for layer in given.layers)  # the caller's model is not frozen: its copy is
