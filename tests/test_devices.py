"""Several devices (two CPUs stand in for two GPUs) and XLA: they make the same steps as one device; the precision each
kind of machine gets."""

import os
import subprocess
import sys

import keras
import pytest

from mnist_cnn import backend, precision
from mnist_cnn.backend import BackendError
from mnist_cnn.config import ConfigError, config_for
from mnist_cnn.devices import chosen_devices, scaled_for
from mnist_cnn.precision import resolve_precision
from mnist_cnn.train import train_and_evaluate

TWO_CPUS = """
import sys
import keras
import numpy as np

if keras.backend.backend() == "tensorflow":  # JAX is given two CPUs by XLA_FLAGS
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from mnist_cnn.config import config_for
from mnist_cnn.data import load_data
from mnist_cnn.train import train_and_evaluate

data = load_data("sample")
runs = {}
# Without dropout, whose random masks differ with the device count, the same seed, global batch and rate make the
# same steps on two devices as on one.
for devices, batch_size, learning_rate in (("2", 64, 0.001), ("1", 128, 0.002)):
    config = config_for(
        "seed", epochs=1, steps_per_epoch=4, dropout=0.0, batch_size=batch_size, learning_rate=learning_rate,
        devices=devices,
    )
    runs[devices] = train_and_evaluate(config, data, verbose=0)
two, one = runs["2"], runs["1"]
print(len(two.devices), len(one.devices), two.trained_config.batch_size, two.trained_config.learning_rate)
print(max(float(np.abs(a - b).max()) for a, b in zip(two.model.get_weights(), one.model.get_weights(), strict=True)))
"""


@pytest.mark.backend
@pytest.mark.skipif(keras.backend.backend() == "torch", reason="Keras trains on one device on PyTorch")
def test_two_devices_train_data_parallel_as_one_does():
    environment = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    finished = subprocess.run([sys.executable, "-c", TWO_CPUS], capture_output=True, text=True, env=environment)
    assert finished.returncode == 0, finished.stderr[-3000:]
    devices_line, difference_line = finished.stdout.strip().splitlines()[-2:]
    two_replicas, one_replica, batch_size, learning_rate = devices_line.split()
    assert (two_replicas, one_replica, batch_size) == ("2", "1", "128")  # 64 a device, scaled to the global batch
    assert float(learning_rate) == pytest.approx(0.002)  # scaled with it
    # Four steps of Adam move a weight by up to 0.008; the order of the sums alone leaves about 1e-5.
    assert float(difference_line) < 2e-4


@pytest.mark.backend
def test_scaling_and_bad_device_counts(sample_data):
    config = config_for("seed")
    assert scaled_for(config, 4).batch_size == 512 and scaled_for(config, 4).learning_rate == pytest.approx(0.004)
    assert scaled_for(config, 1) is config
    with pytest.raises(ConfigError, match="devices must be 'all' or a number"):
        config_for("seed", devices="two")
    with pytest.raises(BackendError, match="99 asked for, but this machine has"):
        train_and_evaluate(config_for("seed", devices="99", epochs=1, steps_per_epoch=1), sample_data)


@pytest.mark.backend
@pytest.mark.skipif(keras.backend.backend() != "torch", reason="only PyTorch refuses several devices")
def test_several_devices_on_pytorch_are_one_clear_error(monkeypatch, sample_data):
    monkeypatch.setattr("mnist_cnn.backend.available_devices", lambda: ["cuda:0", "cuda:1"])
    with pytest.raises(BackendError, match="Keras trains on one device on the PyTorch backend: use the JAX or"):
        train_and_evaluate(config_for("seed", devices="2", epochs=1, steps_per_epoch=1), sample_data)


@pytest.mark.backend
@pytest.mark.skipif(
    keras.backend.backend() == "torch", reason="torch.compile takes over a minute to compile on a 2-core CPU"
)
def test_xla_compiled_training_learns(sample_data):
    config = config_for("seed", epochs=2, steps_per_epoch=8, jit_compile=True)
    result = train_and_evaluate(config, sample_data, verbose=0)
    assert result.model.jit_compile is True
    assert result.history["loss"][1] < result.history["loss"][0]


@pytest.mark.backend
def test_one_device_more_than_the_machine_has_is_refused(sample_data, tmp_path):
    available = backend.available_devices()
    assert chosen_devices(str(len(available))) == available  # as many as there are: taken
    config = config_for("seed", devices=str(len(available) + 1), epochs=1, steps_per_epoch=1)
    with pytest.raises(BackendError) as error:
        train_and_evaluate(config, sample_data, tmp_path / "run", verbose=0)
    assert str(error.value).startswith(
        f"devices: {len(available) + 1} asked for, but this machine has {len(available)}"
    )
    assert not (tmp_path / "run").exists()  # refused before the run folder was touched


@pytest.mark.parametrize(
    ("capabilities", "flags", "expected"),
    [
        ([(7, 0)], set(), "mixed_float16"),  # V100: tensor cores in float16 only
        ([(7, 5)], set(), "mixed_float16"),  # T4 (Colab)
        ([(8, 0)], set(), "float32"),  # A100: TF32 tensor cores
        ([(8, 9)], set(), "float32"),  # L4
        ([(9, 0)], {"avx512_bf16"}, "float32"),  # H100: the GPU decides, not the CPU
        ([(6, 1)], set(), "float32"),  # no tensor cores
        ([(7, 5), (8, 0)], set(), "mixed_float16"),  # the oldest GPU decides
        ([], {"avx512f", "avx512_bf16"}, "mixed_bfloat16"),  # a CPU with bfloat16 instructions
        ([], {"amx_bf16"}, "mixed_bfloat16"),
        ([], {"avx2", "avx512f"}, "float32"),  # most laptops
    ],
)
def test_auto_precision_for_each_kind_of_machine(monkeypatch, capabilities, flags, expected):
    monkeypatch.setattr(backend, "gpu_compute_capabilities", lambda: capabilities)
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    assert resolve_precision("auto") == expected
    assert resolve_precision("float32") == "float32"  # asked for: as asked


def test_cpu_flags_are_read_from_proc_cpuinfo(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512_bf16\nbugs\t\t: spectre\n")
    real_path = precision.Path
    monkeypatch.setattr(precision, "Path", lambda path: cpuinfo if path == "/proc/cpuinfo" else real_path(path))
    assert precision.cpu_flags() == {"fpu", "sse2", "avx512_bf16"}
    cpuinfo.unlink()
    assert precision.cpu_flags() == set()
