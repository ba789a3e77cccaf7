"""The notebook's installs and the cells the notebook run skips (NBVAL_SKIP): the first cell changes no installed
package (under .ci/colab.txt, Colab's), a later cell installs what it alone needs without changing any, the TensorBoard
and demo cells run, the notebook runs to the end without TensorFlow (a Colab TPU), and every Colab badge and the
install cell name the repository pyproject.toml names."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell

from mnist_cnn import installs
from mnist_cnn.installs import InstallError, install_missing, missing_requirements
from mnist_cnn.model import save_model

from conftest import constant_model

ROOT = Path(__file__).parent.parent
NOTEBOOK = ROOT / "notebooks" / "mnist_cnn.ipynb"
pytestmark = pytest.mark.versions  # pip, TensorBoard and Gradio as each version set has them

REPOSITORY = re.search(r'^Repository = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)


def cells():
    return [cell.source for cell in nbformat.read(NOTEBOOK, as_version=4).cells if cell.cell_type == "code"]


def cell_with(text: str) -> str:
    (source,) = [source for source in cells() if text in source]
    return source


def test_the_install_cell_changes_no_installed_package(tmp_path):
    requirement = re.search(
        r'pip install --quiet "(\S+) @ git\+\{REPOSITORY_URL\}"', cell_with("REPOSITORY_URL")
    ).group(1)
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report)]
    finished = subprocess.run([*command, f"{requirement} @ {ROOT.as_uri()}"], capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-3000:]
    changed = {
        item["metadata"]["name"]: (installs.installed_version(item["metadata"]["name"]), item["metadata"]["version"])
        for item in json.loads(report.read_text())["install"]
        if item["metadata"]["name"] != "mnist-cnn"
    }
    assert {name: versions for name, versions in changed.items() if versions[0] is not None} == {}


def test_a_cell_installs_what_it_lacks_holding_every_installed_package(monkeypatch):
    monkeypatch.setattr(installs.importlib.util, "find_spec", lambda name: None if name == "onnxruntime" else True)
    wanted = installs.declared_requirement("onnxruntime")  # as pyproject.toml's [export] extra says
    assert wanted.startswith("onnxruntime>=") and missing_requirements("onnx") == [wanted]
    commands = []

    def fake_pip(command, **kwargs):
        constraints = Path(command[command.index("--constraint") + 1]).read_text()
        commands.append((command, constraints))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(installs.subprocess, "run", fake_pip)
    assert install_missing("onnx") == [wanted]
    ((command, constraints),) = commands
    assert command[-1] == wanted and f"keras=={keras.__version__}" in constraints.lower()

    monkeypatch.setattr(installs.subprocess, "run", lambda command, **kwargs: subprocess.CompletedProcess(
        command, 1, "", "ERROR: ResolutionImpossible: onnxruntime needs numpy>=3"))  # fmt: skip
    with pytest.raises(InstallError, match=r"could not install onnxruntime>=[\d.]+ .*ResolutionImpossible"):
        install_missing("onnx")
    with pytest.raises(InstallError, match="unknown feature 'onx'"):
        missing_requirements("onx")


@pytest.mark.parametrize(("version", "has_pkg_resources", "missing"), [
    ("2.20.0", False, ["setuptools<81"]),
    ("2.20.0", True, []),
    ("2.21.0", False, []),
])  # fmt: skip
def test_tensorboard_before_2_21_gets_the_setuptools_it_imports(monkeypatch, version, has_pkg_resources, missing):
    monkeypatch.setattr(installs, "installed_version", lambda name: version)
    monkeypatch.setattr(installs.importlib.util, "find_spec", lambda name: has_pkg_resources or None)
    assert missing_requirements("tensorboard") == missing


@pytest.fixture
def shell(monkeypatch, tmp_path):
    """An IPython shell, as a notebook's kernel runs cells, in an empty folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # `tensorboard`
    shell = InteractiveShell.instance()
    yield shell
    InteractiveShell.clear_instance()


