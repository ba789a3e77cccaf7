"""The demo page (`mnist-cnn demo MODEL` on 127.0.0.1) under a class's load: CLIENTS students at once for SECONDS, half
drawing, half uploading scans and photos, each answer checked against the digit `mnist-cnn predict` reads in the image.
The clients speak Gradio's HTTP API in plain HTTP, as a browser does: gradio_client would take the server's CPU."""

import argparse
import contextlib
import itertools
import json
import mimetypes
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

HOST = "127.0.0.1"  # never served beyond this machine
STARTUP_S = 180  # the page must answer within this many seconds of being started
REQUEST_S = 60  # an answer later than this counts as an error
STOP_S = 30  # the server is killed if it has not stopped this long after SIGTERM
UPLOAD_KINDS = ("scan with margin", "sheet on a desk")  # what students upload: a scan, a photo from a phone
FIRST_DIGIT = 100  # the sample's test digits used start here (the tests draw the first ones)
API_NAMES = {"drawing": "predict_drawing", "upload": "predict_image"}  # the page's API, for each kind


class Question(NamedTuple):
    """What one client sends (a drawing's three layers, or one file) and the digit `predict` reads in it (or None)."""

    kind: str
    files: tuple[Path, ...]
    expected: int | None


class Record(NamedTuple):
    """One request: its kind, when it was sent and answered (seconds from the start), "right", "wrong" or why not."""

    kind: str
    sent: float
    answered: float
    outcome: str


def drawing(brush: np.ndarray, stem: Path) -> tuple[Path, ...]:
    """A brush's coverage (H, W in [0, 1]) as the sketchpad sends it: white background, black layer, composite."""
    background = Image.new("RGBA", brush.shape[::-1], (255, 255, 255, 255))
    layer = Image.fromarray(np.dstack([np.zeros((*brush.shape, 3), np.uint8), (brush * 255).astype(np.uint8)]))
    paths = tuple(stem.with_name(f"{stem.name}-{part}.png") for part in ("background", "layer", "composite"))
    for picture, path in zip((background, layer, Image.alpha_composite(background, layer)), paths, strict=True):
        picture.save(path)
    return paths


def questions(model, digits: np.ndarray, folder: Path) -> dict[str, list[Question]]:
    """Each digit drawn with the page's brush, scanned and photographed, with the digit `predict` reads in each."""
    from benchmarks.own_digits import digit_kinds
    from mnist_cnn.demo import BRUSH_WIDTH, CANVAS_SIDE
    from mnist_cnn.predict import predict_files

    kinds = digit_kinds()
    strokes = [kinds.brush_drawn(digit, CANVAS_SIDE, BRUSH_WIDTH) for digit in digits]
    drawn = [drawing(brush, folder / f"drawing-{index:03d}") for index, brush in enumerate(strokes)]
    uploads = [(path,) for kind in UPLOAD_KINDS for path in kinds.render_kind(kind, digits, folder)]
    return {
        kind: [Question(kind, files, predict_files(model, [files[-1]])[0].digit) for files in made]
        for kind, made in (("drawing", drawn), ("upload", uploads))
    }


@contextlib.contextmanager
def served(model: Path, folder: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """`mnist-cnn demo MODEL` started on a free port (its log and uploads in `folder`), stopped when the block ends."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "mnist_cnn", "demo", str(model), "--host", HOST, "--port", str(port)]
    variables = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "GRADIO_TEMP_DIR": str(folder / "uploads")}
    with open(folder / "server.log", "w") as log:  # its own session: Ctrl-C reaches this process, which stops it
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=variables, start_new_session=True)
    try:
        yield f"http://{HOST}:{port}/", server
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def answering(url: str, server: subprocess.Popen, log: Path) -> None:
    """Return once the page answers; raise SystemExit with the server's last words if it stops or takes too long."""
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    said = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    why = f"exited with status {server.returncode}" if server.poll() is not None else f"no answer in {STARTUP_S} s"
    raise SystemExit(f"the demo page did not start ({why}):\n{said}")


def process_figures(pid: int) -> dict[str, float | None]:
    """A process's resident memory now and at its peak (MB) and its CPU seconds, from /proc (None elsewhere)."""
    status, stat = Path(f"/proc/{pid}/status"), Path(f"/proc/{pid}/stat")
    if not (status.exists() and stat.exists()):
        return {"rss_mb": None, "peak_mb": None, "cpu_s": None}
    fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
    ticks = stat.read_text().rsplit(")", 1)[1].split()[11:13]  # utime and stime, after the name
    rss_mb, peak_mb = (int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))
    return {"rss_mb": rss_mb, "peak_mb": peak_mb, "cpu_s": sum(int(tick) for tick in ticks) / os.sysconf("SC_CLK_TCK")}


