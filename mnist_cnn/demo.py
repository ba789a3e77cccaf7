"""A web page to try a trained model: draw a digit or upload a photo of one, and see what the model says and why.

Built with Gradio (an optional extra: pip install 'mnist-cnn[demo]'). The page shows the predicted digit, the three
most likely digits with their probabilities, and the 28x28 image the model actually saw after the same preprocessing
as `mnist-cnn predict`: the usual answer to "why was mine wrong?". The server listens on 127.0.0.1 unless told
otherwise, and sends nothing anywhere: Gradio's analytics are off, and the page uses the browser's own fonts.
"""

from __future__ import annotations

import collections
import os
import socket
import tempfile
import threading
import time
import warnings
from pathlib import Path

import keras
import numpy as np
from PIL import Image, ImageDraw

from mnist_cnn.data import IMAGE_SIZE
from mnist_cnn.errors import ImageError, MnistCnnError
from mnist_cnn.explain import explain
from mnist_cnn.novelty import DigitReader, as_reader
from mnist_cnn.numbers import read_numbers
from mnist_cnn.plots import map_picture
from mnist_cnn.predict import Prediction, read_ink

# The 28x28 image the model saw is shown enlarged to this many pixels a side, its pixels kept square.
SHOWN_SIZE = 280
# Each pixel the model saw is shown as a square this many pixels a side.
SHOWN_SCALE = SHOWN_SIZE // IMAGE_SIZE
# The page lists this many of the most likely digits.
TOP = 3
# The sketchpad's side in pixels: as large as the enlarged image shown beside it.
CANVAS_SIDE = 280
# The brush's width in pixels: a marker's stroke on the sketchpad.
BRUSH_WIDTH = 18
# Each digit of a number is boxed in this colour on the image as read.
BOX_COLOUR = (220, 40, 40)
NOTHING_YET = "Draw a digit, or upload an image of one."
# The largest upload the page takes: a phone's photo is a few MB; one upload must not fill the server's disk.
MAX_UPLOAD_MB = 20
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024  # as the page counts them when it refuses a file
# Answers worked out at once, drawings and uploads together: while one holds Python (reading a file, drawing the map),
# the other's model runs, so a 2-core machine answers more a second than with one; more only wait inside the process.
MODEL_CALLS = 2
# Requests waiting for an answer at most: a page waits for its answer before it asks again, so a class of this many
# never sees "queue is full", while a script sending without end is refused instead of queued (docs/after-training.md).
QUEUE_SIZE = 100
# Uploads and answers' pictures in Gradio's cache are removed this long after they were made, looked for this often:
# a class's files do not pile up on the server's disk while the page runs.
CACHE_KEEP_S = 3600
CACHE_SWEEP_S = 600
# A picture file is removed this long after it is handed to Gradio, which copies it as the answer leaves.
PICTURE_KEEP_S = 60
TOO_LARGE = f"No digit to read: the file is larger than {MAX_UPLOAD_MB} MB (a photo of one digit is far smaller)."


class DemoError(MnistCnnError):
    """Gradio is not installed."""


Answer = tuple[dict[str, float], np.ndarray | None, np.ndarray | None, str]


def answer(model: keras.Model | DigitReader, source: str | os.PathLike | Image.Image) -> Answer:
    """The page's answer for an image file or a drawing: the top digits with their probabilities, what the model
    saw (the 28x28 input enlarged; for a number, each digit's box on the ink), the occlusion map of a single
    digit's answer, and a message; an empty answer that says why for an image that is blank or cannot be read,
    whatever it holds (`read_ink`, as `mnist-cnn predict` reads files)."""
    reader = as_reader(model)
    try:
        grey, readings = read_ink(source, "image")
    except ImageError as error:
        reason = str(error).split(": ", 1)[-1]
        return {}, None, None, f"No digit to read: {reason}."
    prediction = Prediction("image", digits=read_numbers(reader, [readings])[0])
    prediction.answer(reader.check.threshold, TOP)
    if len(prediction.digits) > 1:
        return number_answer(prediction, grey)
    digit = prediction.digits[0].image
    explanation = explain(reader.model, digit[np.newaxis])[0]
    seen = np.kron(digit[..., 0], np.ones((SHOWN_SCALE, SHOWN_SCALE)))
    top = {str(index): probability for index, probability in prediction.top}
    why = map_picture(digit, explanation.maps[0], SHOWN_SCALE)
    return top, (seen * 255).astype(np.uint8), why, digit_message(prediction, reader.check.threshold)


