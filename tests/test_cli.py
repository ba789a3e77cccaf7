"""The command line end to end, in a temporary folder: the commands a user types, their files and their errors.

In-process calls run with MNIST_CNN_DEBUG=1 (tests/conftest.py), so that a bug in our code fails the test instead of
being printed as a one-line error; the subprocess tests see what a user sees.
"""

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from mnist_cnn import data
from mnist_cnn.cli import main
from mnist_cnn.model import load_model, save_model

from conftest import MEMBER_PROBABILITIES, constant_model

VENV_BIN = Path(sys.executable).parent
# Lines of our own on standard error; anything else there is noise (TensorFlow's C++ logs, say).
OUR_STDERR = re.compile(r"^(error|note|interrupted|No architecture diagram)")


def user_environment(**changes):
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **changes}
    for name in ("MNIST_CNN_DEBUG", "TF_CPP_MIN_LOG_LEVEL"):  # as a user's shell has them: unset
        environment.pop(name, None)
    return environment


def run_cli(*args, cwd=None, preexec_fn=None):
    """Run `python -m mnist_cnn ARGS` in a fresh process, as a user would; return it finished."""
    return subprocess.run(
        [sys.executable, "-m", "mnist_cnn", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=user_environment(),
        preexec_fn=preexec_fn,
    )


@pytest.fixture
def offline(monkeypatch):
    """Keras cannot download MNIST, as on a machine without internet."""

    def no_network():
        raise Exception("URL fetch failure on https://example/mnist.npz: [Errno -2] Name or service not known")

    monkeypatch.setitem(data.KERAS_LOADERS, "mnist", no_network)


def test_train_evaluate_and_plot_end_to_end(tmp_path, capsys):
    output, plots = tmp_path / "run", tmp_path / "plots"
    status = main(["train", "--dataset", "sample", "--epochs", "2", "--output", str(output), "--plots", str(plots)])
    printed = capsys.readouterr().out
    assert status == 0
    assert "1,800 training, 200 validation" in printed and "precision" in printed and "Test accuracy: " in printed
    results = json.loads((output / "results.json").read_text())
    assert results["config"]["epochs"] == 2 and {"train", "calibrate", "evaluate"} <= set(results["timings_s"])
    for name in ("confusion_matrix.png", "misclassified.png", "samples.png", "training_curves.png"):
        assert Image.open(plots / name).size[0] > 300, name

    evaluated = tmp_path / "evaluated"
    assert main(["evaluate", str(output / "model.keras"), "--dataset", "sample", "--plots", str(evaluated)]) == 0
    printed = capsys.readouterr().out
    assert f"Test accuracy: {100 * results['test_accuracy']:.2f}%" in printed
    assert sorted(path.name for path in evaluated.iterdir()) == [
        "confusion_matrix.png",
        "misclassified.png",
        "samples.png",
    ]


def test_evaluate_several_models_scores_the_mean_of_their_probabilities(tmp_path, capsys, sample_data):
    paths = [
        str(save_model(constant_model(probabilities), tmp_path / f"member-{index}.keras"))
        for index, probabilities in enumerate(MEMBER_PROBABILITIES)
    ]
    assert main(["evaluate", *paths, "--dataset", "sample"]) == 0
    printed = capsys.readouterr().out
    assert "(the mean probabilities of 3 models)" in printed
    labels = sample_data[1][1].argmax(axis=1)
    # The mean says 2 for every image; each member alone, or any two of them, say 1, 3 or 4.
    assert f"Test accuracy: {100 * (labels == 2).mean():.2f}%" in printed
    assert (labels == 2).mean() not in [(labels == digit).mean() for digit in (1, 3, 4)]


def test_hyperparameter_flags_reach_the_model_and_its_training(tmp_path):
    output = tmp_path / "run"
    flags = ["--batch-size", "50", "--filters", "8", "--learning-rate", "0.002", "--steps-per-epoch", "3"]
    assert (
        main(["train", "--dataset", "sample", "--recipe", "seed", "--epochs", "2", "--output", str(output), *flags])
        == 0
    )
    model = load_model(output / "model.keras")
    assert model.layers[0].filters == 8 and model.count_params() != 112_074
    assert float(model.optimizer.learning_rate) == pytest.approx(0.002)
    assert int(model.optimizer.iterations) == 2 * 3  # 3 steps of each of 2 epochs
    assert len(json.loads((output / "history.json").read_text())["loss"]) == 2


def test_recipe_seed_trains_the_course_recipe(tmp_path):
    output = tmp_path / "run"
    assert (
        main(["train", "--dataset", "sample", "--recipe", "seed", "--steps-per-epoch", "2", "--output", str(output)])
        == 0
    )
    model = load_model(output / "model.keras")
    assert model.count_params() == 112_074 and int(model.optimizer.iterations) == 10 * 2  # 10 epochs
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001) and isinstance(
        model.optimizer, keras.optimizers.Adam
    )
    results = json.loads((output / "results.json").read_text())
    assert results["validation_images"] == 0 and results["train_images"] == 2000 and results["temperature"] is None


