"""Ctrl-C and SIGTERM stop a run the same way: each raises a KeyboardInterrupt, `Terminated` for SIGTERM.

SIGTERM is what `kill`, `docker stop`, systemd and batch schedulers send before they kill a process outright. Python
dies of it at once, wherever it is; here it raises `Terminated` instead, so that it stops a run as Ctrl-C does: at a
safe point (see `mnist_cnn.train.InterruptibleTraining`), saying how to resume.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

# A shell's exit status for a process that SIGTERM ended (128 + 15).
TERMINATED_STATUS = 128 + signal.SIGTERM
# The signals that stop a run: Ctrl-C's, and the one that `kill` and schedulers send.
STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM)

Handler = Callable[[int, object], None]


class Terminated(KeyboardInterrupt):
    """SIGTERM asked the process to stop: handled as Ctrl-C (code that catches KeyboardInterrupt catches it too)."""


def interruption(signal_number: int) -> KeyboardInterrupt:
    """The exception that the stopping signal `signal_number` raises: KeyboardInterrupt, or Terminated for SIGTERM."""
    if signal_number == signal.SIGTERM:
        return Terminated(f"stopped by {signal.Signals(signal_number).name}")
    return KeyboardInterrupt()


def raise_interruption(signal_number: int, frame: object) -> None:
    """A signal handler: raise the stopping signal's exception at once."""
    raise interruption(signal_number)


def handle_signals(handler: Handler, signals: tuple[int, ...] = STOPPING_SIGNALS) -> dict[int, object]:
    """Make `handler` handle `signals`, in the main thread only (Python allows no other); return the handlers it
    replaced, for `restore_signals`."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {number: signal.signal(number, handler) for number in signals}


def restore_signals(previous: dict[int, object]) -> None:
    """Give each signal back the handler `handle_signals` replaced (the system's default where Python set none)."""
    for number, handler in previous.items():
        signal.signal(number, signal.SIG_DFL if handler is None else handler)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises Terminated, as Ctrl-C raises KeyboardInterrupt."""
    previous = handle_signals(raise_interruption, (signal.SIGTERM,))
    try:
        yield
    finally:
        restore_signals(previous)
