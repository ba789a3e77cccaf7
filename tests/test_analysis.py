"""The confusion matrix, per-digit scores and worst mistakes, on cases small enough to work out by hand."""

import numpy as np
import pytest

from mnist_cnn.analysis import confusion_matrix, format_scores, most_confident_errors, per_class_scores


def test_confusion_matrix_and_scores_by_hand():
    true = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 2, 2])
    matrix = confusion_matrix(true, predicted)
    assert matrix[:3, :3].tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]] and matrix.sum() == 6
    scores = per_class_scores(matrix)
    # digit 0: 2 of 2 predicted zeros are right, 2 of 3 zeros found; digit 1: 1 of 2 and 1 of 2; digit 2: 1/2, 1/1.
    assert [(row["precision"], row["recall"], row["support"]) for row in scores[:3]] == [
        (1.0, pytest.approx(2 / 3), 3),
        (0.5, 0.5, 2),
        (0.5, 1.0, 1),
    ]
    assert scores[5] == {"digit": 5, "precision": 0.0, "recall": 0.0, "support": 0}  # never seen, never predicted
    table = format_scores(scores).splitlines()
    assert len(table) == 11 and table[1].split() == ["0", "1.000", "0.667", "3"]


def test_most_confident_mistakes_first():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.05, 0.95]])
    true = np.array([0, 0, 0, 1])  # images 1 and 2 are wrong, image 1 more confidently
    assert most_confident_errors(true, probabilities).tolist() == [1, 2]
    assert most_confident_errors(true, probabilities, count=1).tolist() == [1]
    assert most_confident_errors(np.array([0, 1, 1, 1]), probabilities).tolist() == []
