"""Tried as a new user would, second round: one folder one run, a finished run kept, every bad value named, one odd
file never ends the batch, data files checked before they are read, messages that say what and where."""

import io
import json
import math
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from mnist_cnn import image_files
from mnist_cnn import predict as predict_module
from mnist_cnn.cli import main
from mnist_cnn.config import config_for
from mnist_cnn.data import read_data_file
from mnist_cnn.errors import DataError, ModelFileError
from mnist_cnn.files import write_json
from mnist_cnn.model import load_model, save_model
from mnist_cnn.predict import predict_files
from mnist_cnn.runs import RunFolder
from mnist_cnn.train import DivergedError, check_converged

QUICK = ["--dataset", "sample", "--epochs", "1", "--steps-per-epoch", "2"]
# Another training run, as far as the folder is concerned: it holds the folder's lock, as RunFolder.locked takes it
# (without importing Keras, which would take most of this test's time).
HOLD_THE_FOLDER = """
import sys, time
from pathlib import Path
from mnist_cnn.files import locked_folder
with locked_folder(Path(sys.argv[1])):
    print("holding", flush=True)
    time.sleep(60)
"""


def test_a_second_run_in_the_same_folder_is_refused_and_a_killed_one_leaves_no_lock(tmp_path, capsys):
    folder = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_FOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert main(["train", *QUICK, "--output", str(folder)]) == 1
        error = capsys.readouterr().err
        assert (
            error
            == f"error: {folder} is in use by another training run: wait for it to end, or choose another --output\n"
        )
        assert list(folder.iterdir()) == []  # nothing of the other run's touched, nothing written
    finally:
        holder.kill()  # as a killed run dies: its lock goes with it
        holder.wait()
    with RunFolder(folder).locked():
        pass


def test_a_finished_run_is_kept_unless_restart_says_otherwise(tmp_path, capsys):
    folder = tmp_path / "run"
    assert main(["train", *QUICK, "--recipe", "fast", "--output", str(folder)]) == 0
    model_bytes = (folder / "model.keras").read_bytes()
    capsys.readouterr()
    assert main(["train", *QUICK, "--recipe", "seed", "--output", str(folder)]) == 1
    assert capsys.readouterr().err == (
        f"error: {folder} holds a finished run (model.keras): --replace trains a new one to take its place, "
        "--restart discards it, or choose another --output\n"
    )
    assert (folder / "model.keras").read_bytes() == model_bytes
    assert main(["train", *QUICK, "--recipe", "seed", "--output", str(folder), "--restart"]) == 0
    saved = capsys.readouterr().out
    assert "best.keras" not in saved and not (folder / "best.keras").exists()  # the fast run's is gone with it
    assert json.loads((folder / "results.json").read_text())["config"]["validation_split"] == 0


def test_replace_trains_again_over_a_finished_run(tmp_path):
    folder = tmp_path / "run"
    assert main(["train", *QUICK, "--recipe", "seed", "--output", str(folder)]) == 0
    assert main(["train", *QUICK, "--recipe", "seed", "--output", str(folder), "--replace", "--seed", "7"]) == 0
    assert json.loads((folder / "results.json").read_text())["config"]["seed"] == 7


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--learning-rate", "nan"], "error: learning_rate must be in (0, 10], not nan"),
        (["--learning-rate", "-1"], "error: learning_rate must be in (0, 10], not -1.0"),
        (["--warmup-epochs", "nan"], "error: warmup_epochs must be in [0, 1], not nan"),
        (["--seed", "-1"], "error: seed must be in [0, 4,294,967,295], not -1"),
        (["--kernel-size", "30"], "error: kernel_size 30 with pool_size 2 leaves the last convolution 3x3 pixels"),
        (["--dropout", "1"], "error: dropout must be in [0, 1), not 1.0"),
    ],
)
def test_every_setting_is_checked_where_it_enters(flags, message, tmp_path, capsys):
    assert main(["train", *QUICK, "--output", str(tmp_path / "run"), *flags]) == 1
    error = capsys.readouterr().err
    assert error.startswith(message) and error.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_tensorboard_pointing_at_a_file_and_an_output_that_is_a_file_are_named(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["train", *QUICK, "--output", str(tmp_path / "run"), "--tensorboard", str(tmp_path / "file")]) == 1
    assert (
        capsys.readouterr().err
        == f"error: --tensorboard {tmp_path / 'file'}: not a folder (a file of that name is there)\n"
    )
    assert main(["train", *QUICK, "--output", str(tmp_path / "file")]) == 1
    assert (
        capsys.readouterr().err == f"error: {tmp_path / 'file'}: exists and is not a folder: choose another --output\n"
    )


