"""The demo page's load benchmark (benchmarks/demo_load.py): its figures from made-up requests, and a short run of it
against the page served by `mnist-cnn demo`, every answer checked, the server stopped at the end."""

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.demo_load import Question, Record, drawing, figures, markdown, outcome

ROOT = Path(__file__).parent.parent


def test_the_figures_count_answers_wrong_answers_and_errors_and_time_only_the_answers():
    records = [
        Record("drawing", 0.0, 0.5, "right"),
        Record("drawing", 0.5, 1.5, "wrong"),
        Record("upload", 0.0, 0.25, "right"),
        Record("upload", 0.25, 2.0, "ConnectionError: HTTP 503 from /gradio_api/call/predict_image: queue is full"),
    ]
    result = figures(records, seconds=2.0)
    assert result["drawing"] == {
        "requests": 2, "answers": 2, "answers_per_s": 1.0, "median_s": 0.75, "p95_s": pytest.approx(0.975),
        "slowest_s": 1.0, "wrong": 1, "errors": 0,
    }  # fmt: skip
    assert (
        result["upload"]["answers"] == 1 and result["upload"]["errors"] == 1 and result["upload"]["slowest_s"] == 0.25
    )
    every = result["all"]
    assert (every["requests"], every["answers"], every["answers_per_s"], every["wrong"], every["errors"]) == (
        4, 3, 1.5, 1, 1,
    )  # fmt: skip
    assert every["median_s"] == 0.5 and every["p95_s"] == pytest.approx(0.95) and every["slowest_s"] == 1.0
    assert figures([], seconds=0.0)["all"]["median_s"] is None

    text = markdown(
        {
            "clients": 2,
            "seconds": 2,
            "pause": 0,
            "model": "model.keras",
            "figures": result,
            "error_kinds": {records[-1].outcome: 1},
            "queue_size": 100,
            "model_calls": 2,
            "server_peak_mb": 900.0,
            "server_rss_at_rest_mb": 800.0,
            "server_cpu_s": 2.0,
            "clients_cpu_s": 0.2,
            "wall_s": 2.0,
        }  # fmt: skip
    )
    assert "| **all** | 4 | 3 | 1.5 | 0.50 s | 0.95 s | 1.00 s | 1 | 1 |" in text
    assert "Errors: 1 x ConnectionError: HTTP 503" in text and "peak memory 900 MB (800 MB at rest" in text
    assert "queue of 100 events at most, 2 model call(s) at a time" in text


def test_an_answer_is_right_when_it_is_predicts_digit_or_like_predict_no_digit():
    three, blank = Question("upload", (), 3), Question("drawing", (), None)
    answered = [{"label": "3", "confidences": []}, {"url": "seen"}, {"url": "why"}, "The model reads a **3**"]
    nothing = [{"label": None, "confidences": None}, None, None, "No digit to read: no digit found in the image."]
    assert outcome(three, answered) == "right" and outcome(three, nothing) == "wrong"
    assert outcome(blank, nothing) == "right" and outcome(blank, answered) == "wrong"
    assert outcome(three, [{"label": "8", "confidences": []}, None, None, "The model reads a **8**"]) == "wrong"


def test_a_drawing_is_sent_as_the_sketchpad_sends_it(tmp_path):
    brush = np.zeros((280, 280), np.float32)
    brush[60:220, 130:150] = 1.0  # a "1"
    background, layer, composite = (np.asarray(Image.open(path)) for path in drawing(brush, tmp_path / "one"))
    assert background.shape == layer.shape == composite.shape == (280, 280, 4)
    assert (background == 255).all()  # opaque white
    assert layer[100, 140].tolist() == [0, 0, 0, 255] and layer[0, 0, 3] == 0  # black ink on transparent
    assert composite[100, 140].tolist() == [0, 0, 0, 255] and composite[0, 0].tolist() == [255, 255, 255, 255]


@pytest.mark.versions  # Gradio's HTTP API: its upload and call routes
def test_a_short_load_is_answered_right_and_the_page_is_stopped_after(tmp_path, trained_run):
    pytest.importorskip("gradio", reason="the demo's extra is not installed: pip install 'mnist-cnn[demo]'")
    # A model saved by the Keras installed: the version sets' older Keras cannot load the stored reading model.
    command = [sys.executable, "-m", "benchmarks.demo_load", "--model", str(trained_run.files.model), "--clients", "2"]
    command += ["--seconds", "2", "--digits", "2", "--name", str(tmp_path / "load")]
    finished = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = json.loads((tmp_path / "load.json").read_text())
    for kind in ("drawing", "upload"):
        row = results["figures"][kind]
        assert row["answers"] > 0 and row["wrong"] == 0 and row["errors"] == 0, results
    assert results["server_peak_mb"] > 0 and results["unfinished_clients"] == 0
    assert results["url"].startswith("http://127.0.0.1:")
    assert "| **all** |" in (tmp_path / "load.md").read_text()
    with pytest.raises(OSError):  # the page was stopped
        urllib.request.urlopen(results["url"], timeout=5)
