"""The command line: what a user types, what it prints, the files it writes, its errors and exit statuses.

Most tests call `main(argv)` in this process; in-process calls run with MNIST_CNN_DEBUG=1 (tests/conftest.py), so
that a bug in our code fails the test instead of being printed as a one-line error. A few start a process, for what
only a process shows: the installed command's exit status, imports, signals, native log lines on standard error, a
file-size limit.
"""

import contextlib
import dataclasses
import errno
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mnist_cnn
from mnist_cnn import commands, data
from mnist_cnn.cli import build_parser, config_from
from mnist_cnn.config import CHOICES, DEFAULT_RECIPE, RECIPES, Config, config_for
from mnist_cnn.model import build_model, load_model, save_model

from conftest import MEMBER_PROBABILITIES, constant_model
from conftest import run_command as run

VENV_BIN = Path(sys.executable).parent
# Lines of our own on standard error; anything else there is noise (TensorFlow's C++ logs, say).
OUR_STDERR = re.compile(r"^(error|note|interrupted|No architecture diagram)")
HEAVY_MODULES = ("keras", "tensorflow", "jax", "torch", "cloudmesh.common.StopWatch")


def flag_help(help_text: str, flag: str) -> str:
    """The help of `flag` in a --help text, its lines joined."""
    found = re.search(rf"^  {re.escape(flag)}\b.*?(?=^  -|^\S|\Z)", help_text, re.MULTILINE | re.DOTALL)
    assert found, f"{flag} is not in the help"
    return " ".join(found.group(0).split())


def user_environment(**changes):
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **changes}
    for name in ("MNIST_CNN_DEBUG", "TF_CPP_MIN_LOG_LEVEL"):  # as a user's shell has them: unset
        environment.pop(name, None)
    return environment


