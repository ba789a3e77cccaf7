"""Importing the package changes nothing; the backend is chosen the Keras way, TensorFlow is imported only on
TensorFlow, and without TensorFlow the package picks an installed backend and runs."""

import json
import os
import subprocess
import sys

import keras
import pytest

from mnist_cnn import backend
from mnist_cnn.__main__ import main
from mnist_cnn.backend import BackendError, choose_backend, configured_backend, use_backend, wanted_backend

# Python as a user runs it, with TensorFlow hidden as if it were not installed, then the given code.
WITHOUT_TENSORFLOW = "import sys; sys.modules['tensorflow'] = None\n"
# Tests of the other backends' processes, whatever the suite runs on: once, in JAX's run of `make test-backends`, whose
# virtual environment has JAX and PyTorch (make test's has TensorFlow alone).
IN_JAXS_RUN = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="runs once, in JAX's run of make test-backends (JAX and PyTorch there)"
)


def run_python(code, **environment):
    changes = {key: value for key, value in environment.items() if value is not None}
    env = {**os.environ, **changes}
    for name in [key for key, value in environment.items() if value is None]:
        env.pop(name, None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


# Imports the package (whose modules import no other library), its modules that need no Keras, then Keras, then
# every module: prints whether each step left os.environ, the warnings filters and sys.modules' Keras as they were.
IMPORT_THE_PACKAGE = """import importlib, os, pkgutil, sys, warnings
environment, filters = dict(os.environ), list(warnings.filters)
import mnist_cnn, mnist_cnn.backend
print(warnings.filters == filters)
import mnist_cnn.config, mnist_cnn.data, mnist_cnn.export
print(dict(os.environ) == environment, "keras" not in sys.modules)
import keras
environment = dict(os.environ)  # Keras and its backend set a few of their own
for module in pkgutil.iter_modules(mnist_cnn.__path__):
    importlib.import_module(f"mnist_cnn.{module.name}")
importlib.import_module(f"mnist_cnn.backends.{keras.backend.backend()}")
print(dict(os.environ) == environment, "KERAS_BACKEND" not in os.environ)
"""


def test_importing_the_package_changes_nothing_in_the_process():
    finished = run_python(IMPORT_THE_PACKAGE, KERAS_BACKEND=None)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout.split() == ["True"] * 5


def test_without_a_choice_the_first_installed_backend_is_wanted(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    missing = {"tensorflow"}
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None if name in missing else object())
    assert wanted_backend() == "jax"
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))  # as Keras writes it, also here
    assert wanted_backend() == "jax"
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "torch"}))
    assert wanted_backend() == "torch"
    assert wanted_backend("jax") == "jax"
    missing = {"tensorflow", "jax"}
    (tmp_path / "keras.json").unlink()
    assert wanted_backend() == "torch"
    missing = {"jax"}
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax"}))  # a choice: its error comes later
    assert wanted_backend() == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert wanted_backend() == "jax"


