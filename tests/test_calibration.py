"""Calibration: the error measure on cases worked by hand, and a fitted temperature that fixes overconfidence."""

import keras
import numpy as np
import pytest

from mnist_cnn.calibration import apply_temperature, expected_calibration_error, fit_temperature, with_temperature
from mnist_cnn.model import build_model, load_model, predict_probabilities, save_model


def test_calibration_error_on_a_hand_made_case():
    # Four predictions at 0.9 confidence, three right: a gap of 0.15 in one bin holding all of them.
    probabilities = np.array([[0.9, 0.1]] * 4)
    labels = np.array([0, 0, 0, 1])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.15)
    # Two bins: 0.6 (one right of one: gap 0.4) and 1.0 (one wrong of one: gap 1.0), weighted 1/2 each.
    probabilities = np.array([[0.6, 0.4], [0.0, 1.0]])
    assert expected_calibration_error(probabilities, np.array([0, 0])) == pytest.approx(0.7)


def test_temperature_changes_confidence_not_the_prediction():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    cooler = with_temperature(probabilities, 2.0)
    np.testing.assert_allclose(cooler.sum(axis=1), 1)
    np.testing.assert_array_equal(cooler.argmax(axis=1), probabilities.argmax(axis=1))
    assert (cooler.max(axis=1) < probabilities.max(axis=1)).all()
    np.testing.assert_allclose(with_temperature(probabilities, 1.0), probabilities)


def test_fitted_temperature_recovers_the_one_that_made_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (20_000, 10))
    honest = with_temperature(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), 1.0)
    labels = np.array([rng.choice(10, p=row) for row in honest])
    overconfident = with_temperature(honest, 1 / 2.5)  # logits 2.5 times too large
    temperature = fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(2.5, rel=0.05)
    calibrated = with_temperature(overconfident, temperature)
    assert expected_calibration_error(calibrated, labels) < 0.02 < expected_calibration_error(overconfident, labels)


@pytest.mark.backend
def test_temperature_applied_to_the_model_divides_all_its_logits_and_survives_saving(tmp_path):
    model = build_model()
    dense = model.layers[-2]
    rng = np.random.default_rng(1)
    kernel, bias = (rng.normal(0, 1, weight.shape).astype(np.float32) for weight in dense.get_weights())
    dense.set_weights([kernel, bias])  # a bias that is not zero, as after training
    images = rng.random((8, 28, 28, 1), dtype=np.float32)
    features = keras.Sequential(model.layers[:-2])(images)  # what the last Dense layer sees
    logits = keras.ops.convert_to_numpy(features) @ kernel + bias

    apply_temperature(model, 3.0)
    new_kernel, new_bias = dense.get_weights()
    np.testing.assert_allclose(new_kernel, kernel / 3.0, rtol=1e-6)
    np.testing.assert_allclose(new_bias, bias / 3.0, rtol=1e-6)
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(logits / 3.0))
    np.testing.assert_allclose(predict_probabilities(model, images), expected, atol=1e-6)
    # Any program that loads the saved model gets the calibrated probabilities.
    loaded = load_model(save_model(model, tmp_path / "model.keras"))
    np.testing.assert_allclose(predict_probabilities(loaded, images), expected, atol=1e-6)
