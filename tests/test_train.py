"""Training on the shipped sample learns, is reproducible, keeps the test set for the end, and leaves a complete run
on disk that resumes only as the same run."""

import dataclasses
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from cloudmesh.common.StopWatch import StopWatch

from mnist_cnn import runs as runs_module
from mnist_cnn import train as train_module
from mnist_cnn.analysis import evaluation_report
from mnist_cnn.config import RECIPES, SEED_RECIPE, ConfigError, config_for
from mnist_cnn.data import load_data
from mnist_cnn.model import build_model, load_model
from mnist_cnn.pipeline import TrainingBatches, augment
from mnist_cnn.runs import BestModelCheckpoint, RunConflictError, read_epoch_log
from mnist_cnn.train import compile_model, learning_rate, steps_per_epoch, train_and_evaluate

from conftest import QUICK_CONFIG, QUICK_VALIDATED


def test_seed_recipe_has_the_seed_notebooks_values():
    seed = config_for("seed")
    assert (seed.batch_size, seed.epochs, seed.filters, seed.kernel_size, seed.pool_size) == (128, 10, 64, 3, 2)
    assert (seed.dropout, seed.optimizer, seed.learning_rate, seed.lr_schedule) == (0.2, "adam", 0.001, "constant")
    assert (seed.label_smoothing, seed.max_shift, seed.max_rotation) == (0, 0, 0)
    assert (seed.validation_split, seed.calibrate, seed.precision) == (0, False, "float32")


def test_tuned_recipes_hold_out_validation_and_calibrate():
    for name in ("fast", "accurate"):
        recipe = RECIPES[name]
        assert recipe.validation_split == 0.1 and recipe.calibrate, name
        assert recipe.filters == 64 and recipe.dropout == 0.2  # the same network


def test_overrides_and_bad_values():
    assert config_for("seed", epochs=2, batch_size=None).epochs == 2
    with pytest.raises(ConfigError, match="unknown recipe 'quick'"):
        config_for("quick")
    with pytest.raises(ConfigError, match="optimizer must be one of"):
        config_for("seed", optimizer="adamax")
    with pytest.raises(ConfigError, match="batch_size must be at least 1"):
        config_for("seed", batch_size=0)
    with pytest.raises(ConfigError, match="needs input_pipeline 'batches' or 'auto'"):
        config_for("seed", max_shift=0.1, input_pipeline="arrays")
    with pytest.raises(ConfigError, match="calibrate needs validation data"):
        config_for("seed", calibrate=True)
    with pytest.raises(ConfigError, match="precision must be one of"):
        config_for("seed", precision="int8")


@pytest.mark.backend
def test_compiled_like_the_seed():
    model = compile_model(build_model(), SEED_RECIPE, train_size=60_000)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001)
    assert model.loss.get_config()["label_smoothing"] == 0


@pytest.mark.backend
def test_learning_rate_per_step_warms_up_then_decays_to_zero():
    config = SEED_RECIPE.replace(lr_schedule="cosine", learning_rate=0.003, warmup_epochs=1, epochs=10)
    model = compile_model(build_model(config), config, train_size=100 * 128)  # 100 steps an epoch

    def rate_at(step):  # the rate the optimizer would use at this step
        model.optimizer.iterations.assign(step)
        return float(model.optimizer.learning_rate)

    rates = [rate_at(step) for step in (0, 50, 100, 550, 1000)]
    assert rates == pytest.approx([0, 0.0015, 0.003, 0.0015, 0], abs=1e-6)
    # steps_per_epoch caps the epochs, and the schedule spans the steps actually trained.
    capped = learning_rate(config.replace(steps_per_epoch=5), steps=50)
    assert float(capped(5)) == pytest.approx(0.003) and float(capped(50)) == pytest.approx(0, abs=1e-9)
    assert steps_per_epoch(SEED_RECIPE, 60_000) == 469  # as in the seed notebook's log


@pytest.mark.parametrize("moves", [(0.1, 0), (0, 0.03)], ids=["shift", "rotation"])
def test_augmented_batches_differ_from_the_originals_by_small_moves(sample_data, moves):
    images = sample_data[0][0][:32]
    moved = augment(images, np.random.default_rng(0), *moves)
    assert moved.shape == images.shape and moved.dtype == images.dtype
    assert np.abs(moved - images).mean() > 0.01  # moved...
    ink_before, ink_after = images.sum(axis=(1, 2, 3)), moved.sum(axis=(1, 2, 3))
    np.testing.assert_allclose(ink_after, ink_before, rtol=0.25)  # ...but the digit stays in the frame


