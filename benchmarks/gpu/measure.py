"""One GPU measurement of one runner, in a process of its own: steady training speed, time to a test accuracy from a
cold or a warm process, and final accuracy. Prints one JSON object.

    python benchmarks/gpu/measure.py RUNNER --data DIR [--epochs N] [--target 0.99] [--set NAME=VALUE ...] [--quick]

RUNNER is `package-RECIPE` (this package: package-seed, package-fast, package-gpu), `seed-code` (the seed notebook's
code), on the Keras backend KERAS_BACKEND names; `torch-peer` (plain PyTorch as pytorch/examples trains: each batch
copied to the GPU) or `torch-compiled` (the ceiling: data on the GPU, bfloat16, channels-last, torch.compile, batch
4,096). `--set batch_size=1000` changes one setting of a package recipe. The clock starts once the backend has
set up its device (as the import and device listing of a run do) and runs through building, compiling and training;
it stops while test accuracy is measured after each epoch. Training stops once it reaches the target, after two
epochs at least.
`--quick` trains a few steps on the shipped sample, to check the script on a CPU.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from recipes import parse_overrides  # noqa: E402


def keras_curve(
    runner: str, train, test, epochs: int, target: float, quick: bool, settings: dict | None = None
) -> list[dict]:
    """Per epoch: training time so far (s) and test accuracy, for a Keras runner."""
    import keras

    from mnist_cnn.config import config_for
    from mnist_cnn.data import preprocess
    from mnist_cnn.model import predict_probabilities

    (x_train, y_train), (x_test, y_test) = preprocess(*train), preprocess(*test)
    labels = test[1]
    points: list[dict] = []
    keras.ops.convert_to_numpy(keras.ops.zeros(1))  # the device set up before the clock starts

    class Curve(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.paused = 0.0

        def on_epoch_end(self, epoch, logs=None):
            stopped = time.perf_counter()
            accuracy = float((predict_probabilities(self.model, x_test).argmax(axis=1) == labels).mean())
            points.append({"train_s": stopped - start - self.paused, "test_accuracy": accuracy})
            self.paused += time.perf_counter() - stopped
            if accuracy >= target and len(points) >= 2:  # two epochs at least, for a steady rate
                self.model.stop_training = True

    start = time.perf_counter()
    steps = {"steps_per_epoch": 3} if quick else {}
    if runner == "seed-code":
        import seed_notebook

        model = seed_notebook.define_model(10, 28)
        model.fit(x_train, y_train, epochs=epochs, batch_size=seed_notebook.batch_size, verbose=0,
                  callbacks=[Curve()], **steps)  # fmt: skip
        return points
    from mnist_cnn.train import train_and_evaluate

    recipe = runner.removeprefix("package-")
    settings = {"epochs": epochs or config_for(recipe).epochs, "calibrate": False, **steps, **(settings or {})}
    config = config_for(recipe, **settings)
    train_and_evaluate(config, ((x_train, y_train), (x_test, y_test)), verbose=0, callbacks=[Curve()])
    return points


def torch_curve(runner: str, train, test, epochs: int, target: float, quick: bool) -> list[dict]:
    """Per epoch: training time so far (s) and test accuracy, for a PyTorch runner."""
    import torch

    from torch_peer import build_network

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.zeros(1, device=device)  # the device found before the clock starts
    start = time.perf_counter()
    torch.manual_seed(42)
    network = build_network().to(device)
    compiled = runner == "torch-compiled"
    batch_size = 4096 if compiled else 128
    rate = 0.004 if compiled else 0.001  # the peak rate scaled with the batch
    if compiled:
        network = network.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(network.parameters(), lr=rate)
    step_network = torch.compile(network) if compiled else network
    images = torch.from_numpy(train[0].astype(np.float32) / 255).unsqueeze(1)
    labels = torch.from_numpy(train[1].astype(np.int64))
    test_images = torch.from_numpy(test[0].astype(np.float32) / 255).unsqueeze(1).to(device)
    if compiled:  # the whole training set on the GPU once
        images, labels = images.to(device), labels.to(device)
    points = []
    paused = 0.0
    for _ in range(epochs):
        network.train()
        order = torch.randperm(len(images), device=images.device)
        batches = range(0, 3 * batch_size if quick else len(images), batch_size)
        for first in batches:
            chosen = order[first : first + batch_size]
            x, y = images[chosen].to(device, non_blocking=True), labels[chosen].to(device, non_blocking=True)
            with torch.autocast(device, dtype=torch.bfloat16, enabled=compiled):
                loss = torch.nn.functional.cross_entropy(step_network(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        stopped = time.perf_counter()
        network.eval()
        with torch.no_grad():
            predicted = torch.cat(
                [network(test_images[i : i + 4096]).argmax(1) for i in range(0, len(test_images), 4096)]
            )
        accuracy = float((predicted.cpu().numpy() == test[1]).mean())
        points.append({"train_s": stopped - start - paused, "test_accuracy": accuracy})
        paused += time.perf_counter() - stopped
        if accuracy >= target and len(points) >= 2:
            break
    return points


def summary(points: list[dict], train_images: int, target: float) -> dict:
    """Time to the target, steady images/s (the median over the epochs after the first), final accuracy."""
    durations = [later["train_s"] - earlier["train_s"] for earlier, later in zip(points, points[1:], strict=False)]
    return {
        "epochs": len(points),
        "first_epoch_s": points[0]["train_s"],
        "time_to_target_s": next((point["train_s"] for point in points if point["test_accuracy"] >= target), None),
        "steady_images_per_s": train_images / statistics.median(durations) if durations else None,
        "final_accuracy": points[-1]["test_accuracy"],
        "curve": points,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runner")
    parser.add_argument("--data", help="MNIST: a folder of the four IDX files or an .npz (default: the sample)")
    parser.add_argument("--epochs", type=int, default=0, help="0: the recipe's (10 for the peers)")
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--quick", action="store_true", help="a few steps on the shipped sample (a CPU check)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a recipe's setting")
    args = parser.parse_args()
    settings = parse_overrides(args.set)

    from mnist_cnn.config import config_for
    from mnist_cnn.data import load_raw

    train, test = load_raw("sample" if args.quick or not args.data else "mnist", None if args.quick else args.data)
    epochs = args.epochs or (0 if args.runner.startswith("package-") else 10)
    if args.runner.startswith("torch-"):
        points = torch_curve(args.runner, train, test, epochs, args.target, args.quick)
        train_images = len(train[0])
    else:
        points = keras_curve(args.runner, train, test, epochs, args.target, args.quick, settings)
        split = config_for(args.runner.removeprefix("package-")).validation_split if "package" in args.runner else 0
        train_images = round(len(train[0]) * (1 - split))
    if args.quick:  # three batches an epoch
        if args.runner.startswith("package-"):
            batch_size = config_for(args.runner.removeprefix("package-"), **settings).batch_size
        else:
            batch_size = 4096 if args.runner == "torch-compiled" else 128
        train_images = 3 * batch_size
    print(json.dumps({"runner": args.runner, "settings": settings, **summary(points, train_images, args.target)}))


if __name__ == "__main__":
    main()
