"""The demo page under a class's load: CLIENTS students at once for SECONDS, half drawing digits on the sketchpad (sent
as a browser sends them) and half uploading scans and phone photos of digits, each answer checked against the digit
`mnist-cnn predict` reads in the same image: answers a second, latency, errors, wrong answers, the server's memory.

    python -m benchmarks.demo_load --model MODEL [--clients 20] [--seconds 60] [--pause 0] [--name demo-load]

The page is served here by `mnist-cnn demo MODEL --host 127.0.0.1` on a free port, and stopped at the end, on Ctrl-C,
SIGTERM or an error too; it starts up while this process imports Keras (hence the package and benchmarks.common are
imported late, where they are used). Each client asks again as soon as it is answered (with --pause 0): this measures
the page's capacity, not a class's pace. The clients speak Gradio's HTTP API as a browser loads the server (the files
uploaded, a call queued with the page's own, the answer's pictures fetched), in plain HTTP: gradio_client's Client
spends many times the CPU a request, which the server, on the same cores, would miss.
"""

import argparse
import contextlib
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

HOST = "127.0.0.1"  # never served beyond this machine
STARTUP_S = 180  # the page must answer within this many seconds of being started
REQUEST_S = 60  # an answer later than this counts as an error
STOP_S = 30  # the server is killed if it has not stopped this long after SIGTERM
UPLOAD_KINDS = ("scan with margin", "sheet on a desk")  # what students upload: a scan, a photo from a phone
FIRST_DIGIT = 100  # the sample's test digits drawn and uploaded start here (the tests draw the first ones)
SAMPLE_S = 0.5  # the server's memory is sampled this often: its peak, where the kernel keeps none (not Linux)
KINDS = ("drawing", "upload")
API_NAMES = {"drawing": "predict_drawing", "upload": "predict_image"}  # the page's API, for each kind


@dataclass(frozen=True)
class Question:
    """What one client sends: a drawing (the sketchpad's background, layer and composite) or an uploaded file, and
    the digit `mnist-cnn predict` reads in the same image (None: no digit)."""

    kind: str
    files: tuple[Path, ...]
    expected: int | None


@dataclass(frozen=True)
class Record:
    """One request: its kind, when it was sent and answered (seconds from the start), and how: "right", "wrong", or an
    error's first line."""

    kind: str
    sent: float
    answered: float
    outcome: str


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def drawing(brush: np.ndarray, stem: Path) -> tuple[Path, ...]:
    """A brush's coverage (H, W in [0, 1]) as the page's sketchpad sends it: a white background, a layer of black
    strokes on transparent, and the two as one composite; three PNG files."""
    background = Image.new("RGBA", brush.shape[::-1], (255, 255, 255, 255))
    layer = Image.fromarray(np.dstack([np.zeros((*brush.shape, 3), np.uint8), (brush * 255).astype(np.uint8)]))
    composite = Image.alpha_composite(background, layer)
    paths = tuple(stem.with_name(f"{stem.name}-{part}.png") for part in ("background", "layer", "composite"))
    for picture, path in zip((background, layer, composite), paths, strict=True):
        picture.save(path)
    return paths


