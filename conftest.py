"""pytest runs the notebook (through nbval) in its quick mode: the shipped sample and a few training steps.

TensorFlow's C++ log lines (CUDA probing on a machine without a GPU) would otherwise land in checked cells' outputs.
"""

import os

os.environ.setdefault("MNIST_CNN_QUICK", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
