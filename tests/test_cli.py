"""The command line end to end, in a temporary folder: the commands a user types, and their errors."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from mnist_cnn.cli import main
from mnist_cnn.model import save_model


def run_cli(*args):
    """Run `python -m mnist_cnn ARGS` in a fresh process; return it finished."""
    return subprocess.run([sys.executable, "-m", "mnist_cnn", *map(str, args)], capture_output=True, text=True)


def test_train_evaluate_and_plot_end_to_end(tmp_path, capsys):
    output, plots = tmp_path / "run", tmp_path / "plots"
    status = main(["train", "--dataset", "sample", "--epochs", "2", "--output", str(output), "--plots", str(plots)])
    printed = capsys.readouterr().out
    assert status == 0
    assert "Test accuracy: " in printed and "precision" in printed
    results = json.loads((output / "results.json").read_text())
    assert results["config"]["epochs"] == 2 and set(results["timings_s"]) == {"load", "build", "train", "evaluate"}
    assert sorted(path.name for path in plots.iterdir()) == [
        "confusion_matrix.png",
        "misclassified.png",
        "samples.png",
        "training_curves.png",
    ]

    assert main(["evaluate", str(output / "model.keras"), "--dataset", "sample"]) == 0
    printed = capsys.readouterr().out
    assert f"Test accuracy: {100 * results['test_accuracy']:.1f}%" in printed


def test_hyperparameter_flags_reach_the_run(tmp_path):
    output = tmp_path / "run"
    flags = ["--batch-size", "50", "--filters", "8", "--learning-rate", "0.002", "--steps-per-epoch", "3"]
    assert main(["train", "--dataset", "sample", "--epochs", "1", "--output", str(output), *flags]) == 0
    config = json.loads((output / "results.json").read_text())["config"]
    assert (config["batch_size"], config["filters"], config["learning_rate"]) == (50, 8, 0.002)
    assert config["steps_per_epoch"] == 3


def test_dry_run(tmp_path, capsys):
    assert main(["train", "--dataset", "sample", "--dry-run", "--output", str(tmp_path / "run")]) == 0
    assert "2/2" in capsys.readouterr().out  # two batches
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())["loss"]) == 1


def test_summary_prints_the_seeds_parameter_count(tmp_path, capsys):
    assert main(["summary", "--diagram", str(tmp_path / "cnn.png")]) == 0
    assert "112,074" in capsys.readouterr().out


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
    assert answers[0]["error"] and answers[1]["digit"] in range(10)
    assert captured.err.count("\n") == 1 and "broken.png: not a readable image" in captured.err


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--data", "no/such.npz"], "error: no/such.npz: no such file or folder"),
        (["train", "--dataset", "sample", "--batch-size", "0"], "error: batch_size must be at least 1"),
        (["evaluate", "missing.keras", "--dataset", "sample"], "error: missing.keras: no such model file"),
        (["predict", "README.md", "x.png"], "error: README.md: not a Keras .keras model file"),
    ],
)
def test_errors_are_one_line_and_a_non_zero_exit(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text("not a model")
    finished = run_cli(*args)
    assert finished.returncode == 1
    assert message in finished.stderr
    assert "Traceback" not in finished.stderr and finished.stderr.strip().splitlines()[-1].startswith("error: ")


def test_full_disk_is_one_clear_line(tmp_path, monkeypatch, capsys):
    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "run" / "model.keras"))

    monkeypatch.setattr("mnist_cnn.train.save_model", no_space)
    status = main(["train", "--dataset", "sample", "--dry-run", "--output", str(tmp_path / "run")])
    assert status == 1
    assert capsys.readouterr().err == f"error: {tmp_path / 'run' / 'model.keras'}: No space left on device\n"
    assert not (tmp_path / "run" / "model.keras").exists()


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
    command = [sys.executable, "-m", "mnist_cnn", "train", "--dataset", "sample", "--epochs", "6"]
    command += ["--output", str(output)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_finished_epoch(output / "backup", process)
    process.send_signal(stop_signal)
    _, err = process.communicate(timeout=60)
    if stop_signal == signal.SIGINT:
        assert process.returncode == 130 and "run the same command to resume" in err
    assert not (output / "model.keras").exists()

    resumed = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert resumed.returncode == 0, resumed.stderr
    assert "Epoch 1/6" not in resumed.stdout  # it went on from a later epoch
    history = json.loads((output / "history.json").read_text())
    assert len(history["val_accuracy"]) == 6
    accuracy = json.loads((output / "results.json").read_text())["test_accuracy"]
    uninterrupted = tmp_path / "uninterrupted"
    assert main(["train", "--dataset", "sample", "--epochs", "6", "--output", str(uninterrupted)]) == 0
    expected = json.loads((uninterrupted / "results.json").read_text())["test_accuracy"]
    assert accuracy == pytest.approx(expected, abs=0.05)
    assert not (output / "backup").exists() and (output / "best.keras").exists()