def digit_message(prediction: Prediction, threshold: float) -> str:
    """What the page says of one digit's answer, or that it is not a digit."""
    if prediction.not_a_digit:
        return (
            f"This does not look like a digit to the model: its features lie far from every training digit's "
            f"(novelty {prediction.novelty:.2f}, above {threshold:.2f}). The closest digit is {prediction.digit}, "
            f"at {prediction.probability:.0%}: a classifier of ten digits shares all its probability among them."
        )
    return (
        f"The model reads a **{prediction.digit}**, {prediction.probability:.0%} sure. In the map, red ink made it "
        f"answer {prediction.digit}: blanking it lowers that answer's probability; blue ink spoke against it."
    )


def number_answer(prediction: Prediction, grey: np.ndarray) -> Answer:
    """The page's answer for a written number: each digit's probability, the image with each digit's box and
    answer drawn on it, and a message."""
    picture = Image.fromarray((np.clip(grey, 0, 1) * 255).astype(np.uint8)).convert("RGB")
    pen = ImageDraw.Draw(picture)
    for digit in prediction.digits:
        rows, columns = digit.box
        pen.rectangle((columns.start, rows.start, columns.stop - 1, rows.stop - 1), outline=BOX_COLOUR, width=2)
        pen.text((columns.start + 2, rows.start + 2), str(int(digit.probabilities.argmax())), fill=BOX_COLOUR)
    each = ", ".join(f"{int(d.probabilities.argmax())} ({d.probabilities.max():.0%})" for d in prediction.digits)
    message = f"The model reads the number **{prediction.number}**: {each}."
    if prediction.not_a_digit:
        message += " Some of it does not look like a digit to the model: the number may be wrong."
    top = {
        f"{place}: {int(d.probabilities.argmax())}": float(d.probabilities.max())
        for place, d in enumerate(prediction.digits, 1)
    }
    return top, np.asarray(picture), None, message


def predict_drawing(model: keras.Model, sketch: dict | None) -> Answer:
    """The answer for a drawing on Gradio's sketchpad (its "composite": the layers as one image)."""
    composite = (sketch or {}).get("composite")
    if composite is None:
        return {}, None, None, NOTHING_YET
    return answer(model, composite)


def too_large(path: str | os.PathLike) -> bool:
    """Whether the file at `path` is larger than the page takes (a file that cannot be found is for read_ink)."""
    try:
        return os.path.getsize(path) > MAX_UPLOAD_BYTES
    except OSError:
        return False


def predict_upload(model: keras.Model, path: str | None) -> Answer:
    """The answer for an uploaded image file, read as `mnist-cnn predict` reads one; a file above MAX_UPLOAD_MB is
    refused unread (the page's server refuses it before it is stored: `launch_demo`)."""
    if path is None:
        return {}, None, None, NOTHING_YET
    if too_large(path):
        return {}, None, None, TOO_LARGE
    top, seen, why, message = answer(model, path)
    return top, seen, why, message.replace(str(path), Path(path).name)  # not the server's temporary folder


class PictureFiles:
    """The page's pictures as PNG files of their own, each written whole before Gradio serves it (an array Gradio
    writes in place, under a name its content gives, while another page may be fetching that name); each removed
    PICTURE_KEEP_S later, the folder when the page's process ends."""

    def __init__(self) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="mnist-cnn-page-")
        self.written: collections.deque[tuple[float, Path]] = collections.deque()
        self.lock = threading.Lock()

    def answer(self, answer: Answer) -> tuple:
        """The answer with its pictures as files."""
        top, seen, why, message = answer
        return top, self.saved(seen), self.saved(why), message

    def saved(self, picture: np.ndarray | None) -> str | None:
        """The picture as a new PNG file (None for none); the files older than PICTURE_KEEP_S removed."""
        if picture is None:
            return None
        handle, path = tempfile.mkstemp(suffix=".png", dir=self.folder.name)
        with os.fdopen(handle, "wb") as file:
            Image.fromarray(picture).save(file, format="PNG")
        now = time.monotonic()
        with self.lock:
            self.written.append((now, Path(path)))
            while self.written[0][0] < now - PICTURE_KEEP_S:
                self.written.popleft()[1].unlink(missing_ok=True)
        return path


