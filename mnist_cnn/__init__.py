"""mnist-cnn: the seed notebook's four-Conv2D MNIST classifier as a small, tested library."""

__version__ = "0.1.0"
