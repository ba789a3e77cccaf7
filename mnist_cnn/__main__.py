"""`python -m mnist_cnn` runs the command line."""

import sys

from mnist_cnn.cli import main

sys.exit(main())
