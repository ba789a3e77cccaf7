"""mnist-cnn: the seed notebook's four-Conv2D MNIST classifier as a small, tested library, on TensorFlow, JAX or
PyTorch. Importing it changes nothing: `mnist_cnn.backend.use_backend()` chooses the backend."""

__version__ = "0.1.0"