def build_demo(model: keras.Model | DigitReader, title: str = "mnist-cnn: draw a digit"):
    """The Gradio page for `model` (loaded once, here; with its novelty check, a DigitReader)."""
    model = as_reader(model)
    # Gradio reads this when it is imported: no usage statistics or version checks leave the machine.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        with warnings.catch_warnings():  # tqdm's note, in notebooks without ipywidgets, that it has no progress bar
            warnings.filterwarnings("ignore", message="IProgress not found")
            import gradio as gr
    except ImportError as error:
        raise DemoError("the demo needs Gradio: pip install 'mnist-cnn[demo]' (or make demo)") from error

    pictures = PictureFiles()

    def from_sketch(sketch):
        return pictures.answer(predict_drawing(model, sketch))

    def from_upload(path):
        return pictures.answer(predict_upload(model, path))

    with gr.Blocks(analytics_enabled=False, title=title, delete_cache=(CACHE_SWEEP_S, CACHE_KEEP_S)) as demo:
        gr.Markdown(f"# {title}\nDraw a digit with the mouse (or a finger), or upload a photo or scan of one.")
        with gr.Row():
            with gr.Column():
                with gr.Tab("Draw"):
                    sketch = gr.Sketchpad(
                        type="pil",
                        image_mode="RGBA",
                        canvas_size=(CANVAS_SIDE, CANVAS_SIDE),
                        brush=gr.Brush(default_size=BRUSH_WIDTH, colors=["#000000"], color_mode="fixed"),
                        label="Your digit",
                        layers=False,
                        elem_id="sketchpad",
                    )
                    read_sketch = gr.Button("Predict the drawing", variant="primary", elem_id="predict-drawing")
                with gr.Tab("Upload"):
                    upload = gr.File(
                        file_types=["image"], type="filepath", label="An image of a digit", elem_id="upload"
                    )
                    read_upload = gr.Button("Predict the image", variant="primary", elem_id="predict-upload")
            with gr.Column():
                message = gr.Markdown(elem_id="message")
                label = gr.Label(num_top_classes=TOP, label="Top 3", elem_id="prediction")
                with gr.Row():
                    seen = gr.Image(label="What the model saw: 28x28, after preprocessing", elem_id="seen")
                    why = gr.Image(label="Why: the pixels that made it answer", elem_id="why")
        outputs = [label, seen, why, message]
        shared = {"concurrency_limit": MODEL_CALLS, "concurrency_id": "model"}  # one limit for both kinds
        read_sketch.click(from_sketch, sketch, outputs, api_name="predict_drawing", **shared)
        read_upload.click(from_upload, upload, outputs, api_name="predict_image", **shared)
    return demo.queue(max_size=QUEUE_SIZE)


def check_port_free(host: str, port: int) -> None:
    """Raise DemoError where another program already listens on HOST:PORT."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise DemoError(f"port {port} on {host} is in use ({error.strerror}): choose another with --port") from None


def launch_demo(model: keras.Model | DigitReader, host: str = "127.0.0.1", port: int | None = None, block: bool = True):
    """Serve the page on http://HOST:PORT (a free port from 7860 on if None); return the running demo."""
    if port is not None:
        check_port_free(host, port)
    demo = build_demo(model)  # imports Gradio
    import gradio as gr

    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    demo.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=not block,
        quiet=True,
        theme=theme,
        max_file_size=MAX_UPLOAD_BYTES,  # a larger upload is refused while it arrives, before it is stored
    )
    return demo
