"""How faithful the occlusion maps are, on the full MNIST: the deletion test and the sanity check.

    python benchmarks/explain.py runs/mnist-fast/model.keras --data ../shared/data [--digits 1000] [--picture PATH]

Deletion: over the first --digits test digits, the mean fall in the predicted digit's probability when the 10% of
pixels each map ranks highest are blanked, against 10% blanked at random (among all pixels, and among the digit's
ink). Sanity (Adebayo et al., 2018): the mean rank correlation, over the ink, between the maps of the trained model
and of the same network with re-initialised weights. Also the time to explain one digit. Results go to
benchmarks/results/explain.json and .md, and the Markdown is printed; --picture saves the explanation of a test digit
the model gets wrong, as `mnist-cnn predict --explain` draws it.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from mnist_cnn import backend
from mnist_cnn.data import load_data
from mnist_cnn.explain import deletion_scores, explain, sanity_correlation
from mnist_cnn.model import load_model, predict_probabilities
from mnist_cnn.plots import plot_explanation, save_figure

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", help="a data path, as mnist-cnn train --data")
    parser.add_argument("--digits", type=int, default=1000)
    parser.add_argument("--sanity-digits", type=int, default=200)
    parser.add_argument("--picture", type=Path, help="save the explanation of a mistake here (a PNG)")
    args = parser.parse_args()
    model = load_model(args.model)
    _, (x_test, y_test) = load_data("mnist", args.data)
    images = x_test[: args.digits]

    explain(model, images[:1])  # compiles the forward pass for the occluded batch
    times = []
    for index in range(10):
        start = time.perf_counter()
        explain(model, images[index : index + 1])
        times.append(time.perf_counter() - start)
    scores = deletion_scores(model, images)
    sanity = sanity_correlation(model, images[: args.sanity_digits])
    table = "\n".join(
        [
            f"Occlusion maps of {args.model} on the first {len(images):,} MNIST test digits, {backend.name()} backend:",
            "",
            "| blanking 10% of the pixels | mean fall of the predicted digit's probability |",
            "| --- | ---: |",
            f"| ranked highest by the map | {scores.by_map:.3f} |",
            f"| at random among the digit's ink | {scores.at_random_ink:.3f} |",
            f"| at random | {scores.at_random:.3f} |",
            "",
            f"Sanity check: rank correlation between the maps of the trained model and of the same network with fresh"
            f" weights, over the ink of {args.sanity_digits} digits: {sanity:.2f} (1 would mean the map ignores the"
            " weights).",
            "",
            f"One digit explained (its answer and runner-up maps): {1000 * statistics.median(times):.0f} ms, median of"
            " 10, on this CPU.",
            "",
        ]
    )
    if args.picture:
        predicted = predict_probabilities(model, x_test).argmax(axis=1)
        wrong = int(np.flatnonzero(predicted != y_test.argmax(axis=1))[0])
        title = f"test digit {wrong}, a {y_test[wrong].argmax()}"
        save_figure(plot_explanation(explain(model, x_test[wrong : wrong + 1])[0], title=title), args.picture)
    results = {"digits": len(images), "deletion": scores.__dict__, "sanity": sanity, "explain_ms": times}
    sys.path.insert(0, str(HERE))
    from run_all import write_results

    write_results("explain", results, table)


if __name__ == "__main__":
    main()
