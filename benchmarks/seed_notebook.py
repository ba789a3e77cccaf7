"""The seed notebook's code, statement for statement, as the benchmarks' peer: a function a cell, the data passed in."""

import numpy as np
from keras.layers import Activation, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from keras.models import Sequential
from keras.utils import to_categorical

batch_size = 128
kernel_size = 3
pool_size = 2
filters = 64
dropout = 0.2


def preprocess(x_train, y_train, x_test, y_test):
    """The seed's "Download Data and Pre-Process" cell."""
    num_labels = len(np.unique(y_train))
    y_train = to_categorical(y_train)
    y_test = to_categorical(y_test)
    image_size = x_train.shape[1]
    x_train = np.reshape(x_train, [-1, image_size, image_size, 1])
    x_test = np.reshape(x_test, [-1, image_size, image_size, 1])
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    return (x_train, y_train), (x_test, y_test), num_labels, image_size


def define_model(num_labels, image_size):
    """The seed's "Define Model" cell (without its summary and diagram) and the compile call of its "Train" cell."""
    input_shape = (image_size, image_size, 1)
    model = Sequential()
    model.add(
        Conv2D(filters=filters, kernel_size=kernel_size, activation="relu", input_shape=input_shape, padding="same")
    )
    model.add(MaxPooling2D(pool_size))
    model.add(
        Conv2D(filters=filters, kernel_size=kernel_size, activation="relu", input_shape=input_shape, padding="same")
    )
    model.add(MaxPooling2D(pool_size))
    model.add(Conv2D(filters=filters, kernel_size=kernel_size, activation="relu", padding="same"))
    model.add(MaxPooling2D(pool_size))
    model.add(Conv2D(filters=filters, kernel_size=kernel_size, activation="relu"))
    model.add(Flatten())
    model.add(Dropout(dropout))
    model.add(Dense(num_labels))
    model.add(Activation("softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def train(model, x_train, y_train, epochs=10, verbose="auto"):
    """The seed's "Train" cell."""
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=verbose)