def test_default_output_folders(tmp_path, monkeypatch, offline, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dry-run"]) == 0
    assert (tmp_path / "runs" / "dry-run" / "model.keras").exists()
    assert main(["train", "--dataset", "sample", "--steps-per-epoch", "1"]) == 0
    assert (tmp_path / "runs" / "sample-fast" / "model.keras").exists()


def test_without_mnist_train_uses_the_shipped_sample_and_says_so(tmp_path, offline, capsys):
    assert main(["train", "--dry-run", "--output", str(tmp_path / "run")]) == 0
    captured = capsys.readouterr()
    note = [line for line in captured.err.splitlines() if line.startswith("note:")]
    assert len(note) == 1 and "shipped in the package" in note[0] and "MNIST_CNN_DATA" in note[0]
    assert "sample: 1,800 training" in captured.out
    # Asked for by name, MNIST that cannot be had is an error.
    assert main(["train", "--dataset", "mnist", "--dry-run", "--output", str(tmp_path / "run2")]) == 1
    assert "mnist is not available" in capsys.readouterr().err


def test_dry_run(tmp_path, capsys):
    assert main(["train", "--dataset", "sample", "--dry-run", "--output", str(tmp_path / "run")]) == 0
    assert "2/2" in capsys.readouterr().out  # two batches
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())["loss"]) == 1


def test_benchmark_prints_stopwatchs_table(tmp_path, capsys):
    assert main(["train", "--dataset", "sample", "--dry-run", "--benchmark", "--output", str(tmp_path / "run")]) == 0
    table = capsys.readouterr().out
    assert all(re.search(rf"\b{stage}\b", table) for stage in ("load", "build", "train", "evaluate"))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_summary_prints_the_seeds_parameter_count_and_draws_the_diagram(tmp_path, capsys):
    assert main(["summary", "--diagram", str(tmp_path / "cnn.png")]) == 0
    assert "112,074" in capsys.readouterr().out
    assert Image.open(tmp_path / "cnn.png").size[1] > 500  # a tall diagram of 12 layers


def test_predict_prints_digits_top_k_and_json(trained_run, raw_sample, tmp_path, capsys):
    model = save_model(trained_run.model, tmp_path / "model.keras")
    Image.fromarray(255 - raw_sample[1][0][0]).resize((140, 140)).save(tmp_path / "digit.png")
    (tmp_path / "broken.png").write_text("not an image")

    assert main(["predict", str(model), str(tmp_path / "digit.png"), "--top", "3"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{tmp_path / 'digit.png'}: ") and line.count("%") == 3

    assert main(["predict", str(model), str(tmp_path / "broken.png"), str(tmp_path / "digit.png"), "--json"]) == 1
    captured = capsys.readouterr()
    answers = json.loads(captured.out)
    assert answers[0]["error"] and answers[0]["digit"] is None
    probabilities = [probability for _, probability in answers[1]["top"]]
    assert answers[1]["digit"] == answers[1]["top"][0][0] and probabilities == sorted(probabilities, reverse=True)
    assert captured.err.count("\n") == 1 and "broken.png: not a readable image" in captured.err


def test_plots_of_a_model_without_mistakes(trained_run, sample_data, tmp_path, monkeypatch, capsys):
    from mnist_cnn import cli

    (x_train, y_train), _ = sample_data
    easy = (x_train, y_train), (x_train[:0], y_train[:0])
    report = cli.evaluation_report(trained_run.model, (x_train[:5], y_train[:5]))
    report.predicted_labels = report.true_labels.copy()  # a perfect model
    report.probabilities = np.eye(10, dtype=np.float32)[report.true_labels]
    paths = cli.save_plots(tmp_path, easy, report)
    assert "misclassified.png" not in [path.name for path in paths] and (tmp_path / "confusion_matrix.png").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--data", "no/such.npz"], "error: no/such.npz: no such file or folder"),
        (["train", "--dataset", "sample", "--batch-size", "0"], "error: batch_size must be at least 1"),
        (["evaluate", "missing.keras", "--dataset", "sample"], "error: missing.keras: no such model file"),
        (["predict", "README.md", "x.png"], "error: README.md: not a Keras .keras model file"),
    ],
)
def test_errors_are_one_line_and_a_non_zero_exit(args, message, tmp_path):
    (tmp_path / "README.md").write_text("not a model")
    finished = run_cli(*args, cwd=tmp_path)
    assert finished.returncode == 1
    assert finished.stderr.strip().splitlines() == [finished.stderr.strip().splitlines()[0]]
    assert finished.stderr.startswith(message)


def test_an_os_error_without_a_file_name_is_still_one_clear_line():
    from mnist_cnn.cli import describe_os_error

    assert describe_os_error(OSError(28, "No space left on device")) == "No space left on device"
    assert describe_os_error(OSError(13, "Permission denied", "runs/x")) == "runs/x: Permission denied"
    h5py_report = (
        "Can't write data (file write failed: time = Thu\n, filename = 'runs/x/backup/latest.weights.h5', errno = 27"
    )
    assert describe_os_error(OSError(27, h5py_report)) == "runs/x/backup/latest.weights.h5: File too large"