def checked(response):
    """The response, or an error naming the route that refused it (no event's or file's name: one kind, one count)."""
    if response.is_success:
        return response
    detail = response.read().decode(errors="replace").strip()[:100]
    route = re.sub(r"(/call/[^/]+/|/file=).+", r"\1...", response.request.url.path)
    raise ConnectionError(f"HTTP {response.status_code} from {route}: {detail}")


def ask(http, url: str, question: Question) -> list:
    """The answer's outputs (top digits, two pictures, message), asked as the page asks: upload, call, await, fetch."""
    deadline = time.perf_counter() + REQUEST_S
    files = [("files", (path.name, path.read_bytes(), mimetypes.guess_type(path.name)[0])) for path in question.files]
    stored = checked(http.post(f"{url}gradio_api/upload", files=files)).json()
    pairs = zip(stored, question.files, strict=True)
    data = [{"path": path, "orig_name": file.name, "meta": {"_type": "gradio.FileData"}} for path, file in pairs]
    if question.kind == "drawing":  # the sketchpad's one value: its three layers
        data = [{"background": data[0], "layers": [data[1]], "composite": data[2], "id": None}]
    call = f"{url}gradio_api/call/{API_NAMES[question.kind]}"
    event_id = checked(http.post(call, json={"data": data})).json()["event_id"]
    with http.stream("GET", f"{call}/{event_id}") as stream:
        lines = checked(stream).iter_lines()  # server-sent events: "event: NAME", then "data: JSON"
        for line in lines:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no answer in {REQUEST_S} s")
            if line in ("event: complete", "event: error"):
                outputs = json.loads(next(lines).removeprefix("data: "))
                if line == "event: error":
                    raise RuntimeError(f"the page answered with an error: {outputs}")
                break
        else:
            raise ConnectionError("the answer's stream ended without an answer")
    for picture in outputs[1:3]:
        if picture:
            checked(http.get(picture["url"]))
    return outputs


def outcome(question: Question, outputs: list) -> str:
    """ "right" if the page read the digit `predict` reads (or, like it, none), else "wrong"."""
    top, *_, message = outputs
    digit = int(top["label"]) if isinstance(top, dict) and top.get("label") not in (None, "") else None
    if question.expected is None:
        return "right" if digit is None and message.startswith("No digit to read") else "wrong"
    return "right" if digit == question.expected else "wrong"


def named(error: Exception) -> str:
    """An error as one short line: its type and its message's first line."""
    first = (str(error).strip().splitlines() or [""])[0][:200]
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def run_load(url: str, asked: dict[str, list[Question]], args: argparse.Namespace, pid: int) -> dict:
    """Run the clients (every other one drawing) for args.seconds: their records and the server's figures."""
    import httpx  # Gradio's own HTTP client

    records, lock, clock = [], threading.Lock(), {}
    ready = threading.Barrier(args.clients + 1, action=lambda: clock.setdefault("start", time.perf_counter()))

    def now() -> float:
        return time.perf_counter() - clock["start"]

    def student(asks: list[Question], first: int) -> None:
        with httpx.Client(timeout=REQUEST_S) as http:
            ready.wait()
            for index in itertools.count(first):
                if now() >= args.seconds:
                    return
                question, sent = asks[index % len(asks)], now()
                try:
                    said = outcome(question, ask(http, url, question))
                except Exception as error:  # every failure is counted and named, and the client goes on
                    said = named(error)
                with lock:
                    records.append(Record(question.kind, sent, now(), said))
                time.sleep(args.pause)

    lists = list(asked.values())  # the drawings' questions and the uploads'
    threads = [threading.Thread(target=student, args=(lists[n % 2], n * 7), daemon=True) for n in range(args.clients)]
    for thread in threads:
        thread.start()
    before, cpu_before = process_figures(pid), time.process_time()
    ready.wait(timeout=STARTUP_S)
    deadline = time.monotonic() + args.seconds + REQUEST_S + 10  # the last answers; whatever is left is given up
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    wall_s, after = now(), process_figures(pid)
    with lock:  # a client given up may still be adding its record
        return {
            "records": list(records),
            "wall_s": wall_s,
            "server_rss_at_rest_mb": before["rss_mb"],
            "server_peak_mb": after["peak_mb"],
            "server_cpu_s": None if after["cpu_s"] is None else after["cpu_s"] - before["cpu_s"],
            "clients_cpu_s": time.process_time() - cpu_before,
            "unfinished_clients": sum(thread.is_alive() for thread in threads),
        }


def summary(records: list[Record], seconds: float) -> dict:
    """Answers a second, latency (median, 95th percentile, slowest), wrong answers and errors of some requests."""
    answered = [record for record in records if record.outcome in ("right", "wrong")]
    latencies = np.array([record.answered - record.sent for record in answered])
    median, p95 = (float(q) for q in np.percentile(latencies, [50, 95])) if len(latencies) else (None, None)
    return {
        "requests": len(records),
        "answers": len(answered),
        "answers_per_s": len(answered) / seconds if seconds > 0 else None,
        "median_s": median,
        "p95_s": p95,
        "slowest_s": float(latencies.max()) if len(latencies) else None,
        "wrong": sum(record.outcome == "wrong" for record in records),
        "errors": len(records) - len(answered),
    }


