"""Write tests/data/reading-model.keras: the model the tests of reading image files score with.

Those tests compare a model's answers on files with its answers on the same digits as arrays; with a model of the
full recipe their answers hang on the reading, not on which digits a weak model happens to be unsure of (the quick
model trained in the suite changed its answers with the number of threads). Made from a run of the default recipe
on the full MNIST, its weights only, in float32 (an uncompiled copy has no optimizer to save: a third of the size):

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
