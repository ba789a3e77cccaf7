"""Write tests/data/reading-model.keras: the model the tests of reading image files score with.

Those tests compare a model's answers on files with its answers on the same digits as arrays: with a model of the
full recipe those answers hang on the reading alone (tests/data/README.md says why and how it was made). Made from a
run of the default recipe on the full MNIST, its weights only, in float32 (an uncompiled copy has no optimizer):

    mnist-cnn train --recipe fast --data ../shared/data --output runs/reading-model
    python scripts/build_reading_model.py runs/reading-model/model.keras
"""

import argparse
from pathlib import Path

from mnist_cnn.export import as_float32
from mnist_cnn.model import load_model, save_model

DESTINATION = Path(__file__).resolve().parent.parent / "tests" / "data" / "reading-model.keras"

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a trained run's model.keras")
    parser.add_argument("--output", type=Path, default=DESTINATION)
    arguments = parser.parse_args()
    print(save_model(as_float32(load_model(arguments.model)), arguments.output))
