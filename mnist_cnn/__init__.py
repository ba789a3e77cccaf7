"""mnist-cnn: the seed notebook's four-Conv2D MNIST classifier as a small, tested library, on TensorFlow, JAX or
PyTorch (Keras 3's KERAS_BACKEND; see mnist_cnn.backend)."""

from mnist_cnn.backend import default_to_an_installed_backend, keep_compilations

__version__ = "0.1.0"

default_to_an_installed_backend()
keep_compilations()