def test_augmentation_moves_by_the_amount_asked():
    dot = np.zeros((1, 28, 28, 1), np.float32)
    dot[0, 10, 20, 0] = 1  # 3.5 pixels above the centre (13.5, 13.5) and 6.5 right of it

    class Largest:  # draws the largest move each time
        def uniform(self, low, high, size):
            return np.full(size, high)

    def where(images):
        return tuple(int(side) for side in np.unravel_index(images[0, ..., 0].argmax(), (28, 28)))

    assert where(augment(dot, Largest(), max_shift=0, max_rotation=0)) == (10, 20)  # no move asked: none made
    assert where(augment(dot, Largest(), max_shift=2 / 28, max_rotation=0)) == (12, 22)  # 2 pixels down and right
    row, column = where(augment(dot, Largest(), max_shift=0, max_rotation=0.25))  # a quarter turn about the centre
    assert (row - 13.5, column - 13.5) in ((-6.5, -3.5), (6.5, 3.5))


def test_batches_cover_every_image_once_an_epoch_in_a_new_order(sample_data):
    train = sample_data[0]
    batches = TrainingBatches(train, SEED_RECIPE.replace(input_pipeline="batches", batch_size=300))
    assert len(batches) == 7  # 2,000 images: six of 300 and one of 200

    def epoch_order():
        images = np.concatenate([batches[index][0] for index in range(len(batches))])
        return [int(np.flatnonzero((train[0] == image).all(axis=(1, 2, 3)))[0]) for image in images[:50]], images

    first, first_images = epoch_order()
    assert sorted(first_images.sum(axis=(1, 2, 3))) == pytest.approx(sorted(train[0].sum(axis=(1, 2, 3))))
    batches.on_epoch_end()
    second, _ = epoch_order()
    assert first != second and first != list(range(50))
    again = TrainingBatches(train, SEED_RECIPE.replace(input_pipeline="batches", batch_size=300))
    np.testing.assert_array_equal(again[3][0], TrainingBatches(train, again.config)[3][0])  # seeded: the same


@pytest.mark.backend
def test_short_training_on_the_sample_learns(trained_run):
    assert trained_run.test_accuracy > 0.7  # chance is 0.1
    assert trained_run.history["loss"][-1] < trained_run.history["loss"][0]
    assert {"build", "train", "evaluate"} <= set(trained_run.timings)


@pytest.mark.backend
def test_seed_recipe_trains_on_all_training_images_without_validation(trained_run):
    assert trained_run.train_size == 2000 and trained_run.validation_size == 0
    assert "val_accuracy" not in trained_run.history and trained_run.temperature is None
    assert not trained_run.files.best_model.exists()  # nothing to choose the best epoch on


@pytest.fixture(scope="module")
def validated_run(sample_data, tmp_path_factory):
    """A run of the validated, calibrated recipe, with what it trained and validated on and every batch of images it
    predicted (the test set's among them), into a folder where a killed save had left half a best model."""
    folder = tmp_path_factory.mktemp("validated") / "run"
    folder.mkdir()
    (folder / ".best.partial.keras").write_bytes(b"half a model from a killed save")
    seen = {"fit": [], "predicted": []}
    real_fit, real_predict, real_predict_on_batch = train_module.fit, keras.Model.predict, keras.Model.predict_on_batch
    real_evaluate = keras.Model.evaluate

    def spy_fit(model, train, config, validation=None, **kwargs):
        seen["fit"].append((train[0], validation[0]))
        return real_fit(model, train, config, validation, **kwargs)

    def spy_predict(model, images, **kwargs):
        seen["predicted"].append(images)
        return real_predict(model, images, **kwargs)

    def spy_predict_on_batch(model, images):
        seen["predicted"].append(images)
        return real_predict_on_batch(model, images)

    def spy_evaluate(model, x=None, *args, **kwargs):
        seen["predicted"].append(x)
        return real_evaluate(model, x, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_module, "fit", spy_fit)
        patch.setattr(keras.Model, "predict", spy_predict)
        patch.setattr(keras.Model, "predict_on_batch", spy_predict_on_batch)
        patch.setattr(keras.Model, "evaluate", spy_evaluate)
        result = train_and_evaluate(QUICK_VALIDATED, sample_data, folder, verbose=0)
    return result, seen, folder


