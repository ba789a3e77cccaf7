"""Writing files so that an interrupted run or a full disk never leaves half a file behind."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write to; on success it is renamed to `path`, on failure removed.

    The temporary name keeps the suffix, so that Keras and matplotlib still know the format from it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, data: object) -> Path:
    """Write `data` as indented JSON, atomically; return the path."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2) + "\n")
    return Path(path)
