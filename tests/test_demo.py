"""The demo page: through its HTTP API against a server started here, and in a real browser (headless Chromium)."""

import importlib.util
import os
import shutil
import socket
import time
import uuid
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image

from mnist_cnn.demo import (
    BRUSH_WIDTH,
    CANVAS_SIDE,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_MB,
    MODEL_CALLS,
    QUEUE_SIZE,
    PictureFiles,
    build_demo,
    launch_demo,
    predict_drawing,
    predict_upload,
)
from mnist_cnn.image_files import grey_levels
from mnist_cnn.mnist_style import image_to_mnist
from mnist_cnn.novelty import DigitReader, novelty_for
from mnist_cnn.predict import predict_files

from digit_kinds import brush_drawn, compose, letter
from user_images import mnist_digit_as_photo, truncated_qoi

if importlib.util.find_spec("gradio") is None:  # found, not imported: every worker collects this file, one runs it
    pytest.skip("the demo's extra is not installed: pip install 'mnist-cnn[demo]'", allow_module_level=True)
import httpx  # noqa: E402  (Gradio's own HTTP client)
from gradio_client import Client, handle_file  # noqa: E402

READING_MODEL = Path(__file__).parent / "data" / "reading-model.keras"
# DejaVu Sans as matplotlib ships it: no font package to install where the tests run.
DEJAVU = f"{matplotlib.get_data_path()}/fonts/ttf/DejaVuSans.ttf"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
# Where the browser test leaves its screenshot, for the README (docs/demo.png), when asked.
SCREENSHOT = os.environ.get("MNIST_CNN_DEMO_SCREENSHOT")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(trained_run):
    port = free_port()
    demo = launch_demo(trained_run.model, port=port, block=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def too_large_upload(folder: Path) -> Path:
    """A file one byte above the page's limit, named as an image."""
    path = folder / "huge.png"
    with open(path, "wb") as file:
        file.truncate(MAX_UPLOAD_BYTES + 1)
    return path


def test_the_server_listens_on_this_machine_only(server):
    assert server.startswith("http://127.0.0.1:")


@pytest.mark.versions  # Gradio's queue and its events' concurrency, as each version keeps them
def test_drawings_and_uploads_wait_in_one_queue_of_bounded_size_for_the_same_model_calls(trained_run):
    demo = build_demo(trained_run.model)
    assert demo._queue.max_size == QUEUE_SIZE  # a class's pages fit; a script sending without end is refused
    events = {fn.api_name: (fn.concurrency_id, fn.concurrency_limit) for fn in demo.fns.values()}
    assert events == {"predict_drawing": ("model", MODEL_CALLS), "predict_image": ("model", MODEL_CALLS)}


def test_upload_through_the_api_answers_as_predict_does(server, trained_run, raw_sample, tmp_path):
    path = tmp_path / "digit.png"
    Image.fromarray(255 - raw_sample[1][0][5]).resize((200, 200)).save(path)
    expected = predict_files(trained_run.model, [path], top=3)[0]
    top, seen, why, message = Client(server, verbose=False).predict(handle_file(path), api_name="/predict_image")
    assert top["label"] == str(expected.digit)
    confidences = {item["label"]: item["confidence"] for item in top["confidences"]}
    assert confidences == pytest.approx({str(digit): probability for digit, probability in expected.top}, abs=1e-4)
    assert np.asarray(Image.open(seen)).shape[:2] == (280, 280)  # the 28x28 input, enlarged
    heat = np.asarray(Image.open(why).convert("RGB")).astype(int)
    assert heat.shape == (280, 280, 3)
    red_ink = heat[..., 0] - heat[..., 2]  # the map says which ink spoke for the answer
    assert red_ink.max() > 60
    assert f"reads a **{expected.digit}**" in message


def test_pages_fetching_the_same_answer_at_once_each_get_its_pictures_whole(server, raw_sample, tmp_path, monkeypatch):
    # Gradio writes a picture given as an array in place: the window in which it is empty, widened to a second.
    from gradio import processing_utils

    def written_slowly(*args, **kwargs):
        path = Path(saved(*args, **kwargs))
        picture = path.read_bytes()
        path.write_bytes(b"")
        time.sleep(1)
        path.write_bytes(picture)
        return str(path)

    saved = processing_utils.save_pil_to_cache
    monkeypatch.setattr(processing_utils, "save_pil_to_cache", written_slowly)
    path = tmp_path / "digit.png"
    Image.fromarray(255 - raw_sample[1][0][3]).save(path)
    client = Client(server, verbose=False, download_files=False)
    seen = client.predict(handle_file(path), api_name="/predict_image")[1]["url"]
    whole = httpx.get(seen).content
    again = client.submit(handle_file(path), api_name="/predict_image")  # another page, the same picture
    fetched = []
    while not again.done():
        try:
            fetched.append(httpx.get(seen).content)
        except httpx.HTTPError as error:  # a body cut short
            fetched.append(repr(error))
    assert again.result()[3].startswith("The model reads")
    assert fetched and all(body == whole for body in fetched)


def test_the_pages_picture_files_are_removed_once_handed_over_so_a_class_does_not_fill_the_disk(monkeypatch):
    monkeypatch.setattr("mnist_cnn.demo.PICTURE_KEEP_S", 0.0)
    pictures = PictureFiles()
    first = pictures.saved(np.zeros((28, 28), np.uint8))
    time.sleep(0.01)
    second = pictures.saved(np.full((28, 28), 255, np.uint8))
    assert not Path(first).exists() and np.asarray(Image.open(second)).min() == 255
    assert pictures.saved(None) is None and os.listdir(pictures.folder.name) == [Path(second).name]


def test_uploads_are_removed_from_the_server_some_time_after_they_arrive(
    trained_run, raw_sample, tmp_path, monkeypatch
):
    monkeypatch.setattr("mnist_cnn.demo.CACHE_KEEP_S", 1)  # an hour, as a second
    monkeypatch.setattr("mnist_cnn.demo.CACHE_SWEEP_S", 1)
    port = free_port()
    demo = launch_demo(trained_run.model, port=port, block=False)
    try:
        path = tmp_path / "digit.png"
        Image.fromarray(255 - raw_sample[1][0][2]).save(path)
        upload = {"files": ("digit.png", path.read_bytes(), "image/png")}
        stored = Path(httpx.post(f"http://127.0.0.1:{port}/gradio_api/upload", files=upload).json()[0])
        assert stored.exists()
        deadline = time.monotonic() + 10
        while stored.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not stored.exists()
    finally:
        demo.close()


def test_a_blank_or_broken_upload_gets_a_message(server, tmp_path):
    Image.new("L", (60, 60), 255).save(tmp_path / "blank.png")
    (tmp_path / "broken.png").write_text("not an image")
    client = Client(server, verbose=False)
    for name, reason in (("blank.png", "no digit found"), ("broken.png", "not a readable image")):
        top, seen, why, message = client.predict(handle_file(tmp_path / name), api_name="/predict_image")
        assert (
            top in ({}, None)
            and seen is None
            and why is None
            and message.startswith("No digit to read: ")
            and reason in message
        )


def test_an_upload_whose_decoder_fails_unexpectedly_gets_the_message_predict_gives(
    server, trained_run, raw_sample, tmp_path
):
    # A truncated QOI image named .png: Pillow's decoder raises IndexError, which the page once showed as an error box.
    path = tmp_path / "cut.png"
    path.write_bytes(truncated_qoi(mnist_digit_as_photo(raw_sample[1][0][0])))
    expected = predict_files(trained_run.model, [path])[0].error.split(": ", 1)[1]
    top, seen, why, message = Client(server, verbose=False).predict(handle_file(path), api_name="/predict_image")
    assert top in ({}, None) and seen is None and why is None
    assert message == f"No digit to read: {expected}." and "cannot be read (IndexError" in message


def test_every_drawing_and_upload_gets_a_digit_or_a_message_never_an_exception(trained_run, tmp_path):
    model = trained_run.model
    (tmp_path / "cut.png").write_bytes(truncated_qoi(Image.new("L", (28, 28), 255)))
    odd_drawings = [Image.new("RGBA", (0, 0)), Image.new("RGBA", (1, 1), "black"), Image.new("F", (5, 5))]
    answers = [predict_drawing(model, {"composite": drawing}) for drawing in odd_drawings]
    answers += [predict_upload(model, str(tmp_path / name)) for name in ("cut.png", "missing.png")]
    for top, seen, why, message in answers:
        assert top == {} and seen is None and why is None and message.startswith("No digit to read: "), message
    assert str(tmp_path) not in answers[-1][3]  # the file's name alone, not the server's folder


def test_an_upload_above_the_limit_is_refused_with_a_message_before_it_is_stored(server, trained_run, tmp_path):
    path = too_large_upload(tmp_path)
    name = f"huge-{uuid.uuid4().hex}.png"  # this upload's own name, to look for among the server's files
    with open(path, "rb") as file:  # as a browser sends it, past the page's own check
        response = httpx.post(f"{server}gradio_api/upload", files={"files": (name, file)}, timeout=120)
    assert response.status_code == 413 and f"maximum allowed size of {MAX_UPLOAD_BYTES} bytes" in response.text
    from gradio.utils import get_upload_folder

    assert not list(Path(get_upload_folder()).rglob(name))  # not stored
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {MAX_UPLOAD_BYTES} bytes"):
        Client(server, verbose=False).predict(handle_file(path), api_name="/predict_image")  # refused unsent
    top, _, _, message = predict_upload(trained_run.model, str(path))  # a page launched without the limit
    assert top == {} and f"larger than {MAX_UPLOAD_MB} MB" in message


NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None, reason="Chromium is not installed (chromium, chromium-driver)"
)


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium, kept off the network but for the page."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900",
    ):  # fmt: skip
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    yield browser
    browser.quit()


