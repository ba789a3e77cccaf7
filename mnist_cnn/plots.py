"""Figures of the data, of training and of the model's mistakes. Each function returns a matplotlib Figure:
the notebook shows it inline, the command line saves it with `save_figure`."""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mnist_cnn.files import atomic_path


def plot_digits(
    images: np.ndarray,
    labels: np.ndarray,
    predictions: np.ndarray | None = None,
    columns: int = 8,
    title: str | None = None,
) -> Figure:
    """A grid of digits titled with their label, or with "predicted (true)" when predictions are given."""
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
            axis.set_title(f"{predictions[index]} ({labels[index]})", fontsize=10, color="tab:red")
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
    threshold = matrix.max() / 2
    for true in range(size):
        for predicted in range(size):
            count = matrix[true, predicted]
            color = "white" if count > threshold else "black"
            axis.text(predicted, true, str(count), ha="center", va="center", fontsize=7, color=color)
    figure.tight_layout()
    return figure


def save_figure(figure: Figure, path: str | os.PathLike) -> Path:
    """Save `figure` as an image (its format from the suffix), atomically, and free it."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)
    return Path(path)
