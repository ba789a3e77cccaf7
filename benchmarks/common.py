"""What every benchmark shares, so that each measures and reports alike: flags, the accuracy curve (a point an epoch:
"train_s", seconds so far, the clock paused while testing; "test_accuracy"), the machine, a fresh process, results."""

import argparse
import ast
import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from subprocess import PIPE

import keras
import numpy as np

from mnist_cnn.files import atomic_path, write_json
from mnist_cnn.model import predict_probabilities

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


class Clock:
    """Seconds since it was made, less the time spent paused."""

    def __init__(self) -> None:
        self.started, self.paused_s = time.perf_counter(), 0.0

    @property
    def seconds(self) -> float:
        """The seconds counted so far."""
        return time.perf_counter() - self.started - self.paused_s

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Stop the clock for the `with` block."""
        stopped = time.perf_counter()
        yield
        self.paused_s += time.perf_counter() - stopped


def scored(points: list[dict], clock: Clock, scores: Callable, labels, target: float | None, min_epochs: int) -> bool:
    """Add the training time so far and `scores()`'s test accuracy to `points`; whether the target was met in time."""
    train_s = clock.seconds
    with clock.paused():
        accuracy = float((np.asarray(scores()).argmax(axis=1) == np.asarray(labels)).mean())
    points.append({"train_s": train_s, "test_accuracy": accuracy})
    return target is not None and len(points) >= min_epochs and accuracy >= target


class AccuracyCurve(keras.callbacks.Callback):
    """Test accuracy after each epoch of a Keras `fit` and the training time until then, the clock paused meanwhile."""

    def __init__(self, images, labels, target: float | None = None, min_epochs: int = 1, clock: Clock | None = None):
        super().__init__()
        self.images, self.labels, self.target, self.min_epochs = images, np.asarray(labels), target, min_epochs
        self.clock, self.points = clock, []

    def on_train_begin(self, logs=None):
        self.clock = self.clock or Clock()

    def on_epoch_end(self, epoch, logs=None):
        scores = partial(predict_probabilities, self.model, self.images)
        if scored(self.points, self.clock, scores, self.labels, self.target, self.min_epochs):
            self.model.stop_training = True


def accuracy_curve(train_epoch, predict, labels, epochs: int, target=None, min_epochs=1, clock=None) -> list[dict]:
    """AccuracyCurve's points for a training loop of one's own."""
    clock, points = clock or Clock(), []
    for _ in range(epochs):
        train_epoch()
        if scored(points, clock, predict, labels, target, min_epochs):
            break
    return points


def benchmark_parser(doc: str, seeds: list[int] | None = None) -> argparse.ArgumentParser:
    """A parser described by the docstring's first paragraph: --dataset and --data as `mnist-cnn train`'s, --seeds."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--dataset", default="mnist", help="mnist, or sample (the shipped one: a quick check)")
    parser.add_argument("--data", help="a data path, as mnist-cnn train --data")
    if seeds:
        parser.add_argument("--seeds", type=int, nargs="+", default=seeds, help="default: %(default)s")
    return parser


def seconds(call: Callable[[], object]) -> float:
    """How long `call()` takes."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def milliseconds(call: Callable[[int], object], count: int) -> list[float]:
    """The milliseconds of `call(0)` to `call(count - 1)`, each timed alone, after a first call that compiles."""
    call(0)
    return [1000 * seconds(partial(call, index)) for index in range(count)]


def rotated(items: list, round_number: int) -> list:
    """The items in an order that starts one further along in each round (a slow spell slows each in turn)."""
    shift = round_number % len(items)
    return [*items[shift:], *items[:shift]]


def spread(values: list[float | None], scale: float = 1.0, digits: int = 2, unit: str = "") -> str:
    """Mean ± standard deviation (min to max) of the values given, scaled, or the one value, or "-"."""
    values = [value * scale for value in values if value is not None]
    if len(values) < 2:
        return f"{values[0]:.{digits}f}{unit}" if values else "-"
    mean, deviation, low, high = statistics.mean(values), statistics.stdev(values), min(values), max(values)
    return f"{mean:.{digits}f}{unit} ± {deviation:.{digits}f} ({low:.{digits}f} to {high:.{digits}f})"


