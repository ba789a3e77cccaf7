"""The model is the seed's exactly; it saves, reloads and is refused when a file is not ours."""

import logging
import os
import shutil
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

from mnist_cnn import model as model_module
from mnist_cnn.backend import BACKENDS, installed
from mnist_cnn.errors import ModelFileError
from mnist_cnn.model import (
    build_model,
    load_model,
    plot_architecture,
    predict_outputs,
    predict_probabilities,
    save_model,
)

# The seed notebook's model.summary(): layer type, output shape, parameters.
SEED_SUMMARY = [
    ("Conv2D", (None, 28, 28, 64), 640),
    ("MaxPooling2D", (None, 14, 14, 64), 0),
    ("Conv2D", (None, 14, 14, 64), 36928),
    ("MaxPooling2D", (None, 7, 7, 64), 0),
    ("Conv2D", (None, 7, 7, 64), 36928),
    ("MaxPooling2D", (None, 3, 3, 64), 0),
    ("Conv2D", (None, 1, 1, 64), 36928),
    ("Flatten", (None, 64), 0),
    ("Dropout", (None, 64), 0),
    ("Dense", (None, 10), 650),
    ("Activation", (None, 10), 0),
]


@pytest.mark.backend
def test_model_is_the_seeds_layer_by_layer():
    model = build_model()
    summary = [(type(layer).__name__, layer.output.shape, layer.count_params()) for layer in model.layers]
    assert summary == SEED_SUMMARY
    assert model.count_params() == 112_074
    assert model.layers[-1].get_config()["activation"] == "softmax"
    assert [layer.get_config().get("padding") for layer in model.layers if "Conv" in type(layer).__name__] == [
        "same",
        "same",
        "same",
        "valid",
    ]


@pytest.mark.backend
def test_outputs_are_probabilities():
    images = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    probabilities = keras.ops.convert_to_numpy(build_model()(images))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_architecture_diagram(tmp_path):
    path = plot_architecture(build_model(), tmp_path / "cnn-mnist.png")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_architecture_diagram_without_graphviz_says_so_and_goes_on(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(model_module.shutil, "which", lambda name: None)
    with caplog.at_level(logging.WARNING):
        assert plot_architecture(build_model(), tmp_path / "cnn-mnist.png") is None
    assert len(caplog.records) == 1 and "Graphviz" in caplog.records[0].getMessage()
    assert not list(tmp_path.iterdir())


@pytest.mark.backend
def test_saved_model_reloads_with_the_same_predictions(trained_run, sample_data, tmp_path):
    path = save_model(trained_run.model, tmp_path / "model.keras")
    images = sample_data[1][0][:64]
    expected = trained_run.model.predict(images, verbose=0)
    np.testing.assert_allclose(load_model(path).predict(images, verbose=0), expected)
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def save_other_model(path):
    other = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)], name="other")
    other.save(path)
    return path


def save_model_with_code(path):
    # A Lambda layer holds Python code: safe mode must refuse to load it.
    layers = [keras.Input((28, 28, 1)), keras.layers.Lambda(lambda x: x * 2), keras.layers.Flatten()]
    sneaky = keras.Sequential([*layers, keras.layers.Dense(10)], name="mnist_cnn")
    sneaky.save(path)
    return path


def truncated_model(path, trained_run):
    save_model(trained_run.model, path)
    path.write_bytes(path.read_bytes()[:5000])
    return path


def zip_of_junk(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a model")
    return path


@pytest.mark.backend
@pytest.mark.parametrize(
    "make_file, message",
    [
        (lambda path, run: path, r"model.keras: no such model file"),
        (lambda path, run: (path.write_text("junk"), path)[1], r"not a Keras .keras model file"),
        (lambda path, run: truncated_model(path, run), r"model.keras: not a Keras .keras model file"),
        (lambda path, run: zip_of_junk(path), r"model.keras: cannot be loaded as a Keras model"),
        (lambda path, run: save_other_model(path), r"not a model of this package .* found 'other'"),
        (lambda path, run: save_model_with_code(path), r"model.keras: cannot be loaded as a Keras model"),
    ],
    ids=["missing", "text", "truncated", "zip-of-junk", "other-model", "lambda-code"],
)
def test_model_files_that_are_not_ours_are_refused(tmp_path, trained_run, make_file, message):
    path = make_file(tmp_path / "model.keras", trained_run)
    with pytest.raises(ModelFileError, match=message) as error:
        load_model(path)
    assert "\n" not in str(error.value)


def test_model_file_name_must_end_in_keras(trained_run, tmp_path):
    with pytest.raises(ModelFileError, match="must end in .keras"):
        save_model(trained_run.model, tmp_path / "model.h5")


@pytest.mark.backend
def test_a_network_of_several_outputs_gives_each_alike_for_one_image_and_within_a_long_batch(sample_data):
    images = sample_data[1][0][:5]
    probabilities = build_model()
    features = probabilities.get_layer(index=7).output  # the Flatten: 64 features
    network = keras.Model(probabilities.inputs, [features, probabilities.outputs[0]])
    alone = predict_outputs(network, images[:1])  # one batch: predict_on_batch
    within = predict_outputs(network, images, batch_size=2)  # several: predict
    assert [output.shape for output in alone] == [(1, 64), (1, 10)]
    assert [output.shape for output in within] == [(5, 64), (5, 10)]
    for one, many in zip(alone, within, strict=True):
        assert isinstance(one, np.ndarray)
        np.testing.assert_allclose(one, many[:1], atol=1e-5)


PREDICT_ON_ANOTHER_BACKEND = """
import sys

import numpy as np

from mnist_cnn.model import load_model, predict_probabilities

model = load_model(sys.argv[1])
np.save(sys.argv[3], predict_probabilities(model, np.load(sys.argv[2])))
print(model.name)
"""


@pytest.mark.backend
@pytest.mark.parametrize("other", BACKENDS)
def test_a_model_saved_on_one_backend_predicts_the_same_on_the_others(trained_run, sample_data, tmp_path, other):
    if other == keras.backend.backend():
        pytest.skip("the backend that saved the model: other tests load it there")
    if not installed(other):
        pytest.skip(f"{other} is not installed")
    model_path = save_model(trained_run.model, tmp_path / "model.keras")
    images = sample_data[1][0][:200]
    np.save(tmp_path / "images.npy", images)
    finished = subprocess.run(
        [sys.executable, "-c", PREDICT_ON_ANOTHER_BACKEND, model_path, tmp_path / "images.npy", tmp_path / "out.npy"],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": other},
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    expected = predict_probabilities(trained_run.model, images)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-5)
