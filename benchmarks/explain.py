"""How faithful the occlusion maps are, on the full MNIST: the deletion test, the sanity check, the time per digit."""

import statistics
from pathlib import Path

import numpy as np

from benchmarks.common import benchmark_parser, milliseconds, write_results
from mnist_cnn import backend
from mnist_cnn.data import load_data
from mnist_cnn.explain import deletion_scores, explain, sanity_correlation
from mnist_cnn.model import load_model, predict_probabilities
from mnist_cnn.plots import plot_explanation, save_figure

EXPLAINED = 10  # digits timed


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("model", type=Path)
    parser.add_argument("--digits", type=int, default=1000)
    parser.add_argument("--sanity-digits", type=int, default=200)
    parser.add_argument("--picture", type=Path, help="save the explanation of a mistake here (a PNG)")
    args = parser.parse_args()
    model = load_model(args.model)
    _, (x_test, y_test) = load_data(args.dataset, args.data)
    images = x_test[: args.digits]
    times, scores = milliseconds(lambda i: explain(model, images[i : i + 1]), EXPLAINED), deletion_scores(model, images)
    sanity = sanity_correlation(model, images[: args.sanity_digits])
    if args.picture:  # the first test digit the model gets wrong, as `mnist-cnn predict --explain` draws it
        wrong = int(np.flatnonzero(predict_probabilities(model, x_test).argmax(axis=1) != y_test.argmax(axis=1))[0])
        title = f"test digit {wrong}, a {y_test[wrong].argmax()}"
        save_figure(plot_explanation(explain(model, x_test[wrong : wrong + 1])[0], title=title), args.picture)
    intro = f"Occlusion maps of {args.model} on the first {len(images):,} MNIST test digits, {backend.name()} backend:"
    markdown = f"""{intro}

| blanking 10% of the pixels | mean fall of the predicted digit's probability |
| --- | ---: |
| ranked highest by the map | {scores.by_map:.3f} |
| at random among the digit's ink | {scores.at_random_ink:.3f} |
| at random | {scores.at_random:.3f} |

Sanity check: rank correlation between the maps of the trained model and of the same network with fresh weights, over
the ink of {args.sanity_digits} digits: {sanity:.2f} (1 would mean the map ignores the weights).

One digit explained (its answer and runner-up maps): {statistics.median(times):.0f} ms, median of {len(times)}."""
    results = {"digits": len(images), "deletion": scores.__dict__, "sanity": sanity, "explain_ms": times}
    write_results("explain", results, markdown)


if __name__ == "__main__":
    main()
