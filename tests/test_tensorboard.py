"""`--tensorboard DIR` leaves event files holding each epoch's losses, accuracies and learning rate."""

import pytest
import tensorflow as tf

from mnist_cnn.cli import main

pytestmark = [pytest.mark.backend, pytest.mark.versions]


def scalars(folder):
    """{tag: [value per step]} from the TensorBoard event files in `folder`."""
    found = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag.startswith("epoch_"):  # the model's graph is logged too
                    found.setdefault(value.tag, []).append(float(tf.make_ndarray(value.tensor)))
    return found


def test_event_files_hold_losses_accuracies_and_the_learning_rate(tmp_path):
    logs = tmp_path / "tensorboard"
    args = [
        "train",
        "--dataset",
        "sample",
        "--epochs",
        "3",
        "--steps-per-epoch",
        "4",
        "--output",
        str(tmp_path / "run"),
    ]
    assert main([*args, "--tensorboard", str(logs)]) == 0
    train, validation = scalars(logs / "train"), scalars(logs / "validation")
    assert len(train["epoch_loss"]) == len(train["epoch_accuracy"]) == 3
    assert len(validation["epoch_loss"]) == len(validation["epoch_accuracy"]) == 3
    rates = train["epoch_learning_rate"]
    assert len(rates) == 3 and rates[0] > rates[1] > rates[2] == pytest.approx(0, abs=1e-7)  # cosine decay to zero