def test_a_diverged_run_is_one_line_and_results_are_always_json(tmp_path):
    class History:
        history = {"loss": [2.3, math.nan]}

    with pytest.raises(DivergedError, match=r"training diverged: the loss became nan in epoch 2; nothing was saved"):
        check_converged(History(), config_for("seed"))
    path = write_json(tmp_path / "results.json", {"test_loss": math.nan, "curve": [1.0, math.inf]})
    assert json.loads(path.read_text()) == {"test_loss": None, "curve": [1.0, None]}


def test_one_odd_file_is_its_own_error_and_the_others_are_predicted(trained_run, raw_sample, tmp_path, monkeypatch):
    good = tmp_path / "good.png"
    Image.fromarray(255 - raw_sample[1][0][0]).resize((112, 112)).save(good)
    odd = tmp_path / "odd.png"
    Image.fromarray(255 - raw_sample[1][0][1]).save(odd)
    real = predict_module.ink_and_strokes

    def breaks_on_odd(grey, name="image"):
        if name.endswith("odd.png"):
            raise ZeroDivisionError("something no one foresaw")
        return real(grey, name)

    monkeypatch.setattr(predict_module, "ink_and_strokes", breaks_on_odd)
    first, second = predict_files(trained_run.model, [odd, good])
    assert first.error == f"{odd}: cannot be read (ZeroDivisionError: something no one foresaw)"
    assert second.error is None and second.digit is not None


def test_infinite_pixels_and_an_exif_that_cannot_be_read_still_give_a_digit(
    trained_run, raw_sample, tmp_path, monkeypatch, caplog
):
    pixels = raw_sample[1][0][0].astype(np.float32)
    pixels[0, 0], pixels[0, 1] = np.inf, np.nan
    Image.fromarray(pixels, mode="F").save(tmp_path / "float.tif")
    Image.fromarray(255 - raw_sample[1][0][0]).save(tmp_path / "phone.jpg")
    expected = predict_files(trained_run.model, [tmp_path / "phone.jpg"])[0].digit
    assert predict_files(trained_run.model, [tmp_path / "float.tif"])[0].error is None

    def broken_exif(image):  # as Pillow raises for an EXIF block it cannot parse
        raise SyntaxError("not a TIFF file (header b'Exif' not valid)")

    monkeypatch.setattr(image_files.Image.Image, "getexif", broken_exif)
    (phone,) = predict_files(trained_run.model, [tmp_path / "phone.jpg"])
    assert phone.error is None and phone.digit == expected
    assert f"note: {tmp_path / 'phone.jpg'}: its EXIF orientation cannot be read" in caplog.text


def test_data_files_of_the_wrong_kind_are_named_before_they_are_read(tmp_path):
    np.save(tmp_path / "images.npy", np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(
        DataError, match=r"images.npy: not a readable .npz archive of MNIST arrays \(a single NumPy array"
    ):
        read_data_file(tmp_path / "images.npy")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (10**9, 28, 28)})
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as archive:
        archive.writestr("x_train.npy", header.getvalue() + bytes(100))
    started = time.perf_counter()
    with pytest.raises(DataError, match=r"x_train.npy declares shape \(1000000000, 28, 28\) of uint8"):
        read_data_file(tmp_path / "huge.npz")
    assert time.perf_counter() - started < 5  # nothing of 784 GB was allocated


def test_a_model_of_the_wrong_shape_says_its_shapes(tmp_path):
    import keras

    other = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)], name="mnist_cnn"
    )
    with pytest.raises(ModelFileError, match=r"found 'mnist_cnn' from \(None, 32, 32, 3\) to \(None, 10\)"):
        load_model(save_model(other, tmp_path / "other.keras"))


def test_the_demo_names_neither_the_servers_folder_nor_a_busy_port_wrongly(trained_run, tmp_path):
    pytest.importorskip("gradio")
    import socket

    from mnist_cnn.demo import DemoError, check_port_free, predict_upload

    broken = tmp_path / "server-temporary-folder" / "upload.png"
    broken.parent.mkdir()
    broken.write_text("not an image")
    *_, message = predict_upload(trained_run.model, str(broken))
    assert "upload.png" in message and str(broken.parent) not in message
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(DemoError, match=f"port {port} on 127.0.0.1 is in use .*: choose another with --port"):
            check_port_free("127.0.0.1", port)


