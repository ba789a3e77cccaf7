"""Loading MNIST or Fashion-MNIST, pre-processed as the seed notebook does.

Images come back as float32 arrays of shape (N, 28, 28, 1) scaled to [0, 1], labels one-hot of shape (N, 10).
Data is looked for, in this order: an explicit path, the dataset's environment variable, a folder of the
system's (Fashion-MNIST only), then Keras' cache, which downloads on first use. `dataset="sample"` is the
small real MNIST sample shipped inside this package.
"""

from __future__ import annotations

import gzip
import os
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mnist_cnn.errors import DataError

NUM_CLASSES = 10
IMAGE_SIZE = 28
DATASETS = ("mnist", "fashion", "sample")
DIGIT_DATASETS = ("mnist", "sample")  # the datasets of handwritten digits
DATA_ENV_VARS = {"mnist": "MNIST_CNN_DATA", "fashion": "MNIST_CNN_FASHION_DATA"}
# Debian's package dataset-fashion-mnist installs the four IDX files here.
SYSTEM_FOLDERS = {"fashion": Path("/usr/share/datasets/fashion-mnist")}
SAMPLE_PATH = Path(__file__).parent / "sample" / "mnist_sample.npz"

# Keras' cache names: a .npz for MNIST, a folder of the four gzipped IDX files for Fashion-MNIST.
KERAS_CACHE_NAMES = {"mnist": "mnist.npz", "fashion": "fashion-mnist"}
DOWNLOAD_URLS = {
    "mnist": "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
    "fashion": "https://storage.googleapis.com/tensorflow/tf-keras-datasets/ (the four *-ubyte.gz files)",
}
# The standard IDX file names, by the key each array has in Keras' mnist.npz.
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
# The IDX data type of unsigned bytes, MNIST's pixels and labels.
IDX_UINT8 = 0x08
# An IDX file starts with four bytes: two zeros, the data type and the number of dimensions.
IDX_MAGIC_SIZE = 4
# Then each dimension's size, a big-endian integer of this many bytes.
IDX_DIMENSION_SIZE = 4

Split = tuple[np.ndarray, np.ndarray]


def keras_loader(module: str) -> Callable[[], tuple[Split, Split]]:
    """`keras.datasets.MODULE.load_data`, Keras imported only when it is called: importing it is slow, which
    `mnist-cnn --help` and the configuration (IMAGE_SIZE) need not wait for."""

    def download() -> tuple[Split, Split]:
        import keras

        return getattr(keras.datasets, module).load_data()

    return download


KERAS_LOADERS = {"mnist": keras_loader("mnist"), "fashion": keras_loader("fashion_mnist")}


def load_data(dataset: str = "mnist", path: str | os.PathLike | None = None) -> tuple[Split, Split]:
    """`(x_train, y_train), (x_test, y_test)` ready for the model: see the module's docstring.

    The time it takes is kept as StopWatch's "load" timer.
    """
    from cloudmesh.common.StopWatch import StopWatch  # slow to import: not for `mnist-cnn --help`

    StopWatch.start("load")
    try:
        train, test = load_raw(dataset, path)
        return preprocess(*train), preprocess(*test)
    finally:  # also where loading fails: a timer left running has no time, which the next run's timings would read
        StopWatch.stop("load")


def preprocess(images: np.ndarray, labels: np.ndarray) -> Split:
    """Scale uint8 images to float32 in [0, 1] with a channel axis, and one-hot the labels, as the seed does."""
    return images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1).astype("float32") / 255, one_hot(labels)


def one_hot(labels: np.ndarray) -> np.ndarray:
    """Integer labels as the one-hot float32 rows the model trains on."""
    import keras

    return keras.utils.to_categorical(labels, NUM_CLASSES).astype("float32")


def split_validation(train: Split, fraction: float) -> tuple[Split, Split | None]:
    """`(train, validation)`: the last `fraction` of the training images held out, as Keras' `validation_split`
    takes them; validation is None when `fraction` is 0."""
    if not fraction:
        return train, None
    images, labels = train
    count = round(len(images) * fraction)
    if not 0 < count < len(images):
        raise DataError(f"a validation split of {fraction} leaves no validation or no training images of {len(images)}")
    return (images[:-count], labels[:-count]), (images[-count:], labels[-count:])


def load_raw(dataset: str = "mnist", path: str | os.PathLike | None = None) -> tuple[Split, Split]:
    """The dataset as uint8 images (N, 28, 28) and integer labels (N,), checked; see the module's docstring."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}: choose one of {', '.join(DATASETS)}")
    if path is not None:
        return read_data_file(path)
    if dataset == "sample":
        return read_data_file(SAMPLE_PATH)
    env_path = os.environ.get(DATA_ENV_VARS[dataset])
    if env_path:
        return read_data_file(env_path)
    system_folder = SYSTEM_FOLDERS.get(dataset)
    if system_folder is not None and system_folder.is_dir():
        return read_data_file(system_folder)
    return load_with_keras(dataset)


class DataUnavailableError(DataError):
    """No source of the dataset exists here: no path, no variable, nothing in Keras' cache, and no download."""

    def __init__(self, short: str, advice: str) -> None:
        super().__init__(f"{short} To get it: {advice} Or train on the shipped sample: --dataset sample.")
        self.short, self.advice = short, advice


def keras_cache_path(dataset: str) -> Path:
    """Where Keras keeps the dataset once downloaded (under $KERAS_HOME, by default ~/.keras)."""
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return keras_home / "datasets" / KERAS_CACHE_NAMES[dataset]