@NEEDS_CHROMIUM
def test_drawing_a_one_in_a_real_browser(server, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server)
    wait = WebDriverWait(browser, 60)
    canvas = wait.until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "#sketchpad canvas")))
    browser.find_element(By.CSS_SELECTOR, "#sketchpad button[aria-label='Brush']").click()
    stroke = ActionChains(browser).move_to_element_with_offset(canvas, 0, -70).click_and_hold()
    for _ in range(14):
        stroke = stroke.move_by_offset(0, 10)
    stroke.release().perform()
    browser.find_element(By.ID, "predict-drawing").click()
    message = wait.until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "#message p")))
    wait.until(lambda _: "reads a" in message.text)
    assert "The model reads a 1," in message.text, message.text
    assert "1" in browser.find_element(By.ID, "prediction").text
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, "#why img"))  # the map beside the answer
    if SCREENSHOT:
        browser.save_screenshot(SCREENSHOT)


@NEEDS_CHROMIUM
def test_a_broken_upload_gets_a_message_and_one_above_the_limit_is_refused_in_a_real_browser(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    cut = tmp_path / "cut.png"
    cut.write_bytes(truncated_qoi(Image.new("L", (28, 28), 255)))
    browser.get(server)
    wait = WebDriverWait(browser, 60)
    tab = wait.until(expected_conditions.element_to_be_clickable((By.XPATH, "//button[@role='tab'][.='Upload']")))
    tab.click()
    browser.find_element(By.CSS_SELECTOR, "#upload input[type='file']").send_keys(str(cut))
    predict = wait.until(expected_conditions.element_to_be_clickable((By.ID, "predict-upload")))
    wait.until(lambda _: "cut" in browser.find_element(By.ID, "upload").text)  # uploaded: its name listed
    predict.click()
    message = wait.until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "#message p")))
    wait.until(lambda _: "No digit to read" in message.text)
    assert "cannot be read (IndexError" in message.text, message.text
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid='toast-body']")  # no red error box

    browser.find_element(By.CSS_SELECTOR, "#upload button[aria-label='Clear']").click()
    browser.find_element(By.CSS_SELECTOR, "#upload input[type='file']").send_keys(str(too_large_upload(tmp_path)))
    toast = wait.until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "[data-testid='toast-body']"))
    )
    wait.until(lambda _: "maximum allowed size" in toast.text)  # the box can show a moment before its text
    assert f"maximum allowed size of {MAX_UPLOAD_MB}.0 Mb" in toast.text and "huge.png" in toast.text, toast.text