def test_the_backend_comes_from_keras_backend_then_keras_json(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert configured_backend() == "torch"
    monkeypatch.delenv("KERAS_BACKEND")
    assert configured_backend() is None
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax"}))
    assert configured_backend() == "jax"


def test_a_backend_other_than_the_running_one_is_one_clear_error():
    other = next(name for name in backend.BACKENDS if name != keras.backend.backend())
    with pytest.raises(BackendError, match=f"Keras already runs on {keras.backend.backend()}: choose the backend"):
        choose_backend(other)
    assert choose_backend(keras.backend.backend()) == keras.backend.backend()
    assert use_backend(keras.backend.backend()) == keras.backend.backend()
    with pytest.raises(BackendError, match="unknown backend 'mxnet'"):
        choose_backend("mxnet")


@pytest.mark.backend
@IN_JAXS_RUN
@pytest.mark.parametrize("chosen", ["jax", "torch"])
def test_the_package_imports_no_tensorflow_on_another_backend(chosen):
    if not backend.installed(chosen):
        pytest.skip(f"{chosen} is not installed")
    code = "import sys\nimport mnist_cnn.cli, mnist_cnn.demo, mnist_cnn.export\nprint('tensorflow' in sys.modules)"
    finished = run_python(code, KERAS_BACKEND=chosen)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert finished.stdout.split() == ["False"]


@pytest.mark.backend
@IN_JAXS_RUN
@pytest.mark.parametrize("keras_json", [None, "tensorflow"], ids=["no-keras.json", "keras.json-says-tensorflow"])
def test_without_tensorflow_the_command_line_picks_an_installed_backend_and_trains(tmp_path, keras_json):
    # Keras writes "tensorflow" to keras.json on its first import, also where TensorFlow is missing (a Colab TPU).
    if not (backend.installed("jax") or backend.installed("torch")):
        pytest.skip("neither JAX nor PyTorch is installed")
    if keras_json:
        (tmp_path / "keras.json").write_text(json.dumps({"backend": keras_json}))
    code = WITHOUT_TENSORFLOW + (
        "from mnist_cnn.__main__ import main\n"
        f"sys.exit(main(['train', '--dataset', 'sample', '--dry-run', '--output', {str(tmp_path / 'run')!r}]))"
    )
    finished = run_python(code, KERAS_BACKEND=None, KERAS_HOME=str(tmp_path))
    assert finished.returncode == 0, finished.stderr[-3000:]
    expected = "jax" if backend.installed("jax") else "torch"
    assert f"Backend: {expected}; devices: " in finished.stdout
    assert json.loads((tmp_path / "run" / "results.json").read_text())["backend"] == expected


def test_a_backend_that_is_not_installed_is_one_clear_error(tmp_path):
    code = (
        WITHOUT_TENSORFLOW
        + "from mnist_cnn.__main__ import main\nsys.exit(main(['--backend', 'tensorflow', 'summary']))"
    )
    finished = run_python(code, KERAS_BACKEND=None, KERAS_HOME=str(tmp_path))
    assert finished.returncode == 1
    others = ", ".join(name for name in ("jax", "torch") if backend.installed(name)) or "none"
    assert finished.stderr.strip().splitlines() == [
        "error: the tensorflow backend is not installed: pip install 'mnist-cnn[tensorflow]', or choose another with "
        f"KERAS_BACKEND or --backend ({others} here)"
    ]


@pytest.mark.parametrize("flag_first", [True, False], ids=["before", "after"])
def test_the_backend_flag_is_read_before_or_after_the_command(tmp_path, flag_first, capsys):
    running = keras.backend.backend()  # in-process, the only backend --backend can choose is the running one
    args = ["--backend", running, "summary"] if flag_first else ["summary", "--backend", running]
    assert main([*args, "--diagram", str(tmp_path / "cnn.png")]) == 0
    assert capsys.readouterr().out.startswith(f"Backend: {running}\n")


@pytest.mark.backend
def test_the_backend_flag_chooses_another_installed_backend(tmp_path):
    others = [name for name in backend.BACKENDS if name != keras.backend.backend() and backend.installed(name)]
    if not others:
        pytest.skip(f"no backend but {keras.backend.backend()} is installed")
    args = ["summary", "--backend", others[0], "--diagram", str(tmp_path / "cnn.png")]
    finished = run_python(
        f"import sys\nfrom mnist_cnn.__main__ import main\nsys.exit(main({args!r}))", KERAS_BACKEND=None
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout.startswith(f"Backend: {others[0]}\n")


# Compiles the network's forward pass on JAX, use_backend called before or after Keras is imported, as a run would.
COMPILE_ON_JAX = """import {first}
import numpy
from mnist_cnn.backend import use_backend
use_backend()
from mnist_cnn.config import Config
from mnist_cnn.model import build_model
build_model(Config()).predict(numpy.zeros((2, 28, 28, 1)), verbose=0)
"""
# A library user's run: train_and_evaluate alone, no use_backend.
TRAIN_ON_JAX = """from mnist_cnn.config import config_for
from mnist_cnn.data import load_data
from mnist_cnn.train import train_and_evaluate
train_and_evaluate(config_for("seed", epochs=1, steps_per_epoch=1), load_data("sample"), verbose=0)
"""
ON_JAX_ONLY = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="JAX's compilation cache: the other backends keep none"
)


@pytest.mark.backend
@ON_JAX_ONLY
@pytest.mark.parametrize(
    "code",
    [COMPILE_ON_JAX.format(first="keras"), COMPILE_ON_JAX.format(first="os"), TRAIN_ON_JAX],
    ids=["use_backend-after-keras", "use_backend-first", "train_and_evaluate-alone"],
)
def test_jax_keeps_compiled_programs_in_the_users_cache_folder(tmp_path, code):
    finished = run_python(code, KERAS_BACKEND="jax", XDG_CACHE_HOME=str(tmp_path), JAX_COMPILATION_CACHE_DIR=None)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert any((tmp_path / "mnist-cnn" / "jax").iterdir())


@pytest.mark.backend
@ON_JAX_ONLY
def test_a_compilation_cache_the_user_chose_is_kept(tmp_path):
    chosen = tmp_path / "chosen"
    finished = run_python(COMPILE_ON_JAX.format(first="keras"), KERAS_BACKEND="jax", XDG_CACHE_HOME=str(tmp_path),
                          JAX_COMPILATION_CACHE_DIR=str(chosen))  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert any(chosen.iterdir())
    assert not (tmp_path / "mnist-cnn").exists()


@pytest.mark.backend
@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX: run the suite with KERAS_BACKEND=jax")
def test_on_jax_training_is_compiled_even_when_jit_compile_is_off(sample_data):
    from mnist_cnn.config import config_for
    from mnist_cnn.train import train_and_evaluate

    config = config_for("seed", epochs=1, steps_per_epoch=2, jit_compile=False)
    model = train_and_evaluate(config, sample_data, verbose=0).model
    assert model.jit_compile is True and not model.run_eagerly