def run_cli(*args, cwd=None, preexec_fn=None):
    """Run `python -m mnist_cnn ARGS` in a fresh process, as a user would; return it finished."""
    return subprocess.run(
        [sys.executable, "-m", "mnist_cnn", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=user_environment(),
        preexec_fn=preexec_fn,
    )


@pytest.fixture
def offline(monkeypatch):
    """Keras cannot download MNIST, as on a machine without internet."""

    def no_network():
        raise Exception("URL fetch failure on https://example/mnist.npz: [Errno -2] Name or service not known")

    monkeypatch.setitem(data.KERAS_LOADERS, "mnist", no_network)


# Arguments, help and errors: no training.


def shown(value) -> str:
    """A recipe's value as the help should write it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "all"  # steps_per_epoch's: all the images
    return f"{value:g}" if isinstance(value, float) else str(value)


def test_train_help_gives_each_recipes_value_of_each_hyperparameter(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    status, out, _ = run(["train", "--help"], capsys)
    assert status == 0
    for field in dataclasses.fields(Config):
        text = flag_help(out, "--" + field.name.replace("_", "-"))
        values = {recipe: getattr(config, field.name) for recipe, config in RECIPES.items()}
        if len(set(values.values())) == 1:
            assert f"(default: {shown(values[DEFAULT_RECIPE])})" in text, text
            continue
        for recipe, value in values.items():
            assert re.search(rf"\b{recipe}: {re.escape(shown(value))}\b", text), (recipe, text)
        others = [text.index(f"{recipe}: ") for recipe in values if recipe != DEFAULT_RECIPE]
        assert text.index(f"{DEFAULT_RECIPE}: ") < min(others), text


def test_every_hyperparameter_has_a_flag_whose_help_is_its_fields_description(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    _, out, _ = run(["train", "--help"], capsys)
    _, summary_out, _ = run(["summary", "--help"], capsys)
    for field in dataclasses.fields(Config):
        flag = "--" + field.name.replace("_", "-")
        text = flag_help(out, flag)
        assert field.metadata["help"] in text, field.name
        if "range" in field.metadata:  # and the values it accepts, as Config's errors say them
            assert f"; {field.metadata['range']} (default: " in text, text
        if field.name in ("filters", "kernel_size", "pool_size"):  # summary's flags: the same words
            assert field.metadata["help"] in flag_help(summary_out, flag)


def test_every_hyperparameter_is_described_and_units_are_given(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    _, out, _ = run(["train", "--help"], capsys)
    assert "90% answer" in flag_help(out, "--calibrate")  # a % in a description is no format for argparse
    assert "fraction of a full turn" in flag_help(out, "--max-rotation")
    assert "fraction of their side" in flag_help(out, "--max-shift")
    assert "in epochs" in flag_help(out, "--warmup-epochs")
    _, out, _ = run(["demo", "--help"], capsys)
    assert "TCP port" in flag_help(out, "--port")


@pytest.mark.parametrize("name", CHOICES)
def test_an_enumerated_hyperparameter_refuses_a_typo_in_the_parser(name, capsys):
    flag = "--" + name.replace("_", "-")
    status, _, err = run(["train", flag, "typo"], capsys)
    assert status == 2 and f"argument {flag}: invalid choice: 'typo'" in err
    for choice in CHOICES[name]:  # every name offered is one Config takes
        assert getattr(config_for("seed", **{name: choice}), name) == choice
    assert {getattr(config, name) for config in RECIPES.values()} <= set(CHOICES[name])  # and each recipe's is offered


def test_every_recipe_is_trained_as_written_unless_a_flag_says_otherwise():
    parser = build_parser()
    assert config_from(parser.parse_args(["train"])) == RECIPES[DEFAULT_RECIPE]
    for recipe, config in RECIPES.items():
        assert config_from(parser.parse_args(["train", "--recipe", recipe])) == config
        flags = ["train", "--recipe", recipe, "--epochs", "3", "--no-jit-compile", "--optimizer", "sgd"]
        assert config_from(parser.parse_args(flags)) == config.replace(epochs=3, jit_compile=False, optimizer="sgd")


def test_version(capsys):
    assert run(["--version"], capsys) == (0, f"mnist-cnn {mnist_cnn.__version__}\n", "")


@pytest.mark.parametrize(
    "args, message",
    [
        (["predict", "m.keras", "x.png", "--top", "0"], "argument --top: must be from 1 to 10, not 0"),
        (["predict", "m.keras", "x.png", "--top", "11"], "argument --top: must be from 1 to 10, not 11"),
        (["predict", "m.keras", "x.png", "--top", "two"], "argument --top: not a whole number: 'two'"),
        (["demo", "m.keras", "--port", "0"], "argument --port: must be from 1 to 65535, not 0"),
        (["summary", "--epochs", "3"], "unrecognized arguments: --epochs 3"),
        (["summary", "--recipe", "fast"], "unrecognized arguments: --recipe fast"),
    ],
)
def test_argument_errors_are_the_parsers_and_name_the_argument(args, message, capsys):
    status, out, err = run(args, capsys)
    assert status == 2 and out == "" and err.rstrip().endswith(message)


@pytest.mark.parametrize("before_the_command", [True, False], ids=["before", "after"])
def test_the_backend_flag_is_read_once_with_the_others_before_or_after_the_command(before_the_command):
    args = ["--backend", "jax", "train"] if before_the_command else ["train", "--backend", "jax"]
    parsed = build_parser().parse_args([*args, "--epochs", "3"])
    assert (parsed.backend, parsed.command, parsed.epochs) == ("jax", "train", 3)
    assert not hasattr(build_parser().parse_args(["summary"]), "backend")  # unset: the backend's own defaults


def test_top_takes_one_to_ten_digits():
    parser = build_parser()
    assert [parser.parse_args(["predict", "m.keras", "x.png", "--top", top]).top for top in ("1", "10")] == [1, 10]


@pytest.mark.parametrize("command", ["evaluate", "predict", "export", "demo"])
def test_every_command_names_its_model_argument_model_and_says_what_it_is(command, capsys):
    status, out, _ = run([command, "--help"], capsys)
    assert status == 0 and re.search(r"^usage: .* MODEL\b", out, re.MULTILINE | re.DOTALL)
    assert "a model that train saved" in flag_help(out, "MODEL")


def test_validation_split_0_turns_calibration_off_saying_so(capsys):
    parser = build_parser()
    config = config_from(parser.parse_args(["train", "--validation-split", "0"]))
    assert config == RECIPES[DEFAULT_RECIPE].replace(validation_split=0.0, calibrate=False)
    assert capsys.readouterr().err == (
        "note: calibration is off: --validation-split 0 leaves no images to fit its temperature on\n"
    )
    for quiet in (["--recipe", "seed"], ["--no-calibrate"]):  # nothing turned off, or turned off as asked
        config_from(parser.parse_args(["train", "--validation-split", "0", *quiet]))
        assert capsys.readouterr().err == ""
    status, _, err = run(["train", "--validation-split", "0", "--calibrate"], capsys)
    assert status == 1 and err.startswith("error: calibrate needs validation data")


def test_help_and_argument_errors_import_neither_keras_nor_a_backend():
    script = (
        "import sys\nfrom mnist_cnn.cli import build_parser, config_from, main\n"
        "for argv in (['--help'], ['train', '--help'], ['summary', '--help'], ['--version'], "
        "['train', '--optimizer', 'adamm'], ['train', '--batch-size', '0'], ['predict', 'm', 'x', '--top', '0']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "config_from(build_parser().parse_args(['--backend', 'torch', 'train', '--epochs', '3']))\n"
        f"print(sorted(name for name in {HEAVY_MODULES!r} if name in sys.modules))\n"
    )
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=user_environment())
    assert finished.stdout.splitlines()[-1] == "[]", finished.stdout[-500:] + finished.stderr[-2000:]


def test_the_mnist_cnn_command_is_installed_and_exits_with_its_status():
    def mnist_cnn_command(*args):
        command = [VENV_BIN / "mnist-cnn", *args]
        return subprocess.run(command, capture_output=True, text=True, env=user_environment())

    helped = mnist_cnn_command("--help")
    assert helped.returncode == 0 and "train" in helped.stdout and helped.stderr == ""
    refused = mnist_cnn_command("train", "--batch-size", "0")
    assert refused.returncode == 1 and refused.stderr == "error: batch_size must be at least 1, not 0\n"
    mistyped = mnist_cnn_command("train", "--optimizer", "adamm")
    assert mistyped.returncode == 2 and "invalid choice: 'adamm'" in mistyped.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--data", "no/such.npz"], "error: no/such.npz: no such file or folder"),
        (["train", "--dataset", "sample", "--batch-size", "0"], "error: batch_size must be at least 1"),
        (["evaluate", "missing.keras", "--dataset", "sample"], "error: missing.keras: no such model file"),
        (["predict", "README.md", "x.png"], "error: README.md: not a Keras .keras model file"),
    ],
)
def test_errors_are_one_line_and_a_non_zero_exit(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text("not a model")
    status, _, err = run(args, capsys)
    assert status == 1 and err.count("\n") == 1 and err.startswith(message), err


def test_a_finished_run_in_the_default_folder_is_kept_and_the_error_says_how_to_keep_both(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    finished = tmp_path / "runs" / "sample-fast"
    finished.mkdir(parents=True)
    (finished / "model.keras").write_text("the finished run's model")
    (tmp_path / "runs" / "sample-fast-2").mkdir()  # taken too: the next free name is offered
    status, out, err = run(["train", "--dataset", "sample"], capsys)
    assert status == 1 and err.count("\n") == 1 and out == ""
    assert err.startswith("error: runs/sample-fast holds a finished run") and "--replace" in err
    assert "--output runs/sample-fast-3" in err
    assert [path.name for path in finished.iterdir()] == ["model.keras"]
    assert (finished / "model.keras").read_text() == "the finished run's model"


def test_an_os_error_without_a_file_name_is_still_one_clear_line():
    from mnist_cnn.cli import describe_os_error

    assert describe_os_error(OSError(28, "No space left on device")) == "No space left on device"
    assert describe_os_error(OSError(13, "Permission denied", "runs/x")) == "runs/x: Permission denied"
    h5py_report = (
        "Can't write data (file write failed: time = Thu\n, filename = 'runs/x/backup/latest.weights.h5', errno = 27"
    )
    assert describe_os_error(OSError(27, h5py_report)) == "runs/x/backup/latest.weights.h5: File too large"


def test_plots_of_a_model_without_mistakes(sample_data, tmp_path):
    (x_train, y_train), _ = sample_data
    easy = (x_train, y_train), (x_train[:0], y_train[:0])
    report = commands.evaluation_report(constant_model(MEMBER_PROBABILITIES[0]), (x_train[:5], y_train[:5]))
    report.predicted_labels = report.true_labels.copy()  # a perfect model
    report.probabilities = np.eye(10, dtype=np.float32)[report.true_labels]
    paths = commands.save_plots(tmp_path, easy, report)
    assert "misclassified.png" not in [path.name for path in paths] and (tmp_path / "confusion_matrix.png").exists()


# Commands that train, load or run a model.


@pytest.mark.backend
def test_train_evaluate_and_plot_end_to_end(tmp_path, capsys):
    output, plots = tmp_path / "run", tmp_path / "plots"
    flags = ["--epochs", "2", "--steps-per-epoch", "3", "--output", output, "--plots", plots]
    status, printed, _ = run(["train", "--dataset", "sample", *flags], capsys)
    assert status == 0
    assert "1,800 training, 200 validation" in printed and "Precision: " in printed and "Test accuracy: " in printed
    # Standard output is no terminal here: one line per epoch, not a redrawn progress bar.
    assert "\r" not in printed and "\x1b[" not in printed
    assert len(re.findall(r"^3/3 - .*val_accuracy", printed, re.MULTILINE)) == 2
    results = json.loads((output / "results.json").read_text())
    assert results["config"]["epochs"] == 2 and {"train", "calibrate", "evaluate"} <= set(results["timings_s"])
    for name in ("confusion_matrix.png", "misclassified.png", "samples.png", "training_curves.png"):
        assert Image.open(plots / name).size[0] > 300, name

    evaluated = tmp_path / "evaluated"
    status, printed, _ = run(["evaluate", output / "model.keras", "--dataset", "sample", "--plots", evaluated], capsys)
    assert status == 0 and f"Test accuracy: {100 * results['test_accuracy']:.2f}%" in printed
    assert sorted(path.name for path in evaluated.iterdir()) == [
        "confusion_matrix.png",
        "misclassified.png",
        "samples.png",
    ]


def test_evaluate_several_models_scores_the_mean_of_their_probabilities(tmp_path, capsys, sample_data):
    paths = [
        save_model(constant_model(probabilities), tmp_path / f"member-{index}.keras")
        for index, probabilities in enumerate(MEMBER_PROBABILITIES)
    ]
    status, printed, _ = run(["evaluate", *paths, "--dataset", "sample"], capsys)
    assert status == 0 and "(the mean probabilities of 3 models)" in printed
    labels = sample_data[1][1].argmax(axis=1)
    # The mean says 2 for every image; each member alone, or any two of them, say 1, 3 or 4.
    assert f"Test accuracy: {100 * (labels == 2).mean():.2f}%" in printed
    assert (labels == 2).mean() not in [(labels == digit).mean() for digit in (1, 3, 4)]


def test_hyperparameter_flags_reach_the_model_and_its_training(tmp_path, capsys):
    output = tmp_path / "run"
    flags = ["--batch-size", "50", "--filters", "8", "--learning-rate", "0.002", "--steps-per-epoch", "3"]
    status, _, _ = run(
        ["train", "--dataset", "sample", "--recipe", "seed", "--epochs", "2", "--output", output, *flags], capsys
    )
    assert status == 0
    model = load_model(output / "model.keras")
    assert model.layers[0].filters == 8 and model.count_params() != 112_074
    assert float(model.optimizer.learning_rate) == pytest.approx(0.002)
    assert int(model.optimizer.iterations) == 2 * 3  # 3 steps of each of 2 epochs
    assert len(json.loads((output / "history.json").read_text())["loss"]) == 2
    results = json.loads((output / "results.json").read_text())  # the seed recipe: no validation, no calibration
    assert results["validation_images"] == 0 and results["temperature"] is None


def test_validation_split_0_trains_without_calibration(tmp_path, capsys):
    output = tmp_path / "run"
    status, out, err = run(
        ["train", "--dataset", "sample", "--dry-run", "--validation-split", "0", "--output", output], capsys
    )
    assert status == 0 and err.startswith("note: calibration is off") and "(no validation split)" in out
    results = json.loads((output / "results.json").read_text())
    assert results["validation_images"] == 0 and results["temperature"] is None


def test_without_mnist_a_dry_run_trains_on_the_shipped_sample_in_runs_dry_run(tmp_path, monkeypatch, offline, capsys):
    monkeypatch.chdir(tmp_path)
    status, out, err = run(["train", "--dry-run", "--benchmark"], capsys)
    assert status == 0
    note = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(note) == 1 and "shipped in the package" in note[0] and "MNIST_CNN_DATA" in note[0]
    assert "sample: 1,800 training" in out and "2/2" in out  # two batches
    assert all(re.search(rf"\b{stage}\b", out) for stage in ("load", "build", "train", "evaluate"))  # StopWatch's
    history = tmp_path / "runs" / "dry-run" / "history.json"
    assert len(json.loads(history.read_text())["loss"]) == 1
    # The next dry run replaces it.
    history.write_text("{}")
    assert run(["train", "--dry-run"], capsys)[0] == 0
    assert len(json.loads(history.read_text())["loss"]) == 1
    # Asked for by name, MNIST that cannot be had is an error.
    status, _, err = run(["train", "--dataset", "mnist", "--dry-run", "--output", tmp_path / "run2"], capsys)
    assert status == 1 and "mnist is not available" in err


def test_summary_prints_the_layers_of_the_network_asked_for(tmp_path, capsys):
    status, out, _ = run(["summary", "--diagram", tmp_path / "cnn.png"], capsys)
    assert status == 0 and "112,074" in out
    if shutil.which("dot") is not None:
        assert Image.open(tmp_path / "cnn.png").size[1] > 500  # a tall diagram of 12 layers
    smaller = build_model(config_for("seed", filters=8)).count_params()
    status, out, _ = run(["summary", "--filters", "8", "--diagram", tmp_path / "b.png"], capsys)
    assert status == 0 and f"{smaller:,}" in out and "112,074" not in out


@pytest.mark.backend
def test_predict_prints_digits_top_k_and_json(trained_run, raw_sample, tmp_path, capsys):
    model = trained_run.files.model  # its "not a digit" check beside it, as `mnist-cnn train` saves it
    Image.fromarray(255 - raw_sample[1][0][0]).resize((140, 140)).save(tmp_path / "digit.png")
    (tmp_path / "broken.png").write_text("not an image")

    status, out, _ = run(["predict", model, tmp_path / "digit.png", "--top", "3"], capsys)
    line = out.strip()
    assert status == 0 and line.startswith(f"{tmp_path / 'digit.png'}: ") and line.count("%") == 3

    status, out, err = run(["predict", model, tmp_path / "broken.png", tmp_path / "digit.png", "--json"], capsys)
    assert status == 1
    answers = json.loads(out)
    assert answers[0]["error"] and answers[0]["digit"] is None
    probabilities = [probability for _, probability in answers[1]["top"]]
    assert answers[1]["digit"] == answers[1]["top"][0][0] and probabilities == sorted(probabilities, reverse=True)
    assert err.count("\n") == 1 and "broken.png: not a readable image" in err


# What only a process shows.


def small_file_limit():
    """In the child process: files may grow to 300 KB only, as on a nearly full disk (and no signal kills it)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))


