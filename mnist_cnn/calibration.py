"""Probabilities a user can take at their word: measuring calibration, and temperature scaling.

A model is calibrated when, of the digits it calls with 90% confidence, about 90% are right. The expected
calibration error (ECE) measures the gap. Temperature scaling (Guo et al., 2017, "On Calibration of Modern Neural
Networks") divides the logits by one number T, fitted on validation data, which changes the confidence but never the
predicted digit, and so never the accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

# The temperatures tried when fitting: 0.05 to 20, evenly spaced in log(T) (a step of about 1%).
TEMPERATURE_GRID = np.exp(np.linspace(np.log(0.05), np.log(20), 601))
# Keeps log() finite for probabilities that underflowed to 0.
EPSILON = 1e-12
# Confidence is binned in this many equal bins: Guo et al.'s choice, so that the ECE compares with theirs.
RELIABILITY_BINS = 15


@dataclass(frozen=True)
class ReliabilityBins:
    """Predictions grouped by confidence into equal-width bins from 0 to 1: for each bin, how many predictions fell
    in it, their mean confidence and the share of them that were right (NaN for an empty bin)."""

    edges: np.ndarray  # bins + 1 edges, from 0 to 1
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def calibration_error(self) -> float:
        """The ECE: the mean gap between confidence and accuracy over the bins, weighted by their sizes."""
        filled = self.counts > 0
        gaps = np.abs(self.accuracy[filled] - self.confidence[filled]) * self.counts[filled]
        return float(gaps.sum() / self.counts.sum())


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, bins: int = RELIABILITY_BINS) -> ReliabilityBins:
    """The predictions of `probabilities` (N, classes) against the true `labels` (N,), binned by confidence."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    bin_of = np.minimum((confidence * bins).astype(int), bins - 1)
    counts = np.bincount(bin_of, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):  # empty bins: NaN
        mean_confidence = np.bincount(bin_of, weights=confidence, minlength=bins) / counts
        accuracy = np.bincount(bin_of, weights=correct, minlength=bins) / counts
    return ReliabilityBins(np.linspace(0, 1, bins + 1), counts, mean_confidence, accuracy)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = RELIABILITY_BINS) -> float:
    """The ECE: the mean gap between confidence and accuracy over equal-width confidence bins, weighted by size.

    `probabilities` is (N, classes), `labels` the (N,) true classes.
    """
    return reliability_bins(probabilities, labels, bins).calibration_error


def with_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """The softmax of the logits divided by `temperature`, from the softmax of the logits."""
    scaled = np.log(np.maximum(probabilities, EPSILON)) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exponentials = np.exp(scaled)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The mean cross-entropy of the true classes."""
    return float(-np.log(np.maximum(probabilities[np.arange(len(labels)), labels], EPSILON)).mean())


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of `labels` (fit it on validation data)."""
    losses = [negative_log_likelihood(with_temperature(probabilities, t), labels) for t in TEMPERATURE_GRID]
    return float(TEMPERATURE_GRID[int(np.argmin(losses))])


def apply_temperature(model: keras.Model, temperature: float) -> keras.Model:
    """Divide the model's logits by `temperature`, in place: the last Dense layer's weights and bias are divided.

    The model keeps its layers, so that it saves and loads as any other (Keras' safe mode needs no custom code).
    """
    dense = next(layer for layer in reversed(model.layers) if isinstance(layer, keras.layers.Dense))
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel / temperature, bias / temperature])
    return model
