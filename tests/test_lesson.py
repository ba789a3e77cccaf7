"""The notebook's helpers: learning curves with points inside epochs, and the machine's name for its times."""

import os
import re
import signal

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure

from mnist_cnn.data import load_data
from mnist_cnn.interrupts import Terminated
from mnist_cnn.lesson import LearningCurves, machine_name, plot_curves

IMAGES = 256  # 8 batches of 32: every batch the same size, so that an epoch's mean is the mean of its batches'
BATCH = 32
EPOCHS = 2


class SigtermAtFirstEpochEnd(keras.callbacks.Callback):
    """Sends this process SIGTERM at the end of the first epoch, as a kernel's shutdown or a scheduler would."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            os.kill(os.getpid(), signal.SIGTERM)


@pytest.fixture(scope="module")
def trained():
    (images, labels), _ = load_data("sample")
    train, validation = (
        (images[:IMAGES], labels[:IMAGES]),
        (images[IMAGES : IMAGES + 100], labels[IMAGES : IMAGES + 100]),
    )
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    curves = LearningCurves(validation, points_per_epoch=4, validations=5)
    history = model.fit(*train, batch_size=BATCH, epochs=EPOCHS, callbacks=[curves], verbose=0)
    return model, curves, history, validation


@pytest.mark.backend
def test_training_is_recorded_several_times_an_epoch_as_the_mean_of_the_batches_since_the_last_point(trained):
    _, curves, history, _ = trained
    assert curves.training["epoch"] == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    for epoch in range(EPOCHS):  # four points of two batches each: their mean is the epoch's, as Keras logged it
        for metric in ("loss", "accuracy"):
            points = curves.training[metric][4 * epoch : 4 * epoch + 4]
            assert np.mean(points) == pytest.approx(history.history[metric][epoch], rel=1e-4), (epoch, metric)


@pytest.mark.backend
def test_validation_is_scored_evenly_over_the_run_the_last_time_at_its_end(trained):
    model, curves, _, validation = trained
    assert len(curves.validated["epoch"]) == 5
    assert curves.validated["epoch"][-1] == EPOCHS
    assert curves.validated["epoch"] == sorted(curves.validated["epoch"])
    loss, accuracy = model.evaluate(*validation, verbose=0)  # the model as it ended: the last point's
    assert curves.validated["accuracy"][-1] == pytest.approx(accuracy, abs=1e-6)
    assert curves.validated["loss"][-1] == pytest.approx(loss, rel=1e-4)


@pytest.mark.backend
def test_the_curves_plot_as_two_panels_and_without_validation_only_training(trained):
    _, curves, _, _ = trained
    figure = plot_curves(curves)
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    assert [len(axis.lines) for axis in figure.axes] == [2, 2]
    no_validation = LearningCurves(None)
    no_validation.training = curves.training
    assert [len(axis.lines) for axis in plot_curves(no_validation).axes] == [1, 1]


def test_the_machine_is_named_with_its_cores():
    assert re.search(r"., \d+ cores(, .+)*$", machine_name())


@pytest.mark.backend
def test_sigterm_stops_the_notebooks_training_as_ctrl_c_after_the_epoch(trained):
    model, _, _, validation = trained
    curves = LearningCurves(None, points_per_epoch=4)
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated):  # a KeyboardInterrupt: the notebook's cell stops, the kernel and model stay
        model.fit(*validation, batch_size=BATCH, epochs=EPOCHS, callbacks=[curves, SigtermAtFirstEpochEnd()], verbose=0)
    assert max(curves.training["epoch"]) == 1  # the first epoch whole, nothing of the second
    assert signal.getsignal(signal.SIGTERM) is handler