@pytest.mark.backend
def test_a_full_disk_is_one_clear_line_and_leaves_no_partial_file(tmp_path):
    output = tmp_path / "run"
    finished = run_cli("train", "--dataset", "sample", "--dry-run", "--output", output, preexec_fn=small_file_limit)
    assert finished.returncode == 1
    # That line alone: the backend's native log lines (TensorFlow's C++ logs, say) are kept off standard error too,
    # through the import, training and evaluation that came before the save.
    assert re.fullmatch(r"error: \S+: File too large\n", finished.stderr), finished.stderr
    leftovers = [path.name for path in output.rglob("*") if ".partial" in path.name or path.name.endswith(".tmp")]
    assert leftovers == [] and not (output / "model.keras").exists()


@contextlib.contextmanager
def files_limited_to(size: int):
    """Files may grow to `size` bytes only while the block runs, as on a nearly full disk: writing more fails with
    EFBIG ("File too large"), and no signal kills the process. Pipes and sockets are not files: pytest-xdist's channel
    is not limited."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def test_a_save_that_fails_midway_leaves_neither_a_model_nor_a_partial_file(tmp_path):
    model = build_model()
    with files_limited_to(100_000), pytest.raises(OSError) as error:  # the model file is about 1.4 MB
        save_model(model, tmp_path / "models" / "model.keras")
    assert error.value.errno == errno.EFBIG
    assert list((tmp_path / "models").iterdir()) == []


def wait_for_backed_up_epochs(backup, process, epochs, timeout=600):
    """Wait until the run's backup records `epochs` finished epochs (a deadline for a machine under load, not a
    timing)."""
    metadata = backup / "training_metadata.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if metadata.exists() and json.loads(metadata.read_text() or "{}").get("epoch", 0) >= epochs:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {epochs} epochs finished in time")


def backed_up_epoch_rows(output):
    """The epoch log's header and the rows of the epochs the backup holds."""
    saved_epochs = json.loads((output / "backup" / "training_metadata.json").read_text())["epoch"]
    return (output / "epochs.csv").read_text().splitlines()[: 1 + saved_epochs]


