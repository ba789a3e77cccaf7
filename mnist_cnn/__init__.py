"""mnist-cnn: the seed notebook's four-Conv2D MNIST classifier as a small, tested library, on TensorFlow, JAX or
PyTorch (Keras 3's KERAS_BACKEND; see mnist_cnn.backend)."""

import warnings

from mnist_cnn.backend import default_to_an_installed_backend, keep_compilations

__version__ = "0.1.0"

# Keras 3.13's ONNX helper, imported with Keras, warns on NumPy 2.0 that `np.object` will change: nothing a user can do.
warnings.filterwarnings("ignore", message=r"In the future `np\.object`", category=FutureWarning)
default_to_an_installed_backend()
keep_compilations()
