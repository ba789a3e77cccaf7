"""pytest runs the notebook (through nbval) in its quick mode: the shipped sample and a few training steps.

TensorFlow's C++ log lines (CUDA probing on a machine without a GPU) would otherwise land in checked cells' outputs.

Under pytest-xdist each worker, and each process its tests start, gets its share of the cores for PyTorch's thread
pool (OpenMP's): with a pool of every core in each of two workers on two cores, the same trainings took twice as long
(docs/development.md, "Tests"). TensorFlow's and JAX's pools are left as they are: one thread a worker made the whole
suite no faster on TensorFlow (its devices and XLA tests slower), and JAX slower.
"""

import gc
import os

import pytest

os.environ.setdefault("MNIST_CNN_QUICK", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))  # set before pytest-xdist's workers load this file
if WORKERS > 1:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads_per_worker = str(max(1, cores // WORKERS))
    os.environ.setdefault("OMP_NUM_THREADS", threads_per_worker)


@pytest.fixture(scope="session", autouse=True)
def compilations_kept():
    """JAX's compiled programs kept between test sessions as between runs (a fixture: xdist's controller runs none)."""
    from mnist_cnn.backend import keep_compilations

    keep_compilations()


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config):
    """The session's objects kept out of the garbage collector's last passes (pytest's, then IPython's at exit): a
    pass over every model a worker's tests built is slow (docs/development.md, "Tests")."""
    gc.freeze()


def pytest_collection_modifyitems(items):
    """The notebook's cells (nbval's items) train, save and export: they depend on the backend. On JAX they are
    skipped: tests/test_installs.py runs the whole notebook on JAX already, with TensorFlow hidden as on a Colab TPU."""
    notebook = [item for item in items if item.path.suffix == ".ipynb"]
    on_jax = bool(notebook) and backend_name() == "jax"
    for item in notebook:
        item.add_marker(pytest.mark.backend)
        if on_jax:
            item.add_marker(pytest.mark.skip(reason="the notebook runs on JAX in test_installs.py, without TensorFlow"))


def backend_name() -> str:
    """The Keras backend the tests run on."""
    import keras

    return keras.backend.backend()
