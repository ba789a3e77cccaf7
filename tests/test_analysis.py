"""The confusion matrix, per-digit scores, worst mistakes and the reliability diagram, on cases small enough to work
out by hand."""

import numpy as np
import pytest

from mnist_cnn.analysis import (
    confusion_matrix,
    evaluation_report,
    format_scores,
    most_confident_errors,
    per_class_scores,
)
from mnist_cnn.calibration import reliability_bins
from mnist_cnn.model import ensemble_probabilities
from mnist_cnn.plots import plot_reliability

from conftest import MEMBER_PROBABILITIES, constant_model


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


def test_an_ensemble_is_the_mean_of_all_its_members_probabilities(sample_data):
    images, one_hot = sample_data[1][0][:50], sample_data[1][1][:50]
    members = [constant_model(probabilities) for probabilities in MEMBER_PROBABILITIES]
    expected = np.mean(MEMBER_PROBABILITIES, axis=0)
    np.testing.assert_allclose(ensemble_probabilities(members, images), np.tile(expected, (50, 1)), atol=1e-6)
    report = evaluation_report(members, (images, one_hot))
    assert (report.predicted_labels == 2).all()  # each member, or any two, would say 1, 3 or 4
    np.testing.assert_allclose(report.probabilities, np.tile(expected, (50, 1)), atol=1e-6)
    one = evaluation_report(members[0], (images, one_hot))  # one model is an ensemble of one
    np.testing.assert_allclose(one.probabilities, np.tile(MEMBER_PROBABILITIES[0], (50, 1)), atol=1e-6)


def test_report_scores_follow_from_the_probabilities(sample_data):
    images, one_hot = sample_data[1][0][:40], sample_data[1][1][:40]
    report = evaluation_report(constant_model(MEMBER_PROBABILITIES[0]), (images, one_hot))
    labels = one_hot.argmax(axis=1)
    assert report.accuracy == pytest.approx((labels == 1).mean())
    assert report.loss == pytest.approx(-np.log(np.array(MEMBER_PROBABILITIES[0])[labels]).mean(), rel=1e-5)
    assert report.matrix[:, 1].tolist() == np.bincount(labels, minlength=10).tolist()  # all taken for a 1


def test_reliability_diagram_shows_each_confidence_bins_accuracy_and_size():
    # Four predictions at 95% confidence, three of them right; two at 55%, one right; 5 bins of 0.2.
    probabilities = np.array([[0.95, 0.05]] * 4 + [[0.55, 0.45]] * 2)
    labels = np.array([0, 0, 0, 1, 0, 1])
    binned = reliability_bins(probabilities, labels, bins=5)
    assert binned.counts.tolist() == [0, 0, 2, 0, 4]
    np.testing.assert_allclose(binned.accuracy[[2, 4]], [0.5, 0.75])
    np.testing.assert_allclose(binned.confidence[[2, 4]], [0.55, 0.95])
    assert np.isnan(binned.accuracy[0])

    figure = plot_reliability(probabilities, labels, bins=5)
    accuracy_axis, count_axis = figure.axes
    assert [bar.get_height() for bar in accuracy_axis.patches] == pytest.approx([0.5, 0.75])  # empty bins: no bar
    assert [bar.get_x() for bar in accuracy_axis.patches] == pytest.approx([0.4, 0.8])
    assert [bar.get_height() for bar in count_axis.patches] == [0, 0, 2, 0, 4]
    # ECE: (2 * |0.5 - 0.55| + 4 * |0.75 - 0.95|) / 6 = 0.15
    assert accuracy_axis.get_title() == "expected calibration error 15.00%"