def figures(records: list[Record], seconds: float) -> dict:
    """The summary of drawings, of uploads and of all requests."""
    rows = {kind: summary([record for record in records if record.kind == kind], seconds) for kind in API_NAMES}
    return {**rows, "all": summary(records, seconds)}


def markdown(results: dict) -> str:
    """The table (drawings, uploads, all), the errors met, the server's memory and CPU, and the queue's settings."""
    from benchmarks.common import table

    header = ["requests", "sent", "answers", "answers a second", "median", "95th percentile", "slowest", "wrong"]
    rows = []
    for name, label in (("drawing", "drawings"), ("upload", "uploads"), ("all", "**all**")):
        row = results["figures"][name]
        rate = "-" if row["answers_per_s"] is None else f"{row['answers_per_s']:.1f}"
        times = ["-" if row[key] is None else f"{row[key]:.2f} s" for key in ("median_s", "p95_s", "slowest_s")]
        rows.append([label, row["requests"], row["answers"], rate, *times, row["wrong"], row["errors"]])
    errors = "; ".join(f"{count} x {said}" for said, count in results["error_kinds"].items()) or "none"
    server = [f"queue of {results['queue_size']} events at most, {results['model_calls']} model call(s) at a time"]
    if results["server_peak_mb"] is not None:  # the kernel's figures (Linux)
        cores = {key: results[key] / results["wall_s"] for key in ("server_cpu_s", "clients_cpu_s")}
        server.append(
            f"its peak memory {results['server_peak_mb']:.0f} MB ({results['server_rss_at_rest_mb']:.0f} MB at rest"
            f" before the load); CPU: the server {cores['server_cpu_s']:.2f} cores busy on average, the clients"
            f" {cores['clients_cpu_s']:.2f}, of {os.cpu_count()}"
        )
    intro = (
        f"The demo page under load: {results['clients']} clients at once for {results['seconds']:g} s, half drawing"
        f" and half uploading (a scan or a phone photo), each asking again {results['pause']:g} s after its answer;"
        f" model {results['model']}. An answer is right when it is the digit `mnist-cnn predict` reads in the same"
        " image; a latency runs from sending the image to having the answer and its pictures."
    )
    grid = "\n".join(table([*header, "errors"], rows))
    return "\n\n".join([intro, grid, f"Errors: {errors}.", f"Server: {'; '.join(server)}."])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--model", type=Path, required=True, help="a model file, as mnist-cnn demo takes")
    add("--clients", type=int, default=20, help="clients at once, every other one drawing (default 20)")
    add("--seconds", type=float, default=60, help="how long the clients send requests (default 60)")
    add("--pause", type=float, default=0, help="seconds a client waits after an answer (default 0)")
    add("--digits", type=int, default=10, help="the sample's test digits drawn and uploaded (default 10)")
    add("--name", default="demo-load", help="results go to benchmarks/results/NAME.{json,md}")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))  # as Ctrl-C: the server is stopped
    if args.clients < 1 or args.seconds <= 0 or args.digits < 1 or args.pause < 0:
        parser.error("--clients and --digits must be at least 1, --seconds above 0, --pause 0 or more")
    if not args.model.is_file():
        parser.error(f"no model file at {args.model}")

    with tempfile.TemporaryDirectory() as temporary, served(args.model.resolve(), Path(temporary)) as (url, server):
        from mnist_cnn.data import load_raw  # imported while the page starts
        from mnist_cnn.model import load_model

        _, (images, _) = load_raw("sample")
        asked = questions(load_model(args.model), images[FIRST_DIGIT : FIRST_DIGIT + args.digits], Path(temporary))
        answering(url, server, Path(temporary) / "server.log")
        print(f"Served on {url}; {args.clients} clients for {args.seconds:g} s", file=sys.stderr, flush=True)
        measured = run_load(url, asked, args, server.pid)
    from benchmarks.common import write_results
    from mnist_cnn.demo import MODEL_CALLS, QUEUE_SIZE

    records = measured.pop("records")
    errors = Counter(record.outcome for record in records if record.outcome not in ("right", "wrong"))
    results = {
        "model": str(args.model),
        "url": url,
        **{key: getattr(args, key) for key in ("clients", "seconds", "pause")},
        "queue_size": QUEUE_SIZE,
        "model_calls": MODEL_CALLS,
        "figures": figures(records, max((record.answered for record in records), default=0.0)),
        "error_kinds": dict(errors.most_common(5)),
        **measured,
    }
    write_results(args.name, results, markdown(results))


if __name__ == "__main__":
    main()
