"""Variants of a recipe scored on validation only (recipes are chosen on it, never on the test set), as JSON lines."""

import json
import time

import keras

from benchmarks.common import benchmark_parser, parse_settings
from mnist_cnn.config import Config, config_for
from mnist_cnn.data import Split, load_data, split_validation
from mnist_cnn.model import build_model
from mnist_cnn.precision import precision_policy
from mnist_cnn.train import compile_model, fit


def trained(config: Config, train: Split, validation: Split, network=build_model) -> tuple:
    """A seeded network trained as the notebook trains: the model, its history, `fit`'s seconds and the precision."""
    keras.utils.set_random_seed(config.seed)
    with precision_policy(config.precision) as precision:
        model = compile_model(network(config), config, len(train[0]))
    start = time.perf_counter()
    history = fit(model, train, config, validation=validation, verbose=0).history
    return model, history, time.perf_counter() - start, precision


def main() -> None:
    parser = benchmark_parser(__doc__, seeds=[1])
    parser.add_argument("recipe")
    parser.add_argument("--variant", action="append", default=[], help="NAME=VALUE[,NAME=VALUE...]; repeatable")
    args = parser.parse_args()
    images, _ = load_data(args.dataset, args.data)
    for variant in args.variant or [""]:
        overrides = parse_settings([pair for pair in variant.split(",") if pair])
        for seed in args.seeds:
            config = config_for(args.recipe, seed=seed, **overrides)
            _, history, train_s, precision = trained(config, *split_validation(images, config.validation_split))
            figures = {"variant": variant or "(recipe)", "seed": seed, "precision": precision}
            figures["train_s"] = round(train_s, 1)
            figures["validation_accuracy"] = [round(value, 4) for value in history["val_accuracy"]]
            print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