@pytest.mark.backend
def test_validation_is_carved_from_training_and_the_test_set_is_scored_once(sample_data, validated_run):
    (x_train, _), (x_test, _) = sample_data
    result, seen, folder = validated_run
    ((trained_on, validated_on),) = seen["fit"]
    np.testing.assert_array_equal(trained_on, x_train[:1800])
    np.testing.assert_array_equal(validated_on, x_train[1800:])  # the last 10%, as Keras' validation_split
    test_passes = [images for images in seen["predicted"] if images is x_test]
    assert len(test_passes) == 1  # the test images went through the model once
    assert all(images is x_test or images is validated_on for images in seen["predicted"])
    assert result.train_size == 1800 and result.validation_size == 200
    assert len(result.history["val_accuracy"]) == 2
    results = json.loads((folder / "results.json").read_text())
    assert results["validation_images"] == 200 and results["temperature"] == pytest.approx(result.temperature)


@pytest.mark.backend
def test_calibrated_run_saves_the_calibrated_model(sample_data, validated_run):
    result, _, folder = validated_run
    assert result.temperature is not None and result.temperature != 1.0
    saved = load_model(folder / "model.keras")
    images = sample_data[1][0][:16]
    np.testing.assert_allclose(saved.predict_on_batch(images), result.model.predict_on_batch(images), atol=1e-5)
    assert 0 <= result.test_calibration_error < 0.5


def test_a_stale_partial_best_model_is_never_taken_for_the_best(validated_run):
    _, _, folder = validated_run
    assert load_model(folder / "best.keras").name == "mnist_cnn"
    assert not (folder / ".best.partial.keras").exists()


@pytest.mark.backend
def test_run_leaves_its_files_and_no_partial_ones(trained_run, sample_data):
    files = trained_run.files
    assert sorted(path.name for path in files.folder.iterdir()) == [
        "epochs.csv",
        "history.json",
        "model.keras",
        "results.json",
    ]
    history = json.loads(files.history.read_text())
    assert len(history["loss"]) == QUICK_CONFIG.epochs
    results = json.loads(files.results.read_text())
    saved_model_accuracy = evaluation_report(load_model(files.model), sample_data[1]).accuracy
    assert results["test_accuracy"] == pytest.approx(saved_model_accuracy)


@pytest.mark.backend
@pytest.mark.parametrize("recipe", ["seed", "accurate"])
def test_same_seed_same_run_to_the_bit(sample_data, recipe):
    config = config_for(recipe, epochs=2, steps_per_epoch=4, precision="float32")
    first = train_and_evaluate(config, sample_data, verbose=0)
    second = train_and_evaluate(config, sample_data, verbose=0)
    for before, after in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    one_step_of_another_seed = config.replace(seed=config.seed + 1, epochs=1, steps_per_epoch=1)
    other_seed = train_and_evaluate(one_step_of_another_seed, sample_data, verbose=0)
    assert not np.array_equal(first.model.get_weights()[0], other_seed.model.get_weights()[0])


def test_a_later_run_has_no_load_time_nor_calibration_time_of_its_own(sample_data):
    data = load_data("sample")
    calibrated = train_and_evaluate(QUICK_VALIDATED.replace(epochs=1, steps_per_epoch=1), data, verbose=0)
    assert {"load", "calibrate"} <= set(calibrated.timings)
    later = train_and_evaluate(QUICK_CONFIG.replace(epochs=1, steps_per_epoch=1), data, verbose=0)
    assert set(later.timings) == {"build", "train", "evaluate"}
    assert StopWatch.get("load") is not None and StopWatch.get("calibrate") is not None  # StopWatch's table has them