def test_the_tensorboard_cell_starts_tensorboard(shell, capfd):
    from tensorboard import manager

    cell = cell_with("%tensorboard")
    logdir = re.search(r"%tensorboard --logdir (\S+)", cell).group(1)
    assert any(f'tensorboard_dir="{logdir}"' in source for source in cells())  # where the training logs
    launching = [line for line in cell.splitlines() if line.startswith(("%", "install_missing", "from mnist_cnn.inst"))]
    before = {info.pid for info in manager.get_all()}
    result = shell.run_cell("\n".join(launching))  # the cell without its training, which the notebook's run tests
    started = [info for info in manager.get_all() if info.pid not in before]
    for info in started:
        os.kill(info.pid, 15)
    printed = capfd.readouterr()
    assert result.success, result.error_in_exec
    assert "Failed to launch" not in printed.out + printed.err
    assert len(started) == 1 and started[0].logdir == logdir


def test_the_demo_cell_serves_the_page(shell, tmp_path):
    output = re.search(r'^OUTPUT = "(.+)"', cell_with("OUTPUT = "), re.MULTILINE).group(1)
    save_model(constant_model([0.1] * 10), tmp_path / output / "model.keras")  # the model the notebook trained
    shell.user_ns["OUTPUT"] = output
    result = shell.run_cell(cell_with("launch_demo"))
    page = shell.user_ns.get("page")
    try:
        assert result.success, result.error_in_exec
        assert page.local_url.startswith("http://127.0.0.1:")
    finally:
        if page is not None:
            page.close()


@pytest.mark.backend
@pytest.mark.skipif(keras.backend.backend() != "jax", reason="runs without TensorFlow: once, in JAX's run")
def test_the_notebook_runs_on_jax_where_there_is_no_tensorflow(tmp_path):
    # A Colab TPU runtime has no TensorFlow: the notebook's first cells choose JAX and say so, and it runs to the end.
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    # Each Python process, the notebook's kernel among them, hides TensorFlow and writes down the Keras backend it
    # imported (a kernel is killed at its end, so this is looked for while it runs).
    (hidden / "sitecustomize.py").write_text(
        "import os, sys, threading, time\n"
        "sys.modules['tensorflow'] = None\n"
        "def note_backend():\n"
        "    while not hasattr(sys.modules.get('keras'), 'backend'):\n"
        "        time.sleep(0.1)\n"
        "    time.sleep(1)  # the import under way\n"
        f"    with open(os.path.join({str(tmp_path)!r}, f'backend-{{os.getpid()}}.txt'), 'w') as file:\n"
        "        file.write(sys.modules['keras'].backend.backend())\n"
        "threading.Thread(target=note_backend, daemon=True).start()\n"
    )
    (tmp_path / "keras").mkdir()
    (tmp_path / "keras" / "keras.json").write_text('{"backend": "tensorflow"}')  # as Keras writes it by default
    notebook = tmp_path / NOTEBOOK.name
    notebook.write_bytes(NOTEBOOK.read_bytes())
    environment = {
        **os.environ,
        "PYTHONPATH": str(hidden),
        "KERAS_HOME": str(tmp_path / "keras"),
        "MNIST_CNN_QUICK": "1",
    }
    environment.pop("KERAS_BACKEND", None)
    command = [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q", notebook.name]
    finished = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=environment)
    assert finished.returncode == 0, finished.stdout[-3000:]
    assert (tmp_path / "runs" / "notebook" / "model.keras").is_file()  # trained and saved on the backend it chose
    assert {path.read_text() for path in tmp_path.glob("backend-*.txt")} == {"jax"}


def test_every_colab_badge_and_the_install_cell_name_the_repository():
    owner_and_name = REPOSITORY.removeprefix("https://github.com/")
    texts = [(ROOT / "README.md").read_text(), NOTEBOOK.read_text()]
    badges = [
        link for text in texts for link in re.findall(r"https://colab\.research\.google\.com/github/[^\"')\s\\]+", text)
    ]
    assert len(badges) >= 2
    assert all(link == f"https://colab.research.google.com/github/{owner_and_name}/blob/main/notebooks/mnist_cnn.ipynb"
               for link in badges)  # fmt: skip
    assert f'REPOSITORY_URL = "{REPOSITORY}"' in cell_with("REPOSITORY_URL")