def test_a_disk_full_at_a_backup_is_one_line_and_the_next_run_resumes(tmp_path, monkeypatch, capsys):
    output = tmp_path / "run"
    command = ["train", "--dataset", "sample", "--recipe", "seed", "--epochs", "3", "--steps-per-epoch", "2"]
    command += ["--output", str(output)]
    write_bytes = Path.write_bytes
    backups = []

    def disk_full_at_the_second_backup(path, data):
        if path.name.endswith(".weights.h5"):
            backups.append(path)
            if len(backups) == 2:  # epoch 2's backup: half a file, then the disk is full
                write_bytes(path, data[: len(data) // 2])
                raise OSError(28, "No space left on device")
        return write_bytes(path, data)

    monkeypatch.setattr(Path, "write_bytes", disk_full_at_the_second_backup)
    assert main(command) == 1
    backup = output / "backup"
    err = capsys.readouterr().err
    assert err.startswith(f"error: {backup / 'epoch-2.weights.h5'}: ") and "No space left on device" in err
    assert err.count("\n") == 1
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 1
    assert sorted(path.name for path in backup.iterdir()) == ["epoch-1.weights.h5", "training_metadata.json"]

    monkeypatch.setattr(Path, "write_bytes", write_bytes)  # space freed
    assert main(command) == 0
    history = json.loads((output / "history.json").read_text())
    assert len(history["loss"]) == 3 and not backup.exists()


def interrupted_after_two_backups(command, monkeypatch):
    """Run `command`, interrupted as Ctrl-C would once the backups of epochs 1 and 2 are saved; return the backups."""
    save_weights = keras.Model.save_weights
    saved = []

    def stopped_at_the_third_backup(model, path, *args, **kwargs):
        saved.append(path)
        if len(saved) == 3:
            raise KeyboardInterrupt
        return save_weights(model, path, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(keras.Model, "save_weights", stopped_at_the_third_backup)
        assert main(command) == 130  # an unfinished run
    return sorted((Path(command[-1]) / "backup").glob("*.weights.h5"))


BACKUP_RUN = ["train", "--dataset", "sample", "--recipe", "seed", "--epochs", "3", "--steps-per-epoch", "2"]


def test_a_damaged_backup_resumes_from_the_one_before_saying_so(tmp_path, monkeypatch, capsys, caplog):
    command = [*BACKUP_RUN, "--output", str(tmp_path / "run")]
    first, second = interrupted_after_two_backups(command, monkeypatch)
    assert (first.name, second.name) == ("epoch-1.weights.h5", "epoch-2.weights.h5")
    second.write_bytes(b"\x89HDF\r\n half a file")  # damaged since, from outside
    epochs = []
    monkeypatch.setattr(keras.callbacks.Callback, "on_epoch_begin", lambda self, epoch, logs=None: epochs.append(epoch))
    capsys.readouterr()
    assert main(command) == 0
    notes = [record.getMessage() for record in caplog.records if "cannot be loaded" in record.getMessage()]
    assert len(notes) == 1 and notes[0].startswith(f"note: {second} cannot be loaded (")
    assert notes[0].endswith("): resuming from the backup of epoch 1") and "\n" not in notes[0]
    assert "error" not in capsys.readouterr().err
    assert sorted(set(epochs)) == [1, 2]  # epochs 2 and 3 trained again, from epoch 1's weights
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())["loss"]) == 3


def test_backups_that_cannot_be_loaded_are_one_line_naming_them(tmp_path, monkeypatch, capsys):
    output = tmp_path / "run"
    command = [*BACKUP_RUN, "--output", str(output)]
    for backup in interrupted_after_two_backups(command, monkeypatch):
        backup.write_bytes(b"\x89HDF\r\n half a file")
    capsys.readouterr()
    assert main(command) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: the backup in {output / 'backup'} cannot be loaded (") and err.count("\n") == 1
    assert err.endswith("): run again with --restart to start over\n")
    assert main([*command, "--restart"]) == 0


@pytest.fixture
def small_disk(tmp_path):
    """A 1.2 MB file system (tmpfs: a backup of this model is 1.4 MB), where this machine lets us mount one."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("mounting a small file system needs root on Linux")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def test_a_really_full_disk_is_one_line_no_crash_no_partial_file(small_disk, capsys):
    output = small_disk / "run"
    args = ["train", "--dataset", "sample", "--epochs", "2", "--steps-per-epoch", "2", "--output", str(output)]
    # A process of its own: a crash in native code (h5py writing to a full disk) would end this one.
    finished = subprocess.run([sys.executable, "-m", "mnist_cnn", *args], capture_output=True, text=True)
    assert finished.returncode == 1  # not 139: h5py never writes to the full disk
    errors = [line for line in finished.stderr.splitlines() if line.startswith(("error", "Traceback", "Exception"))]
    assert errors == [f"error: {output / 'backup' / 'epoch-1.weights.h5'}: No space left on device"]
    assert not [path for path in output.rglob("*") if ".partial" in path.name]

    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)  # space freed
    assert main(args) == 0, capsys.readouterr().err
