"""The notebook's exercises, each trained as the notebook trains, in one process (so times compare); validation only."""

import statistics

import keras

from benchmarks.common import benchmark_parser, table, write_results
from benchmarks.search import trained
from mnist_cnn.config import Config, config_for
from mnist_cnn.data import Split, load_data, split_validation
from mnist_cnn.model import INPUT_SHAPE, MODEL_NAME, build_model
from mnist_cnn.train import steps_per_epoch

FEW_DIGITS = 1000  # the training digits of exercise 4
EXERCISES = ("as-is", "no-first-pooling", "dropout-0.5", "dropout-0", "half-filters", "1000-digits", "augmentation")
# Changes to the recipe; no-first-pooling and augmentation change the network, 1000-digits the data (below).
SETTINGS = {"dropout-0.5": {"dropout": 0.5}, "dropout-0": {"dropout": 0.0}, "half-filters": {"filters": 32}}


def network(config: Config, name: str) -> keras.Sequential:
    """The library's network (`build_model`), or exercise 1's or 5's network: fresh copies of its layers, changed."""
    model = build_model(config)
    if name == "no-first-pooling":  # exercise 1: the second convolution sees 28x28 images
        first_pooling = next(layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D))
        layers = [layer for layer in model.layers if layer is not first_pooling]
    elif name == "augmentation":  # exercise 5: random shifts (10% of the side) and turns (0.03 of a turn) first
        fill = {"fill_mode": "constant"}
        layers = [keras.layers.RandomTranslation(0.1, 0.1, **fill), keras.layers.RandomRotation(0.03, **fill)]
        layers += model.layers
    else:
        return model
    copies = [type(layer).from_config(layer.get_config()) for layer in layers]  # the originals fit other shapes
    return keras.Sequential([keras.Input(shape=INPUT_SHAPE), *copies], name=MODEL_NAME)


def run_exercise(name: str, recipe: str, seed: int, train: Split, validation: Split) -> dict:
    """Train the exercise's network once, as the notebook does; its validation scores and training time."""
    config = config_for(recipe, seed=seed, **SETTINGS.get(name, {}))
    if name == "1000-digits":  # exercise 4: the first 1,000 training digits, for as many optimizer steps as all
        steps = steps_per_epoch(config, len(train[0])) * config.epochs
        config = config.replace(epochs=steps // steps_per_epoch(config, FEW_DIGITS))
        train = (train[0][:FEW_DIGITS], train[1][:FEW_DIGITS])
    model, history, train_s, _ = trained(config, train, validation, lambda config: network(config, name))
    epochs = {f"{key}_epoch_{index}": history[key][index] for key in ("accuracy", "val_accuracy") for index in (0, -1)}
    return {"weights": model.count_params(), "epochs": config.epochs, "train_s": train_s, **epochs}


def summary(name: str, runs: list[dict], as_is: list[dict]) -> dict:
    """An exercise's runs over the seeds: the mean and spread of its validation accuracy, its time ratio."""
    accuracies = [run["val_accuracy_epoch_-1"] for run in runs]
    ratios = [run["train_s"] / base["train_s"] for run, base in zip(runs, as_is, strict=True)]
    spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    return {"exercise": name, "weights": runs[0]["weights"], "val_accuracy_mean": statistics.mean(accuracies),
            "val_accuracy_sd": spread, "time_ratio": statistics.median(ratios), "runs": runs}  # fmt: skip


def main() -> None:
    parser = benchmark_parser(__doc__, seeds=[1, 2, 3])
    parser.add_argument("--recipe", default="fast")
    args = parser.parse_args()
    train, _ = load_data(args.dataset, args.data)  # the test images stay unscored
    train, validation = split_validation(train, config_for(args.recipe).validation_split)
    runs = {name: [] for name in EXERCISES}
    for seed in args.seeds:  # seeds outermost: a change in the machine's load touches every exercise alike
        for name in EXERCISES:
            runs[name].append({"seed": seed, **run_exercise(name, args.recipe, seed, train, validation)})
            print(name, runs[name][-1], flush=True)
    results = [summary(name, runs[name], runs["as-is"]) for name in EXERCISES]
    header = ["exercise", "weights", "training time, against as-is", "validation accuracy"]
    accuracy = "{val_accuracy_mean:.2%} ± {val_accuracy_sd:.2%}".format
    rows = [[r["exercise"], f"{r['weights']:,}", f"{r['time_ratio']:.2f}x", accuracy(**r)] for r in results]
    as_is_s = statistics.median(run["train_s"] for run in runs["as-is"])
    markdown = "\n".join([*table(header, rows), "", f"as-is trained in {as_is_s:.0f} s (median); seeds {args.seeds}."])
    write_results("exercises", {"recipe": args.recipe, "seeds": args.seeds, "exercises": results}, markdown)


if __name__ == "__main__":
    main()
