"""Training on the shipped sample learns, is reproducible, keeps the test set for the end, and gives Keras' fit the
data, batches and callbacks it should. The run folder's own tests (resuming, replacing) are in test_runs.py."""

import inspect
import json

import keras
import numpy as np
import pytest
from cloudmesh.common.StopWatch import StopWatch

from mnist_cnn.analysis import evaluation_report
from mnist_cnn.config import RECIPES, SEED_RECIPE, ConfigError, config_for
from mnist_cnn.data import load_data
from mnist_cnn.model import build_model, load_model
from mnist_cnn.pipeline import TrainingBatches
from mnist_cnn.train import compile_model, fit_arguments, learning_rate, steps_per_epoch, train_and_evaluate

from conftest import QUICK_CONFIG, QUICK_VALIDATED


class FitCalled(Exception):
    pass


def spy_on_keras_fit(patch, seen, then_train=True):
    """Note the arguments of each call of Keras' `Model.fit` (by name) in `seen`; train, or raise FitCalled."""
    real_fit = keras.Model.fit

    def spy_fit(model, *args, **kwargs):
        seen.append(inspect.signature(real_fit).bind(model, *args, **kwargs).arguments)
        if not then_train:
            raise FitCalled
        return real_fit(model, *args, **kwargs)

    patch.setattr(keras.Model, "fit", spy_fit)


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
    real_predict, real_predict_on_batch = keras.Model.predict, keras.Model.predict_on_batch
    real_evaluate = keras.Model.evaluate

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
        spy_on_keras_fit(patch, seen["fit"])
        patch.setattr(keras.Model, "predict", spy_predict)
        patch.setattr(keras.Model, "predict_on_batch", spy_predict_on_batch)
        patch.setattr(keras.Model, "evaluate", spy_evaluate)
        result = train_and_evaluate(QUICK_VALIDATED, sample_data, folder, verbose=0)
    return result, seen, folder


@pytest.mark.backend
def test_validation_is_carved_from_training_and_the_test_set_is_scored_once(sample_data, validated_run):
    (x_train, y_train), (x_test, _) = sample_data
    result, seen, folder = validated_run
    (given,) = seen["fit"]
    train, validation = (x_train[:1800], y_train[:1800]), (x_train[1800:], y_train[1800:])  # as Keras' validation_split
    for name, value in fit_arguments(result.trained_config, train, validation).items():
        np.testing.assert_equal(given[name], value, err_msg=name)
    validated_on = given["validation_data"][0]
    test_passes = [images for images in seen["predicted"] if images is x_test]
    assert len(test_passes) == 1  # the test images went through the model once
    training_rows = {row.tobytes() for row in x_train[:1800]}  # the novelty check's bank comes from training digits
    assert all(
        images is x_test or images is validated_on or all(row.tobytes() in training_rows for row in images)
        for images in seen["predicted"]
    )
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
        "model.novelty.npz",
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


def test_timings_are_the_stages_this_run_took_and_the_load_it_was_given(sample_data):
    data = load_data("sample")
    load_s = StopWatch.get("load")
    calibrated = train_and_evaluate(
        QUICK_VALIDATED.replace(epochs=1, steps_per_epoch=1), data, verbose=0, load_s=load_s
    )
    assert set(calibrated.timings) == {"load", "build", "train", "calibrate", "novelty", "evaluate"}
    assert calibrated.timings["load"] == load_s
    later = train_and_evaluate(QUICK_CONFIG.replace(epochs=1, steps_per_epoch=1), data, verbose=0)
    assert set(later.timings) == {"build", "train", "novelty", "evaluate"}
    assert StopWatch.get("load") is not None and StopWatch.get("calibrate") is not None  # StopWatch's table has them


@pytest.mark.backend
def test_no_callback_makes_each_training_step_wait_for_the_last(monkeypatch, tmp_path, sample_data):
    # A callback that handles batch ends and is not `async_safe` makes every step wait (docs/run-folder.md).
    seen = []
    spy_on_keras_fit(monkeypatch, seen, then_train=False)
    with pytest.raises(FitCalled):
        train_and_evaluate(QUICK_VALIDATED, sample_data, tmp_path / "run", verbose=0)
    given = seen[0]["callbacks"]
    batch_ends = ("on_batch_end", "on_train_batch_end")
    waiting = [
        type(callback).__name__
        for callback in given
        if not getattr(callback, "async_safe", False)
        and any(getattr(type(callback), hook) is not getattr(keras.callbacks.Callback, hook) for hook in batch_ends)
    ]
    assert given and not waiting


def test_the_input_pipeline_takes_batches_only_where_it_must_or_is_asked(sample_data):
    assert RECIPES["fast"].input_pipeline == RECIPES["accurate"].input_pipeline == "auto"
    validation = sample_data[1]
    for recipe, changes, batches in [
        ("fast", {}, False),  # nothing augmented: the arrays, as the seed
        ("seed", {}, False),
        ("accurate", {}, True),  # augmented: the package's batches
        ("fast", {"input_pipeline": "batches"}, True),  # asked for: the same order on every backend
        ("seed", {"max_shift": 0.1}, True),
    ]:
        config = config_for(recipe, steps_per_epoch=1, **changes)
        given = fit_arguments(config, sample_data[0], validation)
        assert isinstance(given["x"], TrainingBatches) == batches, (recipe, changes)
        if batches:  # the batches shuffle themselves: Keras must not
            assert given["shuffle"] is False and "y" not in given and "batch_size" not in given
            assert len(given["x"]) == 1  # steps_per_epoch: the first batch only
        else:
            assert given["x"] is not None and given["batch_size"] == config.batch_size and "shuffle" not in given
            assert len(given["x"]) == len(given["y"]) == config.batch_size  # steps_per_epoch: the first batch only
        assert given["epochs"] == config.epochs and given["validation_data"] is validation
        assert given["validation_batch_size"] == config.batch_size
    with pytest.raises(ConfigError, match="augmentation .* needs input_pipeline 'batches' or 'auto'"):
        config_for("fast", max_rotation=0.1, input_pipeline="arrays")
