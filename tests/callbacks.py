"""Callbacks the tests of runs and fine-tuning train with: an interruption, and a count of the epochs trained."""

import keras


class StopAfterFirstEpoch(keras.callbacks.Callback):
    """Interrupts training as Ctrl-C would, once the first epoch is saved."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt


class Epochs(keras.callbacks.Callback):
    """Notes the number of each epoch trained."""

    def __init__(self):
        super().__init__()
        self.trained = []

    def on_epoch_begin(self, epoch, logs=None):
        self.trained.append(epoch)
