"""The GPU benchmark's CPU path: the script that will run on the GPU machine works, here, on the shipped sample."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from mnist_cnn.backend import installed

pytestmark = pytest.mark.backend

GPU_MEASURE = Path(__file__).parent.parent / "benchmarks" / "gpu" / "measure.py"


def measure(runner: str, *settings: str) -> dict:
    finished = subprocess.run(
        [sys.executable, GPU_MEASURE, runner, "--quick", "--epochs", "2", *settings], capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="the GPU machine runs JAX: checked once, in JAX's run")
def test_the_gpu_recipe_is_measured_epoch_by_epoch():
    # Steps of 200 images, not the recipe's 1,000: on a CPU, JAX takes 25 s for the recipe's, 15 s for these.
    result = measure("package-gpu", "--set", "batch_size=200")
    assert result["runner"] == "package-gpu" and result["settings"] == {"batch_size": 200}
    assert result["epochs"] == 2 == len(result["curve"])
    first, second = result["curve"]
    assert 0 < first["train_s"] < second["train_s"] and 0 <= second["test_accuracy"] <= 1
    assert result["steady_images_per_s"] > 0 and result["final_accuracy"] == second["test_accuracy"]


@pytest.mark.skipif(keras.backend.backend() != "torch" or not installed("torch"), reason="the PyTorch peers run once")
@pytest.mark.parametrize("runner", ["torch-peer", "seed-code"])
def test_the_peers_are_measured(runner):
    result = measure(runner)
    assert result["epochs"] == 2 and result["steady_images_per_s"] > 0
