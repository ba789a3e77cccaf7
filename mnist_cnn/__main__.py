"""`python -m mnist_cnn` and the `mnist-cnn` command: the command line, without TensorFlow's native log lines."""

import argparse
import sys

from mnist_cnn.backend import BACKENDS, BackendError, choose_backend
from mnist_cnn.quiet import silence_native_logs


def main(argv: list[str] | None = None) -> int:
    # The backend must be chosen before Keras is imported, which mnist_cnn.commands does once a command runs.
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--backend", choices=BACKENDS)
    known, _ = early.parse_known_args(argv)
    try:
        choose_backend(known.backend)
    except BackendError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    silence_native_logs()  # Before TensorFlow is imported.
    from mnist_cnn.cli import main as run_command_line

    return run_command_line(argv)


if __name__ == "__main__":
    sys.exit(main())