def small_file_limit():
    """In the child process: files may grow to 300 KB only, as on a nearly full disk (and no signal kills it)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))


def test_a_full_disk_is_one_clear_line_and_leaves_no_partial_file(tmp_path):
    output = tmp_path / "run"
    finished = run_cli("train", "--dataset", "sample", "--dry-run", "--output", output, preexec_fn=small_file_limit)
    assert finished.returncode == 1
    assert re.fullmatch(r"error: \S+: File too large\n", finished.stderr), finished.stderr
    leftovers = [path.name for path in output.rglob("*") if ".partial" in path.name or path.name.endswith(".tmp")]
    assert leftovers == [] and not (output / "model.keras").exists()


SAVE_WITH_A_SMALL_DISK = """
import os, resource, signal, sys
from mnist_cnn.model import build_model, save_model

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))  # the model file is about 1.4 MB
try:
    save_model(build_model(), sys.argv[1])
except OSError as error:
    print("failed:", error.errno)
print(sorted(os.listdir(os.path.dirname(sys.argv[1]))))
"""


def test_a_save_that_fails_midway_leaves_neither_a_model_nor_a_partial_file(tmp_path):
    (tmp_path / "models").mkdir()
    finished = subprocess.run(
        [sys.executable, "-c", SAVE_WITH_A_SMALL_DISK, str(tmp_path / "models" / "model.keras")],
        capture_output=True,
        text=True,
    )
    assert finished.stdout.splitlines()[-2:] == ["failed: 27", "[]"], finished.stdout + finished.stderr[-2000:]


def test_every_command_keeps_tensorflows_native_logs_off_stderr(tmp_path):
    for args in (["summary", "--diagram", tmp_path / "cnn.png"], ["train", "--dataset", "sample", "--dry-run"]):
        finished = run_cli(*args, cwd=tmp_path)
        assert finished.returncode == 0, finished.stderr
        noise = [line for line in finished.stderr.splitlines() if line and not OUR_STDERR.match(line)]
        assert noise == [], args


def test_without_a_terminal_progress_is_one_line_per_epoch(tmp_path):
    finished = run_cli("train", "--dataset", "sample", "--epochs", "2", "--steps-per-epoch", "3", cwd=tmp_path)
    assert finished.returncode == 0
    assert "\r" not in finished.stdout and "\x1b[" not in finished.stdout
    assert len(re.findall(r"^3/3 - .*val_accuracy", finished.stdout, re.MULTILINE)) == 2


def test_the_mnist_cnn_command_is_installed():
    finished = subprocess.run(
        [VENV_BIN / "mnist-cnn", "--help"], capture_output=True, text=True, env=user_environment()
    )
    assert finished.returncode == 0 and "train" in finished.stdout and finished.stderr == ""


def wait_for_finished_epoch(backup, process, timeout=120):
    """Wait until the run's backup records a finished epoch."""
    metadata = backup / "training_metadata.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if metadata.exists() and json.loads(metadata.read_text() or "{}").get("epoch", 0) >= 1:
            return
        time.sleep(0.05)
    raise AssertionError("no epoch finished in time")


@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_interrupted_training_resumes_and_completes(tmp_path, stop_signal):
    output = tmp_path / "run"
    # Enough epochs that the run is still going when the signal comes, even on JAX's quick steps.
    command = [sys.executable, "-m", "mnist_cnn", "train", "--dataset", "sample", "--recipe", "seed", "--epochs", "12"]
    command += ["--steps-per-epoch", "6", "--output", str(output)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=user_environment()
    )
    wait_for_finished_epoch(output / "backup", process)
    process.send_signal(stop_signal)
    _, err = process.communicate(timeout=60)
    if stop_signal == signal.SIGINT:
        assert process.returncode == 130 and "run the same command to resume" in err
    assert not (output / "model.keras").exists()
    saved_epochs = json.loads((output / "backup" / "training_metadata.json").read_text())["epoch"]
    before = (output / "epochs.csv").read_text().splitlines()[: 1 + saved_epochs]  # header, epochs in the backup

    # Other settings are refused, naming what differs; the run is left as it was.
    other = subprocess.run([*command, "--batch-size", "32"], capture_output=True, text=True, env=user_environment())
    assert other.returncode == 1 and "batch_size 128 -> 32" in other.stderr and "--restart" in other.stderr
    assert (output / "epochs.csv").read_text().splitlines()[: len(before)] == before

    resumed = subprocess.run(command, capture_output=True, text=True, env=user_environment())
    assert resumed.returncode == 0, resumed.stderr
    after = (output / "epochs.csv").read_text().splitlines()
    assert after[: len(before)] == before and len(after) == 1 + 12  # the finished epochs kept as they were, header
    history = json.loads((output / "history.json").read_text())
    assert len(history["loss"]) == 12 and np.all(np.diff(history["elapsed_s"]) > 0)
    assert not (output / "backup").exists()