class StopAfterFirstEpoch(keras.callbacks.Callback):
    """Interrupts training as Ctrl-C would, once the first epoch is saved."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt


def interrupted_run(config, data, folder):
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(config, data, folder, verbose=0, callbacks=[StopAfterFirstEpoch()])
    return (folder / "epochs.csv").read_bytes()


@pytest.mark.backend
def test_resume_keeps_the_finished_epochs_and_the_clock(sample_data, tmp_path):
    config = QUICK_VALIDATED.replace(epochs=3)
    folder = tmp_path / "run"
    first_epoch_log = interrupted_run(config, sample_data, folder)
    first = read_epoch_log(folder / "epochs.csv")
    result = train_and_evaluate(config, sample_data, folder, verbose=0)
    history = result.history
    assert len(history["loss"]) == 3
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

    restarted = train_and_evaluate(config.replace(epochs=2), sample_data, folder, verbose=0, restart=True)
    assert len(restarted.history["loss"]) == 2 and not (folder / "backup").exists()


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


def test_epoch_log_keeps_the_last_row_of_a_redone_epoch_and_skips_a_cut_row(tmp_path):
    log = tmp_path / "epochs.csv"
    log.write_text("epoch,accuracy,loss\n0,0.5,2.0\n1,0.6,1.5\n1,0.7,1.4\n2,0.8,1.0\n3,0.9")
    assert read_epoch_log(log) == {"accuracy": [0.5, 0.7, 0.8], "loss": [2.0, 1.4, 1.0]}


class FitCalled(Exception):
    pass


@pytest.mark.backend
def test_no_callback_makes_each_training_step_wait_for_the_last(monkeypatch, tmp_path, sample_data):
    # Keras sends a step to the device before the last has finished unless a callback that is not `async_safe`
    # handles batch ends: then every step waits (on an H100, the seed recipe ran 28% slower than the seed's code).
    given = []

    def spy_fit(model, train, config, validation=None, callbacks=None, verbose="auto"):
        given.extend(callbacks)
        raise FitCalled

    monkeypatch.setattr(train_module, "fit", spy_fit)
    with pytest.raises(FitCalled):
        train_and_evaluate(QUICK_VALIDATED, sample_data, output_dir=tmp_path / "run", verbose=0)
    batch_ends = ("on_batch_end", "on_train_batch_end")
    waiting = [
        type(callback).__name__
        for callback in given
        if not getattr(callback, "async_safe", False)
        and any(getattr(type(callback), hook) is not getattr(keras.callbacks.Callback, hook) for hook in batch_ends)
    ]
    assert given and not waiting


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
        "results.json",
    ]
    assert json.loads((folder / "results.json").read_text())["config"]["validation_split"] == 0


class LossBecomesNaN(keras.callbacks.Callback):
    """The loss of every epoch becomes NaN in the run's history, as where training diverges."""

    def on_epoch_end(self, epoch, logs=None):
        logs["loss"] = float("nan")


@pytest.mark.parametrize("failure", ["ctrl-c", "nan", "full-disk-at-save", "late-flag"])
def test_a_replacement_that_fails_leaves_the_finished_run_whole(
    sample_data, tmp_path, monkeypatch, failure, finished_run
):
    folder = tmp_path / "run"
    files = finished_run(folder)
    replace = {"data": sample_data, "output_dir": folder, "verbose": 0, "replace_finished": True}
    if failure == "ctrl-c":
        with pytest.raises(KeyboardInterrupt):
            train_and_evaluate(REPLACED, callbacks=[StopAfterFirstEpoch()], **replace)
    elif failure == "nan":
        with pytest.raises(train_module.DivergedError):
            train_and_evaluate(REPLACED, callbacks=[LossBecomesNaN()], **replace)
    elif failure == "full-disk-at-save":

        def disk_full(model, path):
            raise OSError(28, "No space left on device", str(path))

        monkeypatch.setattr(runs_module, "save_model", disk_full)
        with pytest.raises(OSError, match="No space left"):
            train_and_evaluate(REPLACED, **replace)
        monkeypatch.undo()
    else:  # an error found once the run has started: --tensorboard naming a file
        (tmp_path / "file").write_text("")
        with pytest.raises(train_module.TensorBoardError, match="not a folder"):
            train_and_evaluate(REPLACED, tensorboard_dir=tmp_path / "file", **replace)
    assert_whole(folder, files, sample_data)

    result = train_and_evaluate(REPLACED, **replace)  # the next --replace replaces it
    assert_replaced(folder)
    assert len(json.loads((folder / "history.json").read_text())["loss"]) == 2 and result.files.folder == folder
    np.testing.assert_array_equal(load_model(folder / "model.keras").get_weights()[0], result.model.get_weights()[0])


def test_an_interrupted_replacement_is_resumed_by_the_next(sample_data, tmp_path, finished_run):
    folder = tmp_path / "run"
    files = finished_run(folder)
    replace = {"data": sample_data, "output_dir": folder, "verbose": 0, "replace_finished": True}
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(REPLACED, callbacks=[StopAfterFirstEpoch()], **replace)
    assert_whole(folder, files, sample_data)
    first_epoch = read_epoch_log(folder / ".replacement" / "epochs.csv")

    class Epochs(keras.callbacks.Callback):
        trained = []

        def on_epoch_begin(self, epoch, logs=None):
            self.trained.append(epoch)

    result = train_and_evaluate(REPLACED, callbacks=[Epochs()], **replace)
    assert Epochs.trained == [1]  # epoch 0 was kept from the interrupted replacement
    assert result.history["loss"][0] == first_epoch["loss"][0] and len(result.history["loss"]) == 2
    assert not (folder / "best.keras").exists() and not (folder / ".replacement").exists()


