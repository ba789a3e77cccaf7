"""The notebook: committed with a full run's outputs, a thin caller of the library, and checked by nbval.

`make test` re-executes the whole notebook through nbval (see conftest.py at the root for its quick mode); the tests
here show that nbval does fail when a checked output changes.
"""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "mnist_cnn.ipynb"


@pytest.fixture(scope="module")
def notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def printed(cell):
    return "".join(output.get("text", "") for output in cell.outputs if output.output_type == "stream")


def all_outputs(cell):
    texts = [output.get("text", "") for output in cell.outputs]
    texts += [output.get("data", {}).get("text/plain", "") for output in cell.outputs]
    return "".join(texts)


def test_committed_with_the_outputs_of_a_full_run_on_the_full_mnist(notebook):
    cells = code_cells(notebook)
    assert all(cell.execution_count is not None for cell in cells if "NBVAL_SKIP" not in cell.source)
    log = "".join(printed(cell) for cell in cells)
    assert "60,000 training and 10,000 test images" in log
    assert re.search(r"Epoch 2/2\n422/422 ", log)  # 54,000 training images in batches of 128, each epoch whole
    accuracy = float(re.search(r"Test accuracy: (\d+\.\d)%", log).group(1))
    assert accuracy >= 98.5
    assert "the ensemble: " in log


def test_stored_outputs_hold_no_tensorflow_log_lines(notebook):
    outputs = "".join(all_outputs(cell) for cell in code_cells(notebook))
    for noise in (
        "absl::InitializeLog",
        "I0000 ",
        "W0000 ",
        "E0000 ",
        "oneDNN",
        "cuda",
        "cpu_feature_guard",
        "WARNING:",
    ):
        assert noise not in outputs, noise


def test_notebook_calls_the_library_instead_of_copying_it(notebook):
    source = "\n".join(cell.source for cell in code_cells(notebook))
    assert "from mnist_cnn." in source
    assert "def " not in source and "class " not in source and "keras.layers" not in source


def test_only_deterministic_cells_are_checked(notebook):
    checked = [cell.source for cell in code_cells(notebook) if "NBVAL_CHECK_OUTPUT" in cell.source]
    assert len(checked) == 2 and "model.summary()" in checked[1]
    assert all("Epoch" not in source and "accuracy" not in source for source in checked)


def run_nbval(path: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q", path.name]
    return subprocess.run(command, cwd=path.parent, capture_output=True, text=True)


def test_nbval_fails_when_a_checked_output_changes(notebook, tmp_path):
    # The cells up to the model summary: enough to check, without training.
    summary_index = next(i for i, cell in enumerate(notebook.cells) if "model.summary()" in cell.source)
    head = nbformat.from_dict({**notebook, "cells": notebook.cells[: summary_index + 1]})
    nbformat.write(head, tmp_path / "intact.ipynb")
    intact = run_nbval(tmp_path / "intact.ipynb")
    assert intact.returncode == 0, intact.stdout

    summary_cell = head.cells[summary_index]
    for output in summary_cell.outputs:
        if "data" in output and "112,074" in output.data.get("text/plain", ""):
            output.data["text/plain"] = output.data["text/plain"].replace("112,074", "112,075")
    nbformat.write(head, tmp_path / "broken.ipynb")
    broken = run_nbval(tmp_path / "broken.ipynb")
    assert broken.returncode == 1
    assert "112,075" in broken.stdout and "1 failed" in broken.stdout