def test_the_demo_command_serves_the_page(trained_run, tmp_path):
    import subprocess
    import sys
    import time
    import urllib.request

    model = trained_run.files.model  # its "not a digit" check beside it, as `mnist-cnn train` saves it
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if key != "MNIST_CNN_DEBUG"}
    server = subprocess.Popen(
        [sys.executable, "-m", "mnist_cnn", "demo", str(model), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        deadline, page = time.monotonic() + 90, None
        while page is None and time.monotonic() < deadline and server.poll() is None:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
            except OSError:
                time.sleep(0.5)
        assert page is not None and "mnist-cnn: draw a digit" in page
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert f"Serving {model} on http://127.0.0.1:{port}" in out


DRAWN = 40  # digits drawn on the sketchpad


@pytest.fixture(scope="module")
def brush_strokes(raw_sample):
    """The first DRAWN test digits as the sketchpad's black brush draws them on its canvas."""
    return [brush_drawn(digit, CANVAS_SIDE, BRUSH_WIDTH) for digit in raw_sample[1][0][:DRAWN]]


def sketch(brush: np.ndarray, background: tuple[int, int, int, int]) -> Image.Image:
    """The brush's strokes on the Sketchpad's RGBA canvas, as the page sends it, on a transparent or white
    background."""
    picture = Image.new("RGBA", brush.shape[::-1], background)
    ink = np.dstack([np.zeros((*brush.shape, 3), np.uint8), (brush * 255).astype(np.uint8)])
    picture.alpha_composite(Image.fromarray(ink))
    return picture


@pytest.mark.parametrize("background", [(0, 0, 0, 0), (255, 255, 255, 255)], ids=["transparent", "white"])
def test_a_drawing_is_read_as_the_digit_it_draws(reading_model, raw_sample, brush_strokes, background):
    images, labels = raw_sample[1][0][:DRAWN], raw_sample[1][1][:DRAWN]
    model = reading_model
    on_arrays = model.predict_on_batch(images[..., np.newaxis].astype(np.float32) / 255).argmax(1)
    sketches = [sketch(brush, background) for brush in brush_strokes]
    # Read as the page reads a drawing (predict_drawing), the model's answers taken in one batch.
    seen = np.stack([image_to_mnist(grey_levels(picture)) for picture in sketches])
    drawn = model.predict_on_batch(seen).argmax(1)
    assert (drawn == labels).mean() >= (on_arrays == labels).mean() - 0.05
    top, *_ = predict_drawing(model, {"composite": sketches[0]})
    assert int(max(top, key=top.get)) == drawn[0]  # the page's answer is that reading's


def test_a_written_number_is_read_whole_with_each_digit_boxed_and_a_letter_is_not_a_digit(reading_model, raw_sample):
    reader = DigitReader(reading_model, novelty_for(reading_model, READING_MODEL))
    images, labels = raw_sample[1]
    number, _ = compose(images[:3], [6, 6], np.ones(3), np.zeros(3, int))
    drawing = as_drawn(number)
    top, boxed, why, message = predict_drawing(reader, {"composite": drawing})
    assert message.startswith(f"The model reads the number **{''.join(map(str, labels[:3]))}**")
    assert len(top) == 3 and why is None
    assert boxed.shape[:2] == (drawing.height, drawing.width) and (boxed[..., 0] > boxed[..., 1] + 100).any()  # red
    *_, message = predict_drawing(reader, {"composite": as_drawn(letter(DEJAVU, "K"))})
    assert message.startswith("This does not look like a digit to the model")


def as_drawn(ink: np.ndarray) -> Image.Image:
    """Ink (uint8, light on dark) enlarged four times, dark on white, as a drawing."""
    return Image.fromarray(255 - np.kron(ink, np.ones((4, 4), np.uint8)))