def test_a_replacement_stopped_while_moving_in_is_moved_in_by_the_next_run(
    sample_data, tmp_path, monkeypatch, finished_run
):
    folder = tmp_path / "run"
    finished_run(folder)
    replace = {"data": sample_data, "output_dir": folder, "verbose": 0, "replace_finished": True}
    real_replace, real_move_in, moved = runs_module.os.replace, runs_module.RunFiles.move_in, []

    def killed_after_two_files(source, target):
        if Path(target).parent == folder:
            if len(moved) == 2:
                raise KeyboardInterrupt
            moved.append(target)
        real_replace(source, target)

    def move_in_killed_half_way(files, new):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(runs_module.os, "replace", killed_after_two_files)
            real_move_in(files, new)

    monkeypatch.setattr(runs_module.RunFiles, "move_in", move_in_killed_half_way)
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(REPLACED, **replace)
    monkeypatch.undo()
    assert (folder / "model.keras").exists()  # the old model: model.keras moves last
    with pytest.raises(RunConflictError, match="holds a finished run"):
        train_and_evaluate(REPLACED, data=sample_data, output_dir=folder, verbose=0)  # ... after the move is finished
    assert_replaced(folder)


class WorseThanEver(keras.callbacks.Callback):
    """Makes every epoch from `first` on score worse on validation than any before, before the checkpoint sees it."""

    def __init__(self, first):
        super().__init__()
        self.first = first

    def on_epoch_end(self, epoch, logs=None):
        if epoch >= self.first:
            logs["val_accuracy"] = 0.0


@pytest.mark.backend
def test_a_resumed_run_keeps_the_best_model_of_its_earlier_epochs(sample_data, tmp_path, monkeypatch):
    folder = tmp_path / "run"
    config = QUICK_VALIDATED.replace(epochs=3)
    interrupted_run(config, sample_data, folder)
    best_before = (folder / "best.keras").read_bytes()
    assert read_epoch_log(folder / "epochs.csv")["val_accuracy"][0] > 0
    real_run_callbacks = train_module.run_callbacks

    def worse_after_the_resume(files, validates):  # ahead of the run's callbacks, so that the checkpoint sees it
        return [WorseThanEver(first=1), *real_run_callbacks(files, validates)]

    monkeypatch.setattr(train_module, "run_callbacks", worse_after_the_resume)
    result = train_and_evaluate(config, sample_data, folder, verbose=0)
    assert result.history["val_accuracy"][1:] == [0.0, 0.0]  # the epochs after the resume: worse than the first
    assert (folder / "best.keras").read_bytes() == best_before


def test_augmentation_shifts_and_rotates_both_ways_about_nothing():
    rng = np.random.default_rng(0)
    drawn = {}

    class Recording:  # the generator augment draws from, noting what it drew
        def uniform(self, low, high, size):
            values = rng.uniform(low, high, size)
            drawn["angles" if np.ndim(values) == 1 else "shifts"] = values
            return values

    augment(np.zeros((2000, 28, 28, 1), np.float32), Recording(), max_shift=0.1, max_rotation=0.03)
    shifts, angles = drawn["shifts"] * 28, drawn["angles"] * 360  # pixels, degrees
    for values, limit in ((shifts[:, 0], 2.8), (shifts[:, 1], 2.8), (angles, 10.8)):
        assert values.min() < -limit / 2 and values.max() > limit / 2  # both ways, by much
        assert np.abs(values).max() <= limit and abs(values.mean()) < limit / 20  # within the limit, centred


def test_augmented_images_move_both_ways(sample_data):
    images = sample_data[0][0][:500]
    moved = augment(images, np.random.default_rng(1), max_shift=0.1, max_rotation=0)
    rows, columns = np.arange(28)[:, None], np.arange(28)[None, :]

    def centres(batch):
        ink = batch[..., 0].sum(axis=(1, 2))
        return (batch[..., 0] * rows).sum(axis=(1, 2)) / ink, (batch[..., 0] * columns).sum(axis=(1, 2)) / ink

    for before, after in zip(centres(images), centres(moved), strict=True):
        change = after - before
        assert (change < -1).sum() > 100 and (change > 1).sum() > 100 and abs(change.mean()) < 0.3


