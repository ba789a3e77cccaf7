"""What the notebook needs beside the training itself: learning curves with points inside epochs, and the machine's
name for the times it prints. The command line trains the same way without them."""

from __future__ import annotations

import math
import os
import platform
import shutil
import subprocess
from pathlib import Path

import keras
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from mnist_cnn.calibration import negative_log_likelihood
from mnist_cnn.data import Split
from mnist_cnn.model import predict_probabilities
from mnist_cnn.train import InterruptibleTraining

POINTS_PER_EPOCH = 10  # training points an epoch: enough for the curve's shape within the first epoch
VALIDATIONS = 10  # validation points over the whole run, evenly spaced, the last at its end


class LearningCurves(InterruptibleTraining):
    """Records the training loss and accuracy several times an epoch (each the mean over the batches since the last
    point) and the loss and accuracy on `validation` several times over the run; `plot_curves` draws them. Ctrl-C and
    SIGTERM stop the notebook's training as they stop `mnist-cnn train` (InterruptibleTraining)."""

    def __init__(
        self, validation: Split | None, points_per_epoch: int = POINTS_PER_EPOCH, validations: int = VALIDATIONS
    ) -> None:
        super().__init__()
        self.validation = validation
        self.points_per_epoch = points_per_epoch
        self.validations = validations
        self.training: dict[str, list[float]] = {"epoch": [], "loss": [], "accuracy": []}
        self.validated: dict[str, list[float]] = {"epoch": [], "loss": [], "accuracy": []}

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        self.steps = self.params["steps"]
        total = self.steps * self.params["epochs"]
        self.validation_steps = {round(point * total / self.validations) for point in range(1, self.validations + 1)}
        self.every = math.ceil(self.steps / self.points_per_epoch)  # at most points_per_epoch points an epoch
        self.step = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_begin(epoch, logs)
        self.last_point = (0, 0.0, 0.0)  # batches, and the epoch's mean loss and accuracy over them

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.step += 1
        if (batch + 1) % self.every == 0 or batch + 1 == self.steps:
            self.record_training(batch + 1, logs or {})
        if self.validation is not None and self.step in self.validation_steps:
            self.record_validation()

    def record_training(self, batches: int, logs: dict) -> None:
        """Add the mean loss and accuracy of the batches since the last point (Keras' logs hold the epoch's mean)."""
        loss, accuracy = (float(keras.ops.convert_to_numpy(logs[name])) for name in ("loss", "accuracy"))
        earlier, earlier_loss, earlier_accuracy = self.last_point
        self.training["epoch"].append(self.step / self.steps)
        self.training["loss"].append((loss * batches - earlier_loss * earlier) / (batches - earlier))
        self.training["accuracy"].append((accuracy * batches - earlier_accuracy * earlier) / (batches - earlier))
        self.last_point = (batches, loss, accuracy)

    def record_validation(self) -> None:
        """Add the model's loss and accuracy on the validation images as it is now."""
        images, labels = self.validation
        probabilities, digits = predict_probabilities(self.model, images), labels.argmax(axis=1)
        self.validated["epoch"].append(self.step / self.steps)
        self.validated["loss"].append(negative_log_likelihood(probabilities, digits))
        self.validated["accuracy"].append(float((probabilities.argmax(axis=1) == digits).mean()))


def plot_curves(curves: LearningCurves) -> Figure:
    """Loss and accuracy against epochs: the training points as a line, the validation points as dots."""
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 3.5))
    for axis, metric in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
        axis.plot(curves.training["epoch"], curves.training[metric], label="training (mean since the last point)")
        if curves.validated["epoch"]:
            axis.plot(curves.validated["epoch"], curves.validated[metric], marker="o", label="validation")
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    loss_axis.set_yscale("log")  # the loss falls by orders of magnitude; on a log scale its late changes show
    figure.tight_layout()
    return figure


def machine_name() -> str:
    """The processor and its cores, and the GPUs where nvidia-smi lists any: what a printed time was measured on."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line for line in cpuinfo.read_text().splitlines() if "model name" in line] if cpuinfo.exists() else []
    name = f"{names[0].split(':', 1)[1].strip() if names else platform.processor() or platform.machine()}, "
    name += f"{os.cpu_count()} cores"
    if shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]
        gpus = subprocess.run(query, capture_output=True, text=True, check=False).stdout.strip().splitlines()
        name += "".join(f", {gpu}" for gpu in gpus)
    return name
