"""The errors this package raises for bad input: each carries one line a user can act on."""


class MnistCnnError(Exception):
    """Base class: the command line prints the message alone, without a traceback, and exits non-zero."""


class DataError(MnistCnnError):
    """A data file or array is missing, unreadable, or not MNIST-shaped."""


class ModelFileError(MnistCnnError):
    """A model file is missing, unreadable, or not a model this package built."""


class ImageError(MnistCnnError):
    """An image file cannot be read or holds no digit."""
