"""The benchmarks' shared module (benchmarks/common.py), and the measurement the GPU benchmark makes
(benchmarks/measure.py): the script that will run on the GPU machine works, here, on the shipped sample."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from benchmarks.common import AccuracyCurve, accuracy_curve, parse_settings, time_to, write_results

pytestmark = pytest.mark.backend

ROOT = Path(__file__).parent.parent


def test_the_accuracy_curve_stops_at_the_target_after_the_least_epochs():
    labels = np.array([0, 1, 1])
    scores = iter([np.eye(2)[[1, 1, 1]], np.eye(2)[[0, 1, 1]], np.eye(2)[[0, 1, 1]], np.eye(2)[[0, 1, 1]]])
    points = accuracy_curve(lambda: None, lambda: next(scores), labels, epochs=4, target=1.0, min_epochs=3)
    assert [point["test_accuracy"] for point in points] == pytest.approx([2 / 3, 1.0, 1.0])
    times = [point["train_s"] for point in points]
    assert times == sorted(times) and times[0] >= 0
    assert time_to(points, 1.0) == points[1]["train_s"] and time_to(points, 1.1) is None


def test_the_keras_callback_measures_test_accuracy_after_each_epoch():
    rng = np.random.default_rng(0)
    images, labels = rng.random((64, 4)).astype(np.float32), rng.integers(0, 2, 64)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    curve = AccuracyCurve(images, labels, target=0.0, min_epochs=2)
    model.fit(images, labels, epochs=5, verbose=0, callbacks=[curve])
    assert len(curve.points) == 2  # the target is met at once: training stops after the least epochs
    predicted = model.predict(images, verbose=0).argmax(axis=1)
    assert curve.points[-1]["test_accuracy"] == pytest.approx((predicted == labels).mean())


def test_results_are_written_as_json_and_markdown_with_the_machine_and_the_command(tmp_path, capsys):
    path = write_results("figures", {"rounds": 3}, "| a | b |", folder=tmp_path)
    written = json.loads(path.read_text())
    assert written["rounds"] == 3 and written["machine"] and written["command"].startswith("python -m ")
    markdown = (tmp_path / "figures.md").read_text()
    assert markdown.startswith("| a | b |") and f"Machine: {written['machine']}." in markdown
    assert "| a | b |" in capsys.readouterr().out


def test_settings_are_read_as_python_values():
    assert parse_settings(["epochs=2", "max_shift=0.1", "precision='float32'"]) == {
        "epochs": 2,
        "max_shift": 0.1,
        "precision": "float32",
    }


def measure(runner: str, *settings: str) -> dict:
    command = [sys.executable, "-m", "benchmarks.measure", runner, "--smoke", *settings]
    finished = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="the GPU machine runs JAX: checked once, in JAX's run")
def test_the_gpu_recipe_is_measured_epoch_by_epoch():
    # Steps of 200 images, not the recipe's 1,000: a CPU trains those far sooner.
    result = measure("package-gpu", "--set", "batch_size=200", "--set", "epochs=2")
    assert result["runner"] == "package-gpu" and result["settings"] == {"batch_size": 200, "epochs": 2}
    assert result["epochs"] == 2 == len(result["curve"])
    first, second = result["curve"]
    assert 0 < first["train_s"] < second["train_s"] and 0 <= second["test_accuracy"] <= 1
    assert result["steady_images_per_s"] > 0 and result["final_accuracy"] == second["test_accuracy"]


@pytest.mark.skipif(
    keras.backend.backend() != "torch" or not importlib.util.find_spec("torch"), reason="the PyTorch peers run once"
)
@pytest.mark.parametrize("runner", ["torch", "seed"])
def test_the_peers_are_measured(runner):
    result = measure(runner, "--target", "0", "--stop")  # reached at once: two epochs, the least for a steady rate
    assert result["epochs"] == 2 and result["steady_images_per_s"] > 0
