"""Writing files so that an interrupted run or a full disk never leaves half a file behind."""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write a file or a folder to; on success it is renamed to `path`
    (replacing what was there), on failure removed.

    The temporary name keeps the suffixes, so that Keras and matplotlib still know the format from it
    (`latest.weights.h5` is written as `.latest.partial.weights.h5`). An OSError that names no file, or the temporary
    one (h5py's on a full disk, say), is raised again naming `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffixes = "".join(path.suffixes)
    temporary = path.with_name(f".{path.name.removesuffix(suffixes)}.partial{suffixes}")
    remove(temporary)  # left by a process that was killed
    try:
        yield temporary
        if temporary.is_dir():  # a folder cannot be renamed over a folder
            remove(path)
        os.replace(temporary, path)
    except OSError as error:
        remove(temporary)
        if error.filename in (None, str(temporary)):
            raise naming(error, path) from error
        raise
    except BaseException:
        remove(temporary)
        raise


@contextmanager
def locked_folder(folder: Path, wait: bool = False) -> Iterator[None]:
    """Hold `folder` (made where there is none) for this process while the block runs; BlockingIOError where another
    process holds it, or, with `wait`, once that process lets it go. The lock is the operating system's (flock on the
    folder itself): it goes with the process, so a killed process never leaves it stuck. Where there is no flock
    (Windows), nothing is locked."""
    folder.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def naming(error: OSError, path: str | os.PathLike) -> OSError:
    """`error` as an OSError that names `path`: h5py's, on a full disk, name no file or a temporary one."""
    return OSError(error.errno, error.strerror or str(error), str(path))


def remove(path: Path) -> None:
    """Remove a file or a whole folder, if there is one."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def write_arrays(path: str | os.PathLike, arrays: list[np.ndarray]) -> Path:
    """Write arrays (a network's weights) to an .npz file as plain arrays, in order, atomically; return the path."""
    with atomic_path(path) as temporary, open(temporary, "wb") as file:
        np.savez(file, **{f"weight_{index}": array for index, array in enumerate(arrays)})
    return Path(path)


def read_arrays(path: str | os.PathLike) -> list[np.ndarray]:
    """The arrays write_arrays wrote to `path`, in order (nothing pickled is read)."""
    with np.load(path, allow_pickle=False) as saved:
        return [saved[f"weight_{index}"] for index in range(len(saved.files))]


def write_json(path: str | os.PathLike, data: object) -> Path:
    """Write `data` as indented JSON, atomically; return the path. NaN and infinities, which JSON has no words for,
    are written as null."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(finite_or_none(data), indent=2, allow_nan=False) + "\n")
    return Path(path)


def finite_or_none(data: object) -> object:
    """`data` with every float that is not finite replaced by None, through dicts, lists and tuples."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite_or_none(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [finite_or_none(value) for value in data]
    return data
