"""Training on the shipped sample learns, is reproducible, and leaves a complete run on disk."""

import json

import keras
import numpy as np
import pytest

from mnist_cnn.config import BEST_RECIPE, SEED_RECIPE, Config, ConfigError, config_for
from mnist_cnn.model import build_model
from mnist_cnn.train import compile_model, learning_rate, read_epoch_log, steps_per_epoch, train_and_evaluate

from conftest import QUICK_CONFIG


def test_seed_recipe_is_the_seed_notebooks():
    assert Config() == SEED_RECIPE
    assert (SEED_RECIPE.batch_size, SEED_RECIPE.epochs, SEED_RECIPE.filters) == (128, 10, 64)
    assert (SEED_RECIPE.kernel_size, SEED_RECIPE.pool_size, SEED_RECIPE.dropout) == (3, 2, 0.2)
    assert (SEED_RECIPE.optimizer, SEED_RECIPE.learning_rate, SEED_RECIPE.lr_schedule) == ("adam", 0.001, "constant")
    assert SEED_RECIPE.label_smoothing == 0 and not SEED_RECIPE.augments


def test_recipes_and_overrides():
    assert config_for("best") == BEST_RECIPE
    assert config_for("seed", epochs=2, batch_size=None).epochs == 2
    with pytest.raises(ConfigError, match="unknown recipe 'fast'"):
        config_for("fast")
    with pytest.raises(ConfigError, match="optimizer must be one of"):
        config_for("seed", optimizer="adamax")
    with pytest.raises(ConfigError, match="batch_size must be at least 1"):
        config_for("seed", batch_size=0)
    with pytest.raises(ConfigError, match="needs input_pipeline='tf.data'"):
        config_for("seed", max_shift=0.1)


def test_compiled_like_the_seed():
    model = compile_model(build_model(), SEED_RECIPE, train_size=60_000)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001)
    assert model.loss.get_config()["label_smoothing"] == 0


def test_cosine_schedule_warms_up_then_decays_to_zero():
    config = SEED_RECIPE.replace(lr_schedule="cosine", learning_rate=0.003, warmup_epochs=1, epochs=10)
    schedule = learning_rate(config, steps=1000)
    rates = [float(schedule(step)) for step in (0, 50, 100, 550, 1000)]
    assert rates[0] == 0 and rates[1] == pytest.approx(0.0015) and rates[2] == pytest.approx(0.003)
    assert rates[3] == pytest.approx(0.0015, rel=1e-3) and rates[4] == pytest.approx(0, abs=1e-9)


def test_schedule_spans_the_steps_actually_trained():
    assert steps_per_epoch(SEED_RECIPE, 60_000) == 469  # as in the seed notebook's log
    assert steps_per_epoch(SEED_RECIPE.replace(steps_per_epoch=5), 60_000) == 5


def test_short_training_on_the_sample_learns(trained_run):
    assert trained_run.test_accuracy > 0.7  # chance is 0.1
    assert trained_run.history["loss"][-1] < trained_run.history["loss"][0]
    assert set(trained_run.timings) == {"load", "build", "train", "evaluate"}


def test_run_leaves_its_files_and_no_partial_ones(trained_run):
    files = trained_run.files
    assert sorted(path.name for path in files.folder.iterdir()) == [
        "best.keras",
        "epochs.csv",
        "history.json",
        "model.keras",
        "results.json",
    ]
    history = json.loads(files.history.read_text())
    assert len(history["val_accuracy"]) == QUICK_CONFIG.epochs
    results = json.loads(files.results.read_text())
    assert results["test_accuracy"] == pytest.approx(trained_run.test_accuracy)
    assert results["config"]["epochs"] == QUICK_CONFIG.epochs


def test_same_seed_same_run(sample_data):
    config = QUICK_CONFIG.replace(epochs=1, steps_per_epoch=4)
    first = train_and_evaluate(config, sample_data, verbose=0)
    second = train_and_evaluate(config, sample_data, verbose=0)
    np.testing.assert_allclose(first.history["loss"], second.history["loss"], rtol=1e-4)
    assert first.test_accuracy == pytest.approx(second.test_accuracy, abs=1e-3)


def test_best_recipe_trains_with_augmentation(sample_data):
    config = BEST_RECIPE.replace(epochs=2, steps_per_epoch=3, max_shift=0.1, max_rotation=0.05)
    assert config.augments and config.input_pipeline == "tf.data"
    result = train_and_evaluate(config, sample_data, verbose=0)
    assert len(result.history["loss"]) == 2


def test_epoch_log_keeps_the_last_row_of_a_redone_epoch(tmp_path):
    log = tmp_path / "epochs.csv"
    log.write_text("epoch,accuracy,loss\n0,0.5,2.0\n1,0.6,1.5\n1,0.7,1.4\n2,0.8,1.0\n")
    assert read_epoch_log(log) == {"accuracy": [0.5, 0.7, 0.8], "loss": [2.0, 1.4, 1.0]}
