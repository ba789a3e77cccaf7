"""`python -m mnist_cnn` and the `mnist-cnn` command: the command line, without TensorFlow's native log lines."""

import sys

from mnist_cnn.cli import main as run_command_line
from mnist_cnn.quiet import silence_native_logs


def main(argv: list[str] | None = None) -> int:
    """Run the command line with native code's log lines kept off standard error; return the exit status."""
    silence_native_logs()  # Before TensorFlow is imported, which the command does once its arguments are read.
    return run_command_line(argv)


if __name__ == "__main__":
    sys.exit(main())