def drawings(digits: np.ndarray, folder: Path) -> list[tuple[Path, ...]]:
    """The digits drawn along their strokes' centre lines with the page's brush, centred on its canvas."""
    from benchmarks.own_digits import digit_kinds
    from mnist_cnn.demo import BRUSH_WIDTH, CANVAS_SIDE

    kinds, made = digit_kinds(), []
    for index, digit in enumerate(digits):
        ink = kinds.enlarged(kinds.digit_crop(digit), CANVAS_SIDE * 5 // 7)
        canvas = np.zeros((CANVAS_SIDE, CANVAS_SIDE), np.float32)
        top, left = (CANVAS_SIDE - ink.shape[0]) // 2, (CANVAS_SIDE - ink.shape[1]) // 2
        canvas[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
        made.append(drawing(kinds.pen_line(canvas, BRUSH_WIDTH / 2), folder / f"drawing-{index:03d}"))
    return made


def questions(model, digits: np.ndarray, folder: Path) -> dict[str, list[Question]]:
    """The drawings and the uploads (a scan and a photo of each digit), each with the digit `mnist-cnn predict`
    reads in it (a drawing's composite)."""
    from benchmarks.own_digits import digit_kinds
    from mnist_cnn.predict import predict_files

    def expected(path: Path) -> int | None:
        return predict_files(model, [path])[0].digit  # one at a time, as the page reads them

    drawn = [Question("drawing", files, expected(files[-1])) for files in drawings(digits, folder)]
    files = [path for kind in UPLOAD_KINDS for path in digit_kinds().render_kind(kind, digits, folder)]
    return {"drawing": drawn, "upload": [Question("upload", (path,), expected(path)) for path in files]}


def server_command(model: Path, port: int) -> list[str]:
    """`mnist-cnn demo MODEL` on 127.0.0.1:PORT, with this Python."""
    return [sys.executable, "-m", "mnist_cnn", "demo", str(model), "--host", HOST, "--port", str(port)]


@contextlib.contextmanager
def served(model: Path, folder: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """The page started in a process of its own (`answering` waits until it answers), and stopped when the block
    ends, however it ends: its address and process. Its log and the files it is sent go to `folder`."""
    port = free_port()
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "GRADIO_TEMP_DIR": str(folder / "uploads")}
    with open(folder / "server.log", "w") as output:
        server = subprocess.Popen(
            server_command(model, port), stdout=output, stderr=subprocess.STDOUT, env=environment,
            start_new_session=True,  # Ctrl-C here reaches the benchmark, which stops the server itself
        )  # fmt: skip
    try:
        yield f"http://{HOST}:{port}/", server
    finally:
        stop(server)


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


def stop(server: subprocess.Popen) -> None:
    """Stop the server and all it started: SIGTERM, then SIGKILL if it is still running STOP_S later."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=STOP_S)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def process_figures(pid: int) -> dict[str, float | None]:
    """A process's resident memory now and at its peak so far (MB; the peak from the kernel on Linux, else None), and
    its CPU seconds so far; from /proc, else psutil if installed, else None each."""
    status, stat = Path(f"/proc/{pid}/status"), Path(f"/proc/{pid}/stat")
    if status.exists() and stat.exists():
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        ticks = stat.read_text().rsplit(")", 1)[1].split()[11:13]  # utime and stime, after the name
        cpu_s = sum(int(tick) for tick in ticks) / os.sysconf("SC_CLK_TCK")
        megabytes = {
            name: int(fields[field].split()[0]) / 1024 for name, field in (("rss", "VmRSS"), ("peak", "VmHWM"))
        }
        return {"rss_mb": megabytes["rss"], "peak_mb": megabytes["peak"], "cpu_s": cpu_s}
    try:
        import psutil
    except ImportError:
        return {"rss_mb": None, "peak_mb": None, "cpu_s": None}
    process = psutil.Process(pid)
    times = process.cpu_times()
    return {"rss_mb": process.memory_info().rss / 2**20, "peak_mb": None, "cpu_s": times.user + times.system}


def checked(response):
    """The response, if it is not an HTTP error; else an error that says which part of the page's API refused what
    (the same for every request, so that errors of one kind are counted together)."""
    if response.is_success:
        return response
    detail = response.read().decode(errors="replace").strip()[:100]
    route = re.sub(r"(/call/[^/]+/|/file=).+", r"\1...", response.request.url.path)  # no event's or file's own name
    raise ConnectionError(f"HTTP {response.status_code} from {route}: {detail}")


def uploaded(http, url: str, paths: tuple[Path, ...]) -> list[dict]:
    """The files uploaded to the page's server as a browser uploads them: references to them there."""
    files = [("files", (path.name, path.read_bytes(), mimetypes.guess_type(path.name)[0])) for path in paths]
    response = checked(http.post(f"{url}gradio_api/upload", files=files))
    return [{"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}} for path, (_, (name, *_)) in
            zip(response.json(), files, strict=True)]  # fmt: skip


def payload(question: Question, files: list[dict]):
    """The request's input, as the page's API takes it: the file, or the sketchpad's background, layer and
    composite."""
    if question.kind == "upload":
        return files[0]
    background, layer, composite = files
    return {"background": background, "layers": [layer], "composite": composite, "id": None}


def awaited(http, url: str, api_name: str, value, deadline: float) -> list:
    """The answer to one call of the page's API (queued as the page's own calls are): its outputs, or an error."""
    response = checked(http.post(f"{url}gradio_api/call/{api_name}", json={"data": [value]}))
    event = None
    with http.stream("GET", f"{url}gradio_api/call/{api_name}/{response.json()['event_id']}") as stream:
        checked(stream)
        for line in stream.iter_lines():  # server-sent events: "event: NAME", then "data: JSON"
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no answer in {REQUEST_S} s")
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event in ("complete", "error"):
                data = json.loads(line.removeprefix("data: "))
                if event == "error":
                    raise RuntimeError(f"the page answered with an error: {data}")
                return data
    raise ConnectionError("the answer's stream ended without an answer")


def ask(http, url: str, question: Question) -> list:
    """One question asked as a student's page asks it: the image uploaded, the answer awaited, and the answer's two
    pictures fetched; the answer's outputs (the top digits, two pictures, the message)."""
    deadline = time.perf_counter() + REQUEST_S
    value = payload(question, uploaded(http, url, question.files))
    outputs = awaited(http, url, API_NAMES[question.kind], value, deadline)
    for picture in outputs[1:3]:
        if picture:
            checked(http.get(picture["url"]))
    return outputs


def outcome(question: Question, outputs: list) -> str:
    """ "right" if the page read the digit `mnist-cnn predict` reads (or, like it, none), else "wrong"."""
    top, *_, message = outputs
    digit = int(top["label"]) if isinstance(top, dict) and top.get("label") not in (None, "") else None
    if question.expected is None:
        return "right" if digit is None and message.startswith("No digit to read") else "wrong"
    return "right" if digit == question.expected else "wrong"


class Load:
    """The clients' shared state: when they start and stop, the requests left to send, and the records."""

    def __init__(self, clients: int, seconds: float, max_requests: int, pause: float):
        # The clients, once connected, and the clock's keeper; the clock starts as they are let go.
        self.ready = threading.Barrier(clients + 1, action=self.start)
        self.seconds, self.requests_left, self.pause = seconds, max_requests, pause
        self.started, self.records, self.lock = 0.0, [], threading.Lock()

    def start(self) -> None:
        """Start the clock."""
        self.started = time.perf_counter()

    def now(self) -> float:
        """Seconds since the clients started."""
        return time.perf_counter() - self.started

    def may_send(self) -> bool:
        """Whether a client may send another request: time is left and the request budget is not spent."""
        with self.lock:
            if self.now() >= self.seconds or self.requests_left <= 0:
                return False
            self.requests_left -= 1
            return True

    def keep(self, record: Record) -> None:
        """Keep a request's record."""
        with self.lock:
            self.records.append(record)


def named(error: Exception) -> str:
    """An error as one short line: its type and its message's first line."""
    first = (str(error).strip().splitlines() or [""])[0][:200]
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def student(url: str, asks: list[Question], first: int, load: Load) -> None:
    """One client: wait for the others, then ask its questions in turn (from the `first`) until stopped."""
    import httpx  # Gradio's own HTTP client: a browser's requests, without a browser's cost in CPU

    with httpx.Client(timeout=REQUEST_S) as http:
        load.ready.wait()
        index = first
        while load.may_send():
            question, sent = asks[index % len(asks)], load.now()
            try:
                said = outcome(question, ask(http, url, question))
            except Exception as error:  # every failure is counted and named, and the client goes on
                said = named(error)
            load.keep(Record(question.kind, sent, load.now(), said))
            index += 1
            time.sleep(load.pause)


def run_load(url: str, asked: dict[str, list[Question]], args: argparse.Namespace, pid: int) -> dict:
    """Run the clients (every other one drawing) for args.seconds; their records and the server's figures, before
    and after."""
    load = Load(args.clients, args.seconds, args.max_requests, args.pause)
    threads = []
    for number in range(args.clients):
        asks = asked[KINDS[number % 2]]
        arguments = (url, asks, number * 7 % len(asks), load)
        threads.append(threading.Thread(target=student, args=arguments, daemon=True))
    for thread in threads:
        thread.start()
    before, peak_sampled, cpu_before = process_figures(pid), 0.0, time.process_time()
    load.ready.wait(timeout=STARTUP_S)
    deadline = time.monotonic() + args.seconds + REQUEST_S + 10  # the last answers, then whatever is left is given up
    while any(thread.is_alive() for thread in threads) and time.monotonic() < deadline:
        peak_sampled = max(peak_sampled, process_figures(pid)["rss_mb"] or 0.0)
        time.sleep(SAMPLE_S)
    wall_s = load.now()
    after = process_figures(pid)
    with load.lock:
        records = list(load.records)
    server_cpu = after["cpu_s"] - before["cpu_s"] if after["cpu_s"] is not None else None
    return {
        "records": records,
        "wall_s": wall_s,
        "server_rss_at_rest_mb": before["rss_mb"],
        "server_peak_mb": after["peak_mb"] or peak_sampled or None,
        "server_cpu_s": server_cpu,
        "clients_cpu_s": time.process_time() - cpu_before,
        "unfinished_clients": sum(thread.is_alive() for thread in threads),
    }


def summary(records: list[Record], seconds: float) -> dict:
    """The figures of some requests answered within `seconds`: answers a second, latency (median, 95th percentile,
    slowest), wrong answers and errors."""
    answered = [record for record in records if record.outcome in ("right", "wrong")]
    latencies = np.array([record.answered - record.sent for record in answered])
    quantiles = np.percentile(latencies, [50, 95]) if len(latencies) else [None, None]
    return {
        "requests": len(records),
        "answers": len(answered),
        "answers_per_s": len(answered) / seconds if seconds > 0 else None,
        "median_s": None if quantiles[0] is None else float(quantiles[0]),
        "p95_s": None if quantiles[1] is None else float(quantiles[1]),
        "slowest_s": float(latencies.max()) if len(latencies) else None,
        "wrong": sum(record.outcome == "wrong" for record in records),
        "errors": len(records) - len(answered),
    }


def figures(records: list[Record], seconds: float) -> dict:
    """The summary of each kind of request and of all of them."""
    rows = {kind: summary([record for record in records if record.kind == kind], seconds) for kind in KINDS}
    return {**rows, "all": summary(records, seconds)}


def seconds_text(value: float | None) -> str:
    """A latency in seconds, or "-"."""
    return "-" if value is None else f"{value:.2f} s"


def markdown(results: dict) -> str:
    """The table (drawings, uploads, all), the errors met, the server's memory and CPU, and the queue's settings."""
    from benchmarks.common import table

    header = ["requests", "sent", "answers", "answers a second", "median", "95th percentile", "slowest"]
    header += ["wrong", "errors"]
    rows = []
    for name, label in (("drawing", "drawings"), ("upload", "uploads"), ("all", "**all**")):
        row = results["figures"][name]
        rate = "-" if row["answers_per_s"] is None else f"{row['answers_per_s']:.1f}"
        latencies = [seconds_text(row[key]) for key in ("median_s", "p95_s", "slowest_s")]
        rows.append([label, row["requests"], row["answers"], rate, *latencies, row["wrong"], row["errors"]])
    lines = [
        f"The demo page under load: {results['clients']} clients at once for {results['seconds']:g} s, half drawing"
        f" and half uploading (a scan or a phone photo), each asking again {results['pause']:g} s after its answer;"
        f" model {results['model']}. An answer is right when it is the digit `mnist-cnn predict` reads in the same"
        " image; a latency runs from sending the image to having the answer and its pictures.",
        "",
        *table(header, rows),
        "",
        "Errors: " + ("; ".join(f"{count} x {said}" for said, count in results["error_kinds"].items()) or "none") + ".",
    ]
    server = [
        f"Server: queue of {results['queue_size']} events at most, {results['model_calls']} model call(s) at a time",
    ]
    if results["server_peak_mb"] is not None:
        rest = results["server_rss_at_rest_mb"]
        at_rest = f" ({rest:.0f} MB at rest before the load)" if rest is not None else ""
        server.append(f"its peak memory {results['server_peak_mb']:.0f} MB{at_rest}")
    if results["server_cpu_s"] is not None:
        wall = results["wall_s"]
        server.append(
            f"CPU: the server {results['server_cpu_s'] / wall:.2f} cores busy on average, the clients"
            f" {results['clients_cpu_s'] / wall:.2f}, of {os.cpu_count()}"
        )
    return "\n".join([*lines, "", "; ".join(server) + "."])


def stopped(number: int, frame) -> None:
    """On SIGTERM: stop as on Ctrl-C (the server is stopped on the way out), with the usual status."""
    raise SystemExit(128 + number)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a model file, as mnist-cnn demo takes")
    parser.add_argument("--clients", type=int, default=20, help="clients at once, every other one drawing (default 20)")
    parser.add_argument("--seconds", type=float, default=60, help="how long the clients send requests (default 60)")
    parser.add_argument(
        "--pause", type=float, default=0, help="seconds a client waits after an answer (default 0: at once)"
    )
    parser.add_argument(
        "--max-requests", type=int, default=10_000, help="stop sooner once this many are sent (default 10,000)"
    )
    parser.add_argument(
        "--digits", type=int, default=10, help="the sample's test digits drawn and uploaded (default 10)"
    )
    parser.add_argument("--name", default="demo-load", help="results go to benchmarks/results/NAME.{json,md}")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, stopped)  # as Ctrl-C: the server is stopped too
    if args.clients < 1 or args.seconds <= 0 or args.max_requests < 1 or args.digits < 1 or args.pause < 0:
        parser.error("--clients, --max-requests and --digits must be at least 1, --seconds above 0, --pause 0 or more")
    if not args.model.is_file():
        parser.error(f"no model file at {args.model}")

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        with served(args.model.resolve(), folder) as (url, server):  # it starts while Keras is imported here
            from mnist_cnn.data import load_raw
            from mnist_cnn.model import load_model

            _, (images, _) = load_raw("sample")
            asked = questions(load_model(args.model), images[FIRST_DIGIT : FIRST_DIGIT + args.digits], folder)
            answering(url, server, folder / "server.log")
            print(f"Served on {url}; {args.clients} clients for {args.seconds:g} s", file=sys.stderr, flush=True)
            measured = run_load(url, asked, args, server.pid)
    from mnist_cnn.demo import MODEL_CALLS, QUEUE_SIZE

    records = measured.pop("records")
    errors = Counter(record.outcome for record in records if record.outcome not in ("right", "wrong"))
    answered = [record.answered for record in records]
    seconds = max(answered, default=0.0)  # from the first request sent to the last answer
    results = {
        "model": str(args.model),
        "url": url,
        "clients": args.clients,
        "seconds": args.seconds,
        "pause": args.pause,
        "queue_size": QUEUE_SIZE,
        "model_calls": MODEL_CALLS,
        "figures": figures(records, seconds),
        "error_kinds": dict(errors.most_common(5)),
        **measured,
    }
    from benchmarks.common import write_results

    write_results(args.name, results, markdown(results))


if __name__ == "__main__":
    main()
