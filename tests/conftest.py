"""Shared fixtures: the shipped sample, a model trained on it once per session, a model trained on the full MNIST
for the tests of reading files, and data-file writers.

Keras is imported where a fixture needs it, not here: pytest-xdist's controller loads this file too, and runs no test.
"""

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest

from mnist_cnn.config import config_for
from mnist_cnn.data import DATA_ENV_VARS, load_data, load_raw
from mnist_cnn.files import locked_folder

# Three epochs on the 2,000 sample digits: a few seconds, and well above chance.
QUICK_CONFIG = config_for("seed", epochs=3)
# The validated, calibrated recipe, a few steps of it.
QUICK_VALIDATED = config_for("fast", epochs=2, steps_per_epoch=4)


@pytest.fixture(autouse=True)
def bugs_fail_tests(monkeypatch):
    """The command line prints an unexpected exception as one line; in tests it is raised, so that a bug fails."""
    monkeypatch.setenv("MNIST_CNN_DEBUG", "1")


@pytest.fixture(autouse=True)
def no_data_environment(monkeypatch, tmp_path_factory):
    """Tests never see the developer's own MNIST_CNN_DATA settings, nor Keras' cache of datasets."""
    for variable in DATA_ENV_VARS.values():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras-home")))


@pytest.fixture(scope="session")
def raw_sample():
    return load_raw("sample")


@pytest.fixture(scope="session")
def sample_data():
    return load_data("sample")


@pytest.fixture(scope="session")
def trained_run(sample_data, tmp_path_factory):
    """QUICK_CONFIG trained on the sample once per test session: under pytest-xdist, the first worker to ask trains
    and saves it in the folder all workers share, and the others read the run it saved instead of training again."""
    from mnist_cnn.train import train_and_evaluate

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # each session has its own
    folder = shared / "trained-run"
    with locked_folder(shared / "trained-run.lock", wait=True):  # where there is no flock, each worker trains
        if (folder / "model.keras").exists():
            return saved_run(folder)
        return train_and_evaluate(QUICK_CONFIG, sample_data, folder, verbose=0)


@pytest.fixture(scope="session")
def reading_model():
    """The default recipe trained on the full MNIST (tests/data/README.md). The tests of reading image files score
    with it: their answers then hang on the reading, where the quick model's hang also on which digits it happens to
    be unsure of, and changed with the number of threads it trained with."""
    from mnist_cnn.model import load_model

    return load_model(Path(__file__).parent / "data" / "reading-model.keras")


def saved_run(folder: Path):
    """The RunResult of the finished run in `folder`, read from its files (its model and novelty check loaded, no
    test report)."""
    from mnist_cnn.config import Config
    from mnist_cnn.model import load_model
    from mnist_cnn.novelty import NoveltyCheck
    from mnist_cnn.runs import RunFiles
    from mnist_cnn.train import RunResult

    files = RunFiles(folder)
    results = json.loads(files.results.read_text())
    return RunResult(
        model=load_model(files.model),
        history=json.loads(files.history.read_text()),
        test_loss=results["test_loss"],
        test_accuracy=results["test_accuracy"],
        test_calibration_error=results["test_calibration_error"],
        report=None,
        timings=results["timings_s"],
        train_size=results["train_images"],
        validation_size=results["validation_images"],
        precision=results["precision"],
        backend=results["backend"],
        devices=results["devices"],
        trained_config=Config(**results["trained_config"]),
        temperature=results["temperature"],
        files=files,
        novelty=NoveltyCheck.load(files.novelty),
    )


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write `array` as an IDX file of unsigned bytes, gzipped when the name ends in .gz."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(side).to_bytes(4, "big") for side in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as file:
        file.write(header + array.astype(np.uint8).tobytes())
    return path


def write_idx_folder(folder: Path, raw, gzipped: bool = True) -> Path:
    """The four standard IDX files of `raw` ((x_train, y_train), (x_test, y_test)) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = raw
    suffix = ".gz" if gzipped else ""
    names = {
        "train-images-idx3-ubyte": x_train,
        "train-labels-idx1-ubyte": y_train,
        "t10k-images-idx3-ubyte": x_test,
        "t10k-labels-idx1-ubyte": y_test,
    }
    for name, array in names.items():
        write_idx(folder / f"{name}{suffix}", array)
    return folder


def write_npz(path: Path, raw) -> Path:
    (x_train, y_train), (x_test, y_test) = raw
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def constant_model(probabilities):
    """A model of this package that gives the same probabilities (10, summing to 1) for every image: its last Dense
    layer's kernel is zero and its bias the log-probabilities."""
    from mnist_cnn.model import build_model

    model = build_model()
    dense = model.layers[-2]
    kernel, _ = dense.get_weights()
    dense.set_weights([np.zeros_like(kernel), np.log(np.asarray(probabilities, np.float32))])
    return model


# Three members whose mean says 2, while each member, and the mean of any two, says 1, 3 or 4: an "ensemble" that
# leaves out a member, or is one member, gives other answers.
MEMBER_PROBABILITIES = [
    [0.01, 0.6, 0.3, 0.02, 0.02, 0.01, 0.01, 0.01, 0.01, 0.01],
    [0.01, 0.02, 0.3, 0.6, 0.02, 0.01, 0.01, 0.01, 0.01, 0.01],
    [0.01, 0.02, 0.3, 0.02, 0.6, 0.01, 0.01, 0.01, 0.01, 0.01],
]


def run_command(argv, capsys) -> tuple[int, str, str]:
    """`mnist-cnn` with `argv`, in this process: its exit status (argparse's too), standard output and error."""
    from mnist_cnn.cli import main

    try:
        status = main([str(arg) for arg in argv])
    except SystemExit as exit:
        status = exit.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err