CONFIG_TYPES = [
    ("epochs", 2.5, "epochs must be an integer, not 2.5"),
    ("batch_size", 64.7, "batch_size must be an integer, not 64.7"),
    ("filters", True, "filters must be an integer, not True"),
    ("seed", 1.5, "seed must be an integer, not 1.5"),
    ("kernel_size", "3", "kernel_size must be an integer, not '3'"),
    ("pool_size", np.float32(2), "pool_size must be an integer, not np.float32(2.0)"),
    ("steps_per_execution", False, "steps_per_execution must be an integer, not False"),
    ("steps_per_epoch", 2.0, "steps_per_epoch must be an integer, not 2.0"),
    ("steps_per_epoch", True, "steps_per_epoch must be an integer, not True"),
    ("steps_per_epoch", 0, "steps_per_epoch must be at least 1, not 0"),
    ("dropout", True, "dropout must be a number, not True"),
    ("learning_rate", "0.1", "learning_rate must be a number, not '0.1'"),
    ("learning_rate", float("inf"), "learning_rate must be in (0, 10], not inf"),
    ("label_smoothing", float("nan"), "label_smoothing must be in [0, 1), not nan"),
    ("warmup_epochs", -float("inf"), "warmup_epochs must be in [0, 10], not -inf"),
    ("validation_split", None, "validation_split must be a number, not None"),
    ("max_shift", float("inf"), "max_shift must be in [0, 1), not inf"),
    ("max_rotation", False, "max_rotation must be a number, not False"),
    ("calibrate", 1, "calibrate must be True or False, not 1"),
    ("jit_compile", "yes", "jit_compile must be True or False, not 'yes'"),
    ("devices", 0, "devices must be 'all' or a number of at least 1, not '0'"),
    ("devices", 1.5, "devices must be 'all' or a number of at least 1, not 1.5"),
]


@pytest.mark.parametrize(("name", "value", "message"), CONFIG_TYPES, ids=[f"{n}={v!r}" for n, v, _ in CONFIG_TYPES])
def test_each_setting_is_checked_for_its_type_in_one_line(name, value, message):
    with pytest.raises(ConfigError) as error:
        SEED_RECIPE.replace(**{name: value})
    assert str(error.value) == message


def test_settings_of_the_right_kind_are_taken_as_python_values():
    config = SEED_RECIPE.replace(
        epochs=np.int64(3), learning_rate=1, dropout=np.float32(0.5), calibrate=False, devices=2, steps_per_epoch=None
    )
    assert (config.epochs, config.learning_rate, config.dropout, config.devices) == (3, 1.0, 0.5, "2")
    assert [type(value) for value in (config.epochs, config.learning_rate, config.dropout)] == [int, float, float]
    json.dumps(dataclasses.asdict(config))  # written to run.json and results.json as it is


@pytest.mark.backend
def test_the_input_pipeline_takes_batches_only_where_it_must_or_is_asked(sample_data, monkeypatch):
    given = {}

    def spy_fit(**inputs):
        given.update(inputs)
        raise FitCalled

    assert RECIPES["fast"].input_pipeline == RECIPES["accurate"].input_pipeline == "auto"
    for recipe, changes, batches in [
        ("fast", {}, False),  # nothing augmented: the arrays, as the seed
        ("seed", {}, False),
        ("accurate", {}, True),  # augmented: the package's batches
        ("fast", {"input_pipeline": "batches"}, True),  # asked for: the same order on every backend
        ("seed", {"max_shift": 0.1}, True),
    ]:
        config = config_for(recipe, steps_per_epoch=1, **changes)
        model = compile_model(build_model(config), config, 128)
        monkeypatch.setattr(model, "fit", spy_fit)
        with pytest.raises(FitCalled):
            train_module.fit(model, sample_data[0], config)
        assert isinstance(given["x"], TrainingBatches) == batches, (recipe, changes)
        if not batches:
            assert given["x"] is not None and given["batch_size"] == config.batch_size and "shuffle" not in given
    with pytest.raises(ConfigError, match="augmentation .* needs input_pipeline 'batches' or 'auto'"):
        config_for("fast", max_rotation=0.1, input_pipeline="arrays")
