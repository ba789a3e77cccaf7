"""Keeping TensorFlow's native log lines off the terminal.

TensorFlow's C++ core logs through Abseil, which writes every line logged before `absl::InitializeLog()` to the
process's standard error whatever `TF_CPP_MIN_LOG_LEVEL` says ("WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR", oneDNN, CUDA probing, CPU instructions). So the only
reliable silencer is at the file-descriptor level: native code's standard error goes to /dev/null, and Python's
own `sys.stderr` (our messages, warnings and tracebacks) keeps writing where standard error went before.
Set MNIST_CNN_DEBUG=1 to see everything.
"""

from __future__ import annotations

import io
import logging
import os
import sys

DEBUG_VARIABLE = "MNIST_CNN_DEBUG"
STDERR_FD = 2


def debugging() -> bool:
    """Whether MNIST_CNN_DEBUG asks to see native logs and full tracebacks."""
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def below_error(record: logging.LogRecord) -> bool:
    """A logging filter that keeps errors only."""
    return record.levelno >= logging.ERROR


def silence_native_logs() -> bool:
    """Send what native code writes to standard error to /dev/null, from now on; Python's own lines still show.

    Call it before TensorFlow is imported. Does nothing (and returns False) when debugging.
    """
    if debugging():
        return False
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # Also quiets the lines logged after Abseil's start.
    # TensorFlow's Python-side notes, such as retracing warnings. A filter, not only a level: in a Jupyter kernel the
    # level is reset when TensorFlow first configures its logger, a filter stays.
    tensorflow_logger = logging.getLogger("tensorflow")
    tensorflow_logger.setLevel(logging.ERROR)
    if below_error not in tensorflow_logger.filters:
        tensorflow_logger.addFilter(below_error)
    try:
        python_writes_to_fd = sys.stderr.fileno() == STDERR_FD
    except (AttributeError, OSError, io.UnsupportedOperation):  # Jupyter's sys.stderr is no file.
        python_writes_to_fd = False
    if python_writes_to_fd:
        sys.stderr.flush()
        sys.stderr = open(  # noqa: SIM115 - it lives as long as the process, as sys.stderr did.
            os.dup(STDERR_FD), "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace"
        )
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, STDERR_FD)
    os.close(devnull)
    return True
