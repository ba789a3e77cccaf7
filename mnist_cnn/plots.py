"""Figures of the data, of training and of the model's mistakes. Each function returns a matplotlib Figure:
the notebook shows it inline, the command line saves it with `save_figure`."""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mnist_cnn.calibration import RELIABILITY_BINS, reliability_bins
from mnist_cnn.explain import Explanation
from mnist_cnn.files import atomic_path

# A map this close to flat everywhere is drawn grey, not its noise stretched to full colour.
FLAT_MAP = 1e-6


def plot_digits(
    images: np.ndarray,
    labels: np.ndarray,
    predictions: np.ndarray | None = None,
    columns: int = 8,
    title: str | None = None,
) -> Figure:
    """A grid of digits titled with their label, or with "predicted (true)" when predictions are given, in red where
    they differ."""
    rows = math.ceil(len(images) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.5 * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= len(images):
            continue
        axis.imshow(images[index].squeeze(), cmap="gray")
        if predictions is None:
            axis.set_title(str(labels[index]), fontsize=10)
        else:
            wrong = predictions[index] != labels[index]
            axis.set_title(
                f"{predictions[index]} ({labels[index]})", fontsize=10, color="tab:red" if wrong else "black"
            )
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_history(history: dict[str, list[float]]) -> Figure:
    """Loss and accuracy per epoch, on the training data and (where recorded) the validation data."""
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 3.5))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for axis, metric in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
        axis.plot(epochs, history[metric], marker="o", label="train")
        if f"val_{metric}" in history:
            axis.plot(epochs, history[f"val_{metric}"], marker="o", label="validation")
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    return figure


def plot_confusion_matrix(matrix: np.ndarray) -> Figure:
    """The confusion matrix as a heat map with its counts."""
    figure, axis = plt.subplots(figsize=(6, 5.5))
    image = axis.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axis)
    size = len(matrix)
    axis.set_xticks(range(size))
    axis.set_yticks(range(size))
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title("Confusion matrix (test set)")
    threshold = matrix.max() / 2  # counts on the darker half of the colour scale are written in white
    for true in range(size):
        for predicted in range(size):
            count = matrix[true, predicted]
            color = "white" if count > threshold else "black"
            axis.text(predicted, true, str(count), ha="center", va="center", fontsize=7, color=color)
    figure.tight_layout()
    return figure


def plot_reliability(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = RELIABILITY_BINS, title: str | None = None
) -> Figure:
    """A reliability diagram: the predictions grouped by their confidence, each group's accuracy as a bar beside the
    diagonal a calibrated model follows (of the digits called at 90%, 90% right), and below, how many predictions
    each group holds (log scale). The title gives the expected calibration error over the same groups."""
    binned = reliability_bins(probabilities, labels, bins)
    lefts, width = binned.edges[:-1], 1 / bins
    filled = binned.counts > 0
    figure, (accuracy_axis, count_axis) = plt.subplots(
        2, 1, figsize=(5, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    accuracy_axis.bar(lefts[filled], binned.accuracy[filled], width=width, align="edge", edgecolor="black",
                      label="accuracy in the bin")  # fmt: skip
    accuracy_axis.plot([0, 1], [0, 1], linestyle="--", color="tab:red", label="calibrated")
    accuracy_axis.set_ylabel("accuracy")
    accuracy_axis.set_ylim(0, 1)
    accuracy_axis.legend(loc="upper left", fontsize=8)
    ece = binned.calibration_error
    accuracy_axis.set_title(f"{title + ': ' if title else ''}expected calibration error {ece:.2%}")
    count_axis.bar(lefts, binned.counts, width=width, align="edge", edgecolor="black", color="tab:gray")
    count_axis.set_yscale("log")
    count_axis.set_ylabel("predictions")
    count_axis.set_xlabel("confidence (the probability of the predicted digit)")
    count_axis.set_xlim(0, 1)
    figure.tight_layout()
    return figure


def save_figure(figure: Figure, path: str | os.PathLike) -> Path:
    """Save `figure` as an image (its format from the suffix), atomically, and free it."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)
    return Path(path)


def map_picture(digit: np.ndarray, heat: np.ndarray, scale: int = 10) -> np.ndarray:
    """An RGB picture (uint8) of a 28x28 digit under its occlusion map, enlarged `scale` times with square pixels:
    red where the ink speaks for the digit, blue against, grey where it changes nothing."""
    limit = max(float(np.abs(heat).max()), FLAT_MAP)
    colours = plt.get_cmap("bwr")((heat / limit + 1) / 2)[..., :3]
    grey = np.repeat(np.squeeze(digit)[..., np.newaxis], 3, axis=2)
    blended = 0.5 * grey + 0.5 * colours
    return (np.kron(blended, np.ones((scale, scale, 1))) * 255).astype(np.uint8)


def plot_explanation(explanation: Explanation, original: np.ndarray | None = None, title: str | None = None) -> Figure:
    """The digit as given (where `original`, a grey image, is), the 28x28 digit the model saw, and the occlusion map
    of the predicted digit and of the runner-up over it: red where the ink speaks for the digit, blue against."""
    panels = ([("as given", original)] if original is not None else []) + [("what the model saw", explanation.image)]
    figure, axes = plt.subplots(1, len(panels) + 2, figsize=(2.6 * (len(panels) + 2), 3.0))
    for axis, (name, image) in zip(axes, panels, strict=False):
        axis.imshow(np.squeeze(image), cmap="gray", vmin=0, vmax=1)
        axis.set_title(name, fontsize=10)
    limit = max(float(np.abs(explanation.maps).max()), FLAT_MAP)  # one colour scale for both maps
    for axis, digit, heat in zip(axes[len(panels) :], explanation.top_classes, explanation.maps, strict=True):
        axis.imshow(explanation.image.squeeze(), cmap="gray", vmin=0, vmax=1)
        axis.imshow(heat, cmap="bwr", vmin=-limit, vmax=limit, alpha=0.6)
        axis.set_title(f"why {digit}: {explanation.probabilities[digit]:.1%}", fontsize=10)
    for axis in axes:
        axis.axis("off")
    first, second = explanation.top_classes
    probabilities = explanation.probabilities
    answer = f"{first} ({probabilities[first]:.1%}), runner-up {second} ({probabilities[second]:.1%})"
    figure.suptitle(f"{title}: {answer}" if title else answer)
    figure.tight_layout()
    return figure
