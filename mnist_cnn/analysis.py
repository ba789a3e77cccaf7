"""Looking inside a trained model's test results: confusion matrix, per-digit scores, its worst mistakes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np

from mnist_cnn.calibration import expected_calibration_error, negative_log_likelihood
from mnist_cnn.data import NUM_CLASSES, Split
from mnist_cnn.model import ensemble_probabilities

# The worst mistakes shown: two rows of plots.plot_digits' eight columns.
WORST_MISTAKES = 16


@dataclass
class EvaluationReport:
    """A model's predictions on a test set, and what they add up to."""

    probabilities: np.ndarray
    true_labels: np.ndarray
    predicted_labels: np.ndarray
    matrix: np.ndarray
    scores: list[dict[str, float]]

    @property
    def accuracy(self) -> float:
        return float((self.predicted_labels == self.true_labels).mean())

    @property
    def loss(self) -> float:
        """The mean categorical cross-entropy of the true digits (the loss the model was trained on)."""
        return negative_log_likelihood(self.probabilities, self.true_labels)

    @property
    def calibration_error(self) -> float:
        return expected_calibration_error(self.probabilities, self.true_labels)


def evaluation_report(models: keras.Model | Sequence[keras.Model], test: Split) -> EvaluationReport:
    """Predict the whole test set with a model, or the mean of several models' probabilities, and tabulate."""
    images, one_hot_labels = test
    probabilities = ensemble_probabilities(models, images)
    true_labels = one_hot_labels.argmax(axis=1)
    predicted_labels = probabilities.argmax(axis=1)
    matrix = confusion_matrix(true_labels, predicted_labels)
    return EvaluationReport(probabilities, true_labels, predicted_labels, matrix, per_class_scores(matrix))


def confusion_matrix(true_labels: np.ndarray, predicted_labels: np.ndarray) -> np.ndarray:
    """Counts of (true digit, predicted digit): row i, column j counts digits i taken for j."""
    pairs = np.bincount(true_labels * NUM_CLASSES + predicted_labels, minlength=NUM_CLASSES * NUM_CLASSES)
    return pairs.reshape(NUM_CLASSES, NUM_CLASSES)


def per_class_scores(matrix: np.ndarray) -> list[dict[str, float]]:
    """Precision, recall and support of each digit, from a confusion matrix."""
    correct = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    return [
        {
            "digit": digit,
            "precision": correct[digit] / predicted[digit] if predicted[digit] else 0.0,
            "recall": correct[digit] / actual[digit] if actual[digit] else 0.0,
            "support": int(actual[digit]),
        }
        for digit in range(NUM_CLASSES)
    ]


def format_scores(scores: list[dict[str, float]]) -> str:
    """The per-digit scores as a plain-text table."""
    lines = [f"{'digit':>5}  {'precision':>9}  {'recall':>6}  {'support':>7}"]
    lines += [
        f"{row['digit']:>5}  {row['precision']:>9.3f}  {row['recall']:>6.3f}  {row['support']:>7}" for row in scores
    ]
    return "\n".join(lines)


def most_confident_errors(
    true_labels: np.ndarray, probabilities: np.ndarray, count: int = WORST_MISTAKES
) -> np.ndarray:
    """Indices of the misclassified images whose wrong prediction was the most confident, most confident first."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != true_labels)
    confidence = probabilities[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")][:count]