def time_to(points: list[dict], target: float) -> float | None:
    """The training time at which the curve first reached `target`, or None."""
    return next((point["train_s"] for point in points if point["test_accuracy"] >= target), None)


def gpu_names() -> list[str]:
    """The names of the NVIDIA GPUs that nvidia-smi lists; none without it."""
    if not shutil.which("nvidia-smi"):
        return []
    query = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]
    return subprocess.run(query, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()


def machine() -> str:
    """One line: CPU and cores, GPU if any, Python, and the versions of Keras and the backends installed."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line for line in cpuinfo.read_text().splitlines() if "model name" in line] if cpuinfo.exists() else []
    cpu = names[0].split(":", 1)[1].strip() if names else platform.processor()
    gpus = gpu_names()
    parts = [f"{cpu}, {os.cpu_count()} cores", *([f"{len(gpus)} x {gpus[0]}"] if gpus else [])]
    versions = [f"Python {platform.python_version()}"]
    for package in ("keras", "tensorflow", "jax", "torch"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):  # the copy imported, where two are installed
            versions.append(f"{package} {importlib.metadata.version(package)}")
    return f"{'; '.join(parts)}; {', '.join(versions)}"


def run_json(arguments: list[str], timeout: float | None = None, log: bool = False, **environment: str) -> dict:
    """`python -m ARGUMENTS` in a fresh process, stopped past `timeout` s: its last line as JSON, or {"error": ...}."""
    variables = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **environment}
    command = [sys.executable, "-m", *arguments]
    process = subprocess.Popen(
        command, stdout=PIPE, stderr=PIPE, text=True, env=variables, cwd=ROOT, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # a notebook's kernel too, which would keep its share of the device
        process.communicate()
        return {"error": f"stopped after {timeout:.0f} s"}
    if process.returncode != 0 or log:  # its stderr: where it failed, or with `log`
        print(f"--- {' '.join(arguments)}: exit {process.returncode}\n{stderr[-3000:]}", file=sys.stderr, flush=True)
    if process.returncode != 0:
        return {"error": (stderr.strip().splitlines() or [f"exit {process.returncode}"])[-1]}
    return json.loads(stdout.strip().splitlines()[-1])


def measured(runner: str, task: str, args, *options: str, **environment: str) -> dict:
    """benchmarks.measure's figures for one runner and task on `args.dataset` and `args.data`; stop on a failure."""
    data = ["--data", args.data] if args.data else []
    result = run_json(["benchmarks.measure", runner, task, "--dataset", args.dataset, *data, *options], **environment)
    if "error" in result:
        raise SystemExit(result["error"])
    return result


def table(header: list[str], rows: list[list[object]]) -> list[str]:
    """A Markdown table's lines: the first column left-aligned, the others right-aligned, a cell's pipes escaped."""
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    return lines + ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]


def parse_settings(pairs: list[str]) -> dict[str, object]:
    """`["epochs=2", "max_shift=0.1"]` as `{"epochs": 2, "max_shift": 0.1}`."""
    return {name: ast.literal_eval(value) for name, value in (pair.split("=", 1) for pair in pairs)}


def command_line() -> str:
    """How this process was started: `python -m benchmarks.NAME ARGUMENTS` for a benchmark."""
    script = Path(sys.argv[0]).resolve()
    module = ".".join(script.relative_to(ROOT).with_suffix("").parts) if script.is_relative_to(ROOT) else script.stem
    return " ".join(["python -m", module, *sys.argv[1:]])


def shown(path: Path) -> str:
    """A path as results name it: from the repository's root where it lies inside, so that no machine's folders show."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def write_results(name: str, results: dict, markdown: str, folder: Path = RESULTS, echo: bool = True) -> Path:
    """Keep `results` in folder/NAME.json and `markdown` in NAME.md, with the machine and the command; print it."""
    command, machine_line = command_line(), machine()
    path = write_json(Path(folder) / f"{name}.json", {"command": command, "machine": machine_line, **results})
    text = f"{markdown.rstrip()}\n\nMachine: {machine_line}.\n\n`{command}`\n"
    with atomic_path(Path(folder) / f"{name}.md") as temporary:
        temporary.write_text(text)
    if echo:
        print(text)
    return path
