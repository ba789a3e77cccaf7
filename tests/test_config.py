"""Config: the recipes are as written, every setting is described once and checked where it enters, in one line."""

import dataclasses
import json
import math

import numpy as np
import pytest

from mnist_cnn.config import (
    CHOICES,
    DEFAULT_RECIPE,
    RECIPES,
    SEED_RECIPE,
    Config,
    ConfigError,
    Range,
    config_for,
)


def test_seed_recipe_has_the_seed_notebooks_values():
    seed = config_for("seed")
    assert (seed.batch_size, seed.epochs, seed.filters, seed.kernel_size, seed.pool_size) == (128, 10, 64, 3, 2)
    assert (seed.dropout, seed.optimizer, seed.learning_rate, seed.lr_schedule) == (0.2, "adam", 0.001, "constant")
    assert (seed.label_smoothing, seed.max_shift, seed.max_rotation) == (0, 0, 0)
    assert (seed.validation_split, seed.calibrate, seed.precision) == (0, False, "float32")
    assert seed == Config() == SEED_RECIPE


def test_tuned_recipes_hold_out_validation_and_calibrate():
    for name in ("fast", "accurate"):
        recipe = RECIPES[name]
        assert recipe.validation_split == 0.1 and recipe.calibrate, name
        assert recipe.filters == 64 and recipe.dropout == 0.2  # the same network


def test_the_gpu_recipe_is_the_fast_one_sized_for_a_gpu():
    gpu, fast = RECIPES["gpu"], RECIPES["fast"]
    assert gpu == fast.replace(
        batch_size=1000, learning_rate=0.01, epochs=4, steps_per_execution=16, precision="float32"
    )
    assert DEFAULT_RECIPE == "fast"


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
    with pytest.raises(TypeError):
        SEED_RECIPE.replace(epoch=3)  # a misspelt name is no setting


def test_the_input_pipeline_takes_batches_where_images_are_augmented_or_it_is_asked():
    assert RECIPES["fast"].input_pipeline == RECIPES["accurate"].input_pipeline == "auto"
    assert not RECIPES["fast"].feeds_batches and not RECIPES["seed"].feeds_batches
    assert RECIPES["accurate"].augments and RECIPES["accurate"].feeds_batches
    assert config_for("fast", input_pipeline="batches").feeds_batches
    assert config_for("seed", max_shift=0.1).feeds_batches
    with pytest.raises(ConfigError, match="augmentation .* needs input_pipeline 'batches' or 'auto'"):
        config_for("fast", max_rotation=0.1, input_pipeline="arrays")


def test_every_setting_is_described_once_in_its_field():
    for setting in dataclasses.fields(Config):
        text = setting.metadata.get("help", "")
        assert len(text.split()) >= 3, setting.name  # words, not a placeholder
        assert text == text.strip() and "  " not in text, setting.name


def test_choices_are_the_fields_own_and_each_one_is_taken():
    described = {setting.name for setting in dataclasses.fields(Config) if "choices" in setting.metadata}
    assert set(CHOICES) == described == {"optimizer", "lr_schedule", "input_pipeline", "precision"}
    for name, choices in CHOICES.items():
        assert all(getattr(config_for("seed", **{name: choice}), name) == choice for choice in choices)
        assert {getattr(recipe, name) for recipe in RECIPES.values()} <= set(choices)  # each recipe's is offered


def test_a_range_says_what_it_accepts_as_a_sentence_ends():
    assert str(Range(1)) == "at least 1"
    assert str(Range(0, low_open=True)) == "greater than 0"
    assert str(Range(0, 1, high_open=True)) == "in [0, 1)"
    assert str(Range(0, 10, low_open=True)) == "in (0, 10]"
    assert str(Range(0, 2**32 - 1)) == "in [0, 4,294,967,295]"
    assert 0 in Range(0, 1) and 1 in Range(0, 1) and 1 not in Range(0, 1, high_open=True)
    assert math.nan not in Range(0, 1) and math.inf not in Range(1) and True not in Range(0, 1) and "1" not in Range(0)


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


CONFIG_RANGES = [
    ("filters", 0, "filters must be at least 1, not 0"),
    ("epochs", 0, "epochs must be at least 1, not 0"),
    ("dropout", 1.0, "dropout must be in [0, 1), not 1.0"),
    ("learning_rate", 0, "learning_rate must be in (0, 10], not 0.0"),
    ("learning_rate", 10.5, "learning_rate must be in (0, 10], not 10.5"),
    ("warmup_epochs", 11, "warmup_epochs must be in [0, 10], not 11.0"),
    ("max_rotation", 1.5, "max_rotation must be in [0, 1], not 1.5"),
    ("validation_split", -0.1, "validation_split must be in [0, 1), not -0.1"),
    ("seed", -1, "seed must be in [0, 4,294,967,295], not -1"),
    ("seed", 2**32, "seed must be in [0, 4,294,967,295], not 4294967296"),
    ("kernel_size", 4, "kernel_size 4 with pool_size 2 leaves the last convolution 3x3 pixels: kernel_size must be"),
]


@pytest.mark.parametrize(("name", "value", "message"), CONFIG_RANGES, ids=[f"{n}={v!r}" for n, v, _ in CONFIG_RANGES])
def test_each_setting_is_checked_for_its_range_in_one_line(name, value, message):
    with pytest.raises(ConfigError) as error:
        SEED_RECIPE.replace(**{name: value})
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_the_ends_of_each_range_are_taken():
    ends = {"dropout": 0.0, "learning_rate": 10, "warmup_epochs": 10, "max_rotation": 1, "seed": 2**32 - 1}
    assert all(getattr(SEED_RECIPE.replace(**{name: end}), name) == end for name, end in ends.items())
    assert SEED_RECIPE.replace(devices="all").devices == "all"


def test_settings_of_the_right_kind_are_taken_as_python_values():
    config = SEED_RECIPE.replace(
        epochs=np.int64(3), learning_rate=1, dropout=np.float32(0.5), calibrate=False, devices=2, steps_per_epoch=None
    )
    assert (config.epochs, config.learning_rate, config.dropout, config.devices) == (3, 1.0, 0.5, "2")
    assert [type(value) for value in (config.epochs, config.learning_rate, config.dropout)] == [int, float, float]
    json.dumps(dataclasses.asdict(config))  # written to run.json and results.json as it is
