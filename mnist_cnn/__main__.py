"""`python -m mnist_cnn` and the `mnist-cnn` command: the command line, without TensorFlow's native log lines."""

import sys

from mnist_cnn.quiet import silence_native_logs


def main() -> int:
    silence_native_logs()  # Before TensorFlow is imported, which the command line's modules do.
    from mnist_cnn.cli import main as run_command_line

    return run_command_line()


if __name__ == "__main__":
    sys.exit(main())