@pytest.mark.backend
def test_training_stopped_by_ctrl_c_then_killed_resumes_and_completes(tmp_path, capsys):
    output = tmp_path / "run"
    # Enough epochs that the run is still going when the signal comes, even on JAX's quick steps.
    args = ["train", "--dataset", "sample", "--recipe", "seed", "--epochs", "12", "--steps-per-epoch", "3"]
    args += ["--output", str(output)]

    def start_training():
        return subprocess.Popen(
            [sys.executable, "-m", "mnist_cnn", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=user_environment(),
        )

    process = start_training()
    wait_for_backed_up_epochs(output / "backup", process, 1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "run the same command to resume" in err
    noise = [line for line in err.splitlines() if line and not OUR_STDERR.match(line)]
    assert noise == []  # the backend's native log lines (TensorFlow's C++ logs, say) are kept off standard error
    assert not (output / "model.keras").exists()
    before = backed_up_epoch_rows(output)

    # The resumed run, killed outright once it has backed up an epoch of its own: its backup is whole.
    process = start_training()
    wait_for_backed_up_epochs(output / "backup", process, len(before))
    process.kill()
    process.communicate(timeout=60)
    assert not (output / "model.keras").exists()
    before = backed_up_epoch_rows(output)
    assert len(before) > 2  # header, and at least one epoch of each process

    # Other settings are refused, naming what differs; the run is left as it was.
    status, _, err = run([*args, "--batch-size", "32"], capsys)
    assert status == 1 and "batch_size 128 -> 32" in err and "--restart" in err
    assert (output / "epochs.csv").read_text().splitlines()[: len(before)] == before

    status, _, err = run(args, capsys)
    assert status == 0, err
    after = (output / "epochs.csv").read_text().splitlines()
    assert after[: len(before)] == before and len(after) == 1 + 12  # the finished epochs kept as they were, header
    history = json.loads((output / "history.json").read_text())
    assert len(history["loss"]) == 12 and np.all(np.diff(history["elapsed_s"]) > 0)
    assert not (output / "backup").exists()


def wait_for_logged_epochs(epoch_log, process, epochs, timeout=600):
    """Wait until the run's epoch log holds `epochs` rows, looking often, so that a signal sent then lands right
    after the row, while or before its backup is written (a deadline for a machine under load, not a timing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if epoch_log.exists() and len(epoch_log.read_text().splitlines()) >= 1 + epochs:
            return
        time.sleep(0.001)
    raise AssertionError(f"no {epochs} epochs logged in time")


@pytest.mark.backend
def test_sigterm_right_after_an_epoch_is_logged_stops_as_ctrl_c_and_the_rerun_goes_on_from_the_next_epoch(tmp_path):
    output = tmp_path / "run"
    # Enough epochs that the run is still going when the signal comes, even on JAX's quick steps.
    args = ["train", "--dataset", "sample", "--recipe", "seed", "--epochs", "12", "--steps-per-epoch", "3"]
    args += ["--output", str(output)]

    def terminated_after_logging(epochs):
        """Train with `args`, send SIGTERM (as kill or a scheduler does) once `epochs` rows are logged; return the
        exit status, standard output and standard error."""
        process = subprocess.Popen(
            [sys.executable, "-m", "mnist_cnn", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=user_environment(),
        )
        wait_for_logged_epochs(output / "epochs.csv", process, epochs)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        return process.returncode, out, err

    status, _, err = terminated_after_logging(2)
    assert status == 143 and "interrupted by SIGTERM; run the same command to resume" in err
    assert [line for line in err.splitlines() if line and not OUR_STDERR.match(line)] == []
    logged = (output / "epochs.csv").read_text().splitlines()
    done = len(logged) - 1
    assert json.loads((output / "backup" / "training_metadata.json").read_text())["epoch"] == done  # none is lost
    backup = (output / "backup" / f"epoch-{done}.weights.h5").read_bytes()

    # The rerun goes on from the next epoch, and leaves the epochs done as they were.
    status, out, _ = terminated_after_logging(done + 1)
    assert status == 143
    assert re.findall(r"^Epoch \d+/12", out, re.MULTILINE)[0] == f"Epoch {done + 1}/12"
    assert (output / "epochs.csv").read_text().splitlines()[: 1 + done] == logged
    assert (output / "backup" / f"epoch-{done}.weights.h5").read_bytes() == backup
