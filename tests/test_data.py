"""Every data source gives the same, seed-preprocessed arrays; every bad input gives one clear DataError."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from mnist_cnn import data
from mnist_cnn.data import DataError, DataUnavailableError, load_data, load_raw, preprocess

from conftest import write_idx, write_idx_folder, write_npz


def assert_same(loaded, raw):
    (x_train, y_train), (x_test, y_test) = loaded
    (raw_x_train, raw_y_train), (raw_x_test, raw_y_test) = raw
    np.testing.assert_array_equal(x_train, raw_x_train)
    np.testing.assert_array_equal(y_train, raw_y_train)
    np.testing.assert_array_equal(x_test, raw_x_test)
    np.testing.assert_array_equal(y_test, raw_y_test)


def test_sample_is_preprocessed_as_the_seed_does(sample_data, raw_sample):
    (x_train, y_train), (x_test, y_test) = sample_data
    assert x_train.shape == (2000, 28, 28, 1) and x_test.shape == (1000, 28, 28, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.float32
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    np.testing.assert_allclose(x_train[..., 0], raw_sample[0][0] / 255)
    assert y_train.shape == (2000, 10) and y_test.shape == (1000, 10)
    np.testing.assert_array_equal(y_train.argmax(axis=1), raw_sample[0][1])
    np.testing.assert_array_equal(y_train.sum(axis=1), 1)


# MNIST's test set, digit by digit (the sample is drawn from it).
MNIST_TEST_COUNTS = np.array([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])


def test_sample_has_every_digit_in_mnists_proportions_and_no_digit_twice(raw_sample):
    (x_train, y_train), (x_test, y_test) = raw_sample
    for labels, size in ((y_train, 2000), (y_test, 1000)):
        expected = size * MNIST_TEST_COUNTS / MNIST_TEST_COUNTS.sum()
        assert np.abs(np.bincount(labels, minlength=10) - expected).max() <= 1
    images = np.concatenate([x_train, x_test]).reshape(3000, -1)
    assert len(np.unique(images, axis=0)) == 3000  # train and test share no image


@pytest.mark.skipif(
    not data.SYSTEM_FOLDERS["fashion"].is_dir(), reason="Debian's dataset-fashion-mnist is not installed"
)
def test_debians_fashion_mnist_folder_is_read():
    (x_train, y_train), (x_test, y_test) = load_raw("fashion")
    assert x_train.shape == (60_000, 28, 28) and x_test.shape == (10_000, 28, 28)
    assert np.bincount(y_train).tolist() == [6000] * 10


def test_npz_file(tmp_path, raw_sample):
    assert_same(load_raw(path=write_npz(tmp_path / "mnist.npz", raw_sample)), raw_sample)


@pytest.mark.parametrize("gzipped", [True, False], ids=["gz", "plain"])
def test_idx_folder(tmp_path, raw_sample, gzipped):
    assert_same(load_raw(path=write_idx_folder(tmp_path, raw_sample, gzipped)), raw_sample)


def test_environment_variable(tmp_path, raw_sample, monkeypatch):
    monkeypatch.setenv("MNIST_CNN_DATA", str(write_npz(tmp_path / "mnist.npz", raw_sample)))
    assert_same(load_raw("mnist"), raw_sample)


def test_explicit_path_comes_before_the_environment_variable(tmp_path, raw_sample, monkeypatch):
    monkeypatch.setenv("MNIST_CNN_DATA", str(tmp_path / "missing.npz"))
    assert_same(load_raw("mnist", write_npz(tmp_path / "mnist.npz", raw_sample)), raw_sample)


def test_fashion_from_its_own_variable_then_the_system_folder(tmp_path, raw_sample, monkeypatch):
    monkeypatch.setitem(data.SYSTEM_FOLDERS, "fashion", write_idx_folder(tmp_path / "system", raw_sample))
    assert_same(load_raw("fashion"), raw_sample)
    monkeypatch.setenv("MNIST_CNN_FASHION_DATA", str(tmp_path / "missing"))
    with pytest.raises(DataError, match="missing: no such file or folder"):
        load_raw("fashion")


def test_keras_cache_or_download_comes_last(raw_sample, monkeypatch):
    monkeypatch.setitem(data.KERAS_LOADERS, "mnist", lambda: raw_sample)
    assert_same(load_raw("mnist"), raw_sample)


def test_keras_cache_is_read_and_checked_here(raw_sample, monkeypatch):
    monkeypatch.setitem(data.KERAS_LOADERS, "mnist", lambda: pytest.fail("Keras' downloader was called"))
    cached = data.keras_cache_path("mnist")
    cached.parent.mkdir(parents=True, exist_ok=True)
    write_npz(cached, raw_sample)
    assert_same(load_raw("mnist"), raw_sample)
    cached.write_bytes(cached.read_bytes()[:5000])  # a download cut short
    with pytest.raises(DataError, match=f"{cached}: not a readable .npz archive") as error:
        load_raw("mnist")
    assert not isinstance(error.value, DataUnavailableError)


def test_fashion_keras_cache_is_its_folder_of_idx_files(raw_sample, monkeypatch):
    monkeypatch.setitem(data.SYSTEM_FOLDERS, "fashion", Path("/no/such/folder"))
    write_idx_folder(data.keras_cache_path("fashion"), raw_sample)
    assert_same(load_raw("fashion"), raw_sample)


def test_without_network_or_file_it_says_what_to_do(monkeypatch):
    def offline():
        raise Exception("URL fetch failure on https://example/mnist.npz: None -- [Errno -2] Name or service not known")

    monkeypatch.setitem(data.KERAS_LOADERS, "mnist", offline)
    with pytest.raises(DataUnavailableError) as error:
        load_raw("mnist")
    message = str(error.value)
    for advice in ("URL fetch failure", "mnist.npz", "--data PATH", "MNIST_CNN_DATA=PATH", "--dataset sample"):
        assert advice in message
    assert "\n" not in message


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'cifar'"):
        load_raw("cifar")


def test_load_data_returns_model_ready_arrays(tmp_path, raw_sample):
    (x_train, y_train), _ = load_data(path=write_npz(tmp_path / "mnist.npz", raw_sample))
    expected_x, expected_y = preprocess(*raw_sample[0])
    np.testing.assert_array_equal(x_train, expected_x)
    np.testing.assert_array_equal(y_train, expected_y)


# Bad files: each a (setup, expected message) pair; setup writes into a folder of good IDX files and returns the
# path to load.
def truncate(path, keep):
    path.write_bytes(path.read_bytes()[:keep])


def corrupt_gzip(folder):
    path = folder / "train-images-idx3-ubyte.gz"
    content = bytearray(path.read_bytes())
    content[100:200] = b"\xff" * 100
    path.write_bytes(bytes(content))
    return folder


def truncated_plain_idx(folder):
    path = folder / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.unlink()
    (folder / "train-images-idx3-ubyte").write_bytes(raw[:-500])
    return folder


def truncated_gzip(folder):
    truncate(folder / "t10k-labels-idx1-ubyte.gz", 100)
    return folder


def bad_magic(folder):
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x12\x34\x08\x03" + gzip.decompress(path.read_bytes())[4:]))
    return folder


def missing_file(folder):
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    return folder


def not_a_zip(folder):
    path = folder / "mnist.npz"
    path.write_text("hello")
    return path


def npz_without_test_labels(folder):
    path = folder / "mnist.npz"
    images = np.zeros((3, 28, 28), np.uint8)
    np.savez(path, x_train=images, y_train=np.zeros(3, np.uint8), x_test=images)
    return path


@pytest.mark.parametrize(
    "make_bad, message",
    [
        (corrupt_gzip, r"train-images-idx3-ubyte.gz: cannot be read"),
        (truncated_gzip, r"t10k-labels-idx1-ubyte.gz: cannot be read"),
        (truncated_plain_idx, r"train-images-idx3-ubyte: .* bytes, but its header \(2000, 28, 28\) needs"),
        (bad_magic, r"t10k-images-idx3-ubyte.gz: not an IDX file"),
        (missing_file, r"missing t10k-labels-idx1-ubyte \(or t10k-labels-idx1-ubyte.gz\)"),
        (not_a_zip, r"mnist.npz: not a readable .npz archive"),
        (npz_without_test_labels, r"mnist.npz: missing array\(s\) y_test"),
    ],
)
def test_bad_files_give_one_clear_error(tmp_path, raw_sample, make_bad, message):
    path = make_bad(write_idx_folder(tmp_path, raw_sample))
    with pytest.raises(DataError, match=message) as error:
        load_raw(path=path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda x, y: (x[:, :27, :27], y), r"x_train has shape \(2000, 27, 27\), expected \(N, 28, 28\)"),
        (lambda x, y: (x.astype(np.float32), y), r"x_train has dtype float32, expected uint8"),
        (lambda x, y: (x, np.where(y == 9, 10, y)), r"y_train has labels from 0 to 10, expected 0 to 9"),
        (lambda x, y: (x, y[:-1]), r"2000 images but 1999 labels in the train split"),
        (lambda x, y: (x, y.astype(np.float32)), r"y_train has shape \(2000,\) and dtype float32"),
        (lambda x, y: (x[:0], y[:0]), r"x_train has shape \(0, 28, 28\)"),
    ],
    ids=["shape", "dtype", "label-range", "count", "label-dtype", "empty"],
)
def test_wrong_arrays_give_one_clear_error(tmp_path, raw_sample, change, message):
    bad = (change(*raw_sample[0]), raw_sample[1])
    path = write_npz(tmp_path / "bad.npz", bad)
    with pytest.raises(DataError, match=message):
        load_raw(path=path)


def test_wrong_shape_in_idx_file(tmp_path, raw_sample):
    folder = write_idx_folder(tmp_path, raw_sample)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((1000, 32, 32), np.uint8))
    with pytest.raises(DataError, match=r"x_test has shape \(1000, 32, 32\)"):
        load_raw(path=folder)
