"""pytest runs the notebook (through nbval) in its quick mode: the shipped sample and a few training steps.

TensorFlow's C++ log lines (CUDA probing on a machine without a GPU) would otherwise land in checked cells' outputs.
"""

import os

import pytest

os.environ.setdefault("MNIST_CNN_QUICK", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_collection_modifyitems(items):
    """The notebook's cells (nbval's items) train, save and export: they depend on the backend."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.backend)
