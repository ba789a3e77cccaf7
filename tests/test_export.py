"""Exports for serving: each loaded by its own runtime predicts what the Keras model predicts."""

import keras
import numpy as np
import pytest

from mnist_cnn import export as export_module
from mnist_cnn.cli import main
from mnist_cnn.config import config_for
from mnist_cnn.export import (
    EXPORTS_FROM,
    FORMATS,
    ExportError,
    as_float32,
    check_format,
    export_model,
    exported_predictor,
)
from mnist_cnn.model import save_model
from mnist_cnn.train import train_and_evaluate

# Float32 all the way: the export and Keras may differ by the order of float additions only.
TOLERANCE = 1e-5

pytestmark = pytest.mark.backend


@pytest.mark.parametrize("export_format", list(FORMATS))
def test_export_predicts_as_the_keras_model(trained_run, sample_data, tmp_path, export_format, capsys):
    if keras.backend.backend() not in EXPORTS_FROM[export_format]:
        pytest.skip(f"{export_format} exports from TensorFlow only (the error is tested below)")
    model_path = save_model(trained_run.model, tmp_path / "model.keras")
    assert main(["export", str(model_path), "--format", export_format]) == 0
    path = {"saved_model": "model_saved_model", "litert": "model.tflite", "onnx": "model.onnx"}[export_format]
    assert f"to {tmp_path / path}" in capsys.readouterr().out
    images = sample_data[1][0]
    predict = exported_predictor(tmp_path / path, export_format)
    exported = np.concatenate([predict(images[start : start + 250]) for start in range(0, len(images), 250)])
    expected = trained_run.model.predict(images, verbose=0)
    np.testing.assert_allclose(exported, expected, atol=TOLERANCE)
    assert predict(images[:1]).shape == (1, 10)  # one image, as a server is asked
    assert not list(tmp_path.glob(".*partial*"))


def test_a_mixed_precision_model_is_exported_in_float32(sample_data, tmp_path):
    config = config_for("fast", epochs=1, steps_per_epoch=2, precision="mixed_bfloat16")  # whatever this CPU has
    model = train_and_evaluate(config, sample_data, verbose=0).model
    assert model.layers[0].dtype_policy.name == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"  # models built after the run are not mixed
    path = export_model(model, tmp_path / "model.onnx", "onnx")
    images = sample_data[1][0][:200]
    np.testing.assert_allclose(
        exported_predictor(path, "onnx")(images), as_float32(model).predict(images, verbose=0), atol=TOLERANCE
    )


def test_a_file_name_without_the_formats_suffix_is_one_clear_error(trained_run, tmp_path):
    with pytest.raises(ExportError, match=r"model.bin: an export to onnx must be named \*.onnx"):
        export_model(trained_run.model, tmp_path / "model.bin", "onnx")
    assert list(tmp_path.iterdir()) == []


def test_unknown_or_unavailable_formats_are_one_clear_error(monkeypatch):
    with pytest.raises(ExportError, match="unknown export format 'tfjs'"):
        check_format("tfjs")
    converter = {"tensorflow": "tf2onnx", "jax": "jax2onnx", "torch": "onnxscript"}[keras.backend.backend()]
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None if name == converter else object())
    with pytest.raises(
        ExportError,
        match=rf"the onnx export on {keras.backend.backend()} needs {converter}: pip install 'mnist-cnn\[export\]'",
    ):
        check_format("onnx")


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="TensorFlow exports every format")
@pytest.mark.parametrize("export_format", ["saved_model", "litert"])
def test_tensorflows_formats_on_another_backend_say_how_to_get_them(trained_run, tmp_path, export_format, capsys):
    model_path = save_model(trained_run.model, tmp_path / "model.keras")
    assert main(["export", str(model_path), "--format", export_format]) == 1
    assert capsys.readouterr().err.startswith(f"error: the {export_format} export needs the TensorFlow backend")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.keras"]


def test_before_keras_3_14_a_jax_model_exports_to_onnx_through_tensorflow(monkeypatch):
    # Colab's Keras 3.13 on a TPU runtime (no TensorFlow): the notebook's export cell says why it cannot export.
    monkeypatch.setattr(keras, "__version__", "3.13.2")
    monkeypatch.setattr(export_module.backend, "name", lambda: "jax")
    monkeypatch.setattr(export_module.importlib.util, "find_spec", lambda name: None if name == "tensorflow" else True)
    assert export_module.needed_modules("onnx", "jax")[:2] == ["tensorflow", "tf2onnx"]
    assert export_module.export_error("onnx") == (
        "the onnx export on jax needs tensorflow: pip install 'mnist-cnn[tensorflow,export]' (or make venv) "
        "(Keras 3.14 and newer export JAX models without TensorFlow)"
    )
    monkeypatch.setattr(keras, "__version__", "3.14.0")
    assert export_module.export_error("onnx") is None