def load_with_keras(dataset: str) -> tuple[Split, Split]:
    """The dataset from Keras' cache, read and checked here so that a corrupt file is named; else Keras' download."""
    cached = keras_cache_path(dataset)
    if cached.exists():
        return read_data_file(cached)
    try:
        arrays = KERAS_LOADERS[dataset]()
    except Exception as error:  # Keras raises a bare Exception for a failed download.
        variable = DATA_ENV_VARS[dataset]
        raise DataUnavailableError(
            f"{dataset} is not available: no path was given, {variable} is not set, and Keras could not download "
            f"it ({str(error).strip() or type(error).__name__}).",
            f"download {DOWNLOAD_URLS[dataset]} into {cached.parent}/, pass --data PATH (a Keras .npz file or a "
            f"folder of the four IDX files), or set {variable}=PATH.",
        ) from error
    return check_arrays(arrays, f"Keras' {dataset} loader")


def read_data_file(path: str | os.PathLike) -> tuple[Split, Split]:
    """Read a Keras-style .npz (x_train, y_train, x_test, y_test) or a folder of the four IDX files."""
    path = Path(path)
    if path.is_dir():
        arrays = read_idx_folder(path)
    elif path.is_file():
        arrays = read_npz(path)
    else:
        raise DataError(f"{path}: no such file or folder")
    return check_arrays(arrays, str(path))


def check_npz_headers(path: Path) -> None:
    """Check, before reading any array, that `path` is an .npz archive whose arrays hold the bytes their headers
    declare: a bare .npy, or a header claiming a billion images, is named here instead of failing in NumPy."""
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as file:
            kind = "a single NumPy array (.npy)" if file.read(6) == b"\x93NUMPY" else "not a zip archive"
        raise DataError(f"{path}: not a readable .npz archive of MNIST arrays ({kind})")
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            if not member.filename.endswith(".npy"):
                continue
            with archive.open(member) as file:
                version = np.lib.format.read_magic(file)
                read_header = (
                    np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read_header(file)
                header_size = file.tell()
            declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if declared != member.file_size - header_size:
                raise DataError(
                    f"{path}: {member.filename} declares shape {shape} of {dtype} ({declared:,} bytes) but holds "
                    f"{member.file_size - header_size:,} bytes (corrupt)"
                )


def read_npz(path: Path) -> tuple[Split, Split]:
    """Read the four arrays of a Keras-style mnist.npz."""
    try:
        check_npz_headers(path)
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in IDX_NAMES if key not in archive.files]
            if missing:
                raise DataError(
                    f"{path}: missing array(s) {', '.join(missing)}; found {', '.join(archive.files) or 'none'}"
                )
            x_train, y_train, x_test, y_test = (archive[key] for key in IDX_NAMES)
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DataError(f"{path}: not a readable .npz archive of MNIST arrays ({error})") from error
    return (x_train, y_train), (x_test, y_test)


def read_idx_folder(folder: Path) -> tuple[Split, Split]:
    """Read the four IDX files (gzipped or not) under their standard names from `folder`."""
    arrays = {}
    for key, name in IDX_NAMES.items():
        candidates = [folder / name, folder / f"{name}.gz"]
        found = next((candidate for candidate in candidates if candidate.is_file()), None)
        if found is None:
            raise DataError(f"{folder}: missing {name} (or {name}.gz)")
        arrays[key] = read_idx(found)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes (gzipped when its name ends in .gz), checking its header."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as file:
            content = file.read()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: cannot be read ({error})") from error
    if len(content) < IDX_MAGIC_SIZE or content[0] != 0 or content[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    if content[2] != IDX_UINT8:
        raise DataError(f"{path}: IDX data type 0x{content[2]:02x}, expected unsigned bytes (0x08)")
    ndim = content[3]
    header_size = IDX_MAGIC_SIZE + IDX_DIMENSION_SIZE * ndim
    if len(content) < header_size:
        raise DataError(f"{path}: truncated IDX header")
    sizes = content[IDX_MAGIC_SIZE:header_size]
    shape = tuple(
        int.from_bytes(sizes[i : i + IDX_DIMENSION_SIZE], "big") for i in range(0, len(sizes), IDX_DIMENSION_SIZE)
    )
    expected_size = header_size + int(np.prod(shape))
    if len(content) != expected_size:
        raise DataError(
            f"{path}: {len(content)} bytes, but its header {shape} needs {expected_size} (truncated or corrupt)"
        )
    return np.frombuffer(content, dtype=np.uint8, offset=header_size).reshape(shape)


def check_arrays(arrays: tuple[Split, Split], source: str) -> tuple[Split, Split]:
    """Check that both splits hold uint8 28x28 images and as many integer labels in 0-9; return them."""
    checked = []
    for split, (images, labels) in zip(("train", "test"), arrays, strict=True):
        images, labels = np.asarray(images), np.asarray(labels)
        if images.dtype != np.uint8:
            raise DataError(f"{source}: x_{split} has dtype {images.dtype}, expected uint8 pixels 0-255")
        if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or len(images) == 0:
            raise DataError(
                f"{source}: x_{split} has shape {images.shape}, expected (N, {IMAGE_SIZE}, {IMAGE_SIZE}) with N > 0"
            )
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(
                f"{source}: y_{split} has shape {labels.shape} and dtype {labels.dtype}, expected (N,) integers"
            )
        if len(labels) != len(images):
            raise DataError(f"{source}: {len(images)} images but {len(labels)} labels in the {split} split")
        if labels.min() < 0 or labels.max() >= NUM_CLASSES:
            raise DataError(
                f"{source}: y_{split} has labels from {labels.min()} to {labels.max()}, expected 0 to {NUM_CLASSES - 1}"
            )
        checked.append((images, labels))
    return checked[0], checked[1]
