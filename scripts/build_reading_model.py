"""Write tests/data/reading-model.keras: the model the tests of reading image files score with.

Those tests compare a model's answers on files with its answers on the same digits as arrays: with a model of the
full recipe those answers hang on the reading alone (tests/data/README.md says why and how it was made). Made from a
run of the default recipe on the full MNIST, its weights only, in float32 (an uncompiled copy has no optimizer),
with its novelty check beside it (reading-model.novelty.npz: the run's own, or else fitted on --data as
`mnist-cnn train` fits it):

    mnist-cnn train --recipe fast --data ../shared/data --output runs/reading-model
    python scripts/build_reading_model.py runs/reading-model/model.keras [--data ../shared/data]
"""

import argparse
import shutil
from pathlib import Path

from mnist_cnn.backend import use_backend
from mnist_cnn.config import RECIPES
from mnist_cnn.data import load_data, split_validation
from mnist_cnn.export import as_float32
from mnist_cnn.model import load_model, save_model
from mnist_cnn.novelty import fit_on_run, novelty_path

DESTINATION = Path(__file__).resolve().parent.parent / "tests" / "data" / "reading-model.keras"

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a trained run's model.keras")
    parser.add_argument("--output", type=Path, default=DESTINATION)
    parser.add_argument("--data", help="MNIST to fit the novelty check on, where the run has none beside its model")
    arguments = parser.parse_args()
    use_backend()
    model = as_float32(load_model(arguments.model))
    print(save_model(model, arguments.output))
    if novelty_path(arguments.model).exists():
        print(shutil.copyfile(novelty_path(arguments.model), novelty_path(arguments.output)))
    else:
        config = RECIPES["fast"]
        train, validation = split_validation(load_data("mnist", arguments.data)[0], config.validation_split)
        print(fit_on_run(model, train, validation, config.seed).save(novelty_path(arguments.output)))
