"""The recipe search: variants of a recipe trained on the training images alone and scored on validation only.

    python -m benchmarks.search fast --data ../shared/data --seeds 1 2 --variant epochs=2 --variant learning_rate=0.01

One JSON line a variant and seed: the validation accuracy after each epoch and the training time. The test images
are never loaded: recipes are chosen on these figures.
"""

import argparse
import json
import time

from benchmarks.common import parse_settings
from mnist_cnn.config import config_for
from mnist_cnn.data import load_raw, preprocess, split_validation
from mnist_cnn.model import build_model
from mnist_cnn.precision import set_precision
from mnist_cnn.train import compile_model, fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data", help="a data path, as mnist-cnn train --data")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--variant", action="append", default=[], help="NAME=VALUE[,NAME=VALUE...]; repeatable")
    args = parser.parse_args()

    train_raw, _ = load_raw(args.dataset, args.data)
    for variant in args.variant or [""]:
        overrides = parse_settings([pair for pair in variant.split(",") if pair])
        for seed in args.seeds:
            config = config_for(args.recipe, seed=seed, **overrides)
            train, validation = split_validation(preprocess(*train_raw), config.validation_split)
            precision = set_precision(config.precision)
            model = compile_model(build_model(config), config, len(train[0]))
            start = time.perf_counter()
            history = fit(model, train, config, validation=validation, verbose=0)
            figures = {"variant": variant or "(recipe)", "seed": seed, "precision": precision}
            figures["train_s"] = round(time.perf_counter() - start, 1)
            figures["validation_accuracy"] = [round(value, 4) for value in history.history["val_accuracy"]]
            print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
