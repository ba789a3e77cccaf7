"""Fitting the "not a digit" check, as every training run does once it has trained (mnist_cnn.novelty.fit_novelty):
the library's way, the layout's main directions found by ARPACK (SciPy's svds), against its peer, the full SVD it
replaced. Seconds a fit, median of --repeats fits taken by turns, and the largest difference in the novelty scores of
MNIST's test digits and their threshold."""

import statistics
import time
from unittest import mock

import numpy as np

from benchmarks.common import ROOT, benchmark_parser, rotated, shown, table, write_results
from mnist_cnn import novelty
from mnist_cnn.data import load_data, split_validation
from mnist_cnn.model import load_model
from mnist_cnn.tune import MNIST_VALIDATION_SHARE


def full_svd(rows: np.ndarray, count: int) -> np.ndarray:
    """The peer: every right singular vector worked out, the first `count` kept (the library's way before)."""
    return np.linalg.svd(rows, full_matrices=False)[2][:count].T


WAYS = {"svds (the library's)": novelty.main_directions, "full SVD (before)": full_svd}


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--model", default=ROOT / "tests" / "data" / "reading-model.keras", help="the model fitted")
    parser.add_argument("--repeats", type=int, default=3, help="fits of each way (%(default)s)")
    args = parser.parse_args()
    train, test = load_data(args.dataset, args.data)
    learn, validation = split_validation(train, MNIST_VALIDATION_SHARE)
    model = load_model(args.model)
    novelty.fit_novelty(model, learn[0][:100], validation[0][:100])  # compiles the feature model once, untimed
    times, checks = {way: [] for way in WAYS}, {}
    for round_number in range(args.repeats):
        for way in rotated(list(WAYS), round_number):
            started = time.perf_counter()
            with mock.patch.object(novelty, "main_directions", WAYS[way]):
                checks[way] = novelty.fit_novelty(model, learn[0], validation[0])
            times[way].append(time.perf_counter() - started)
    both = novelty.with_features(model)
    views, _ = novelty.features_and_probabilities(both, test[0])
    ours, peer = (checks[way] for way in WAYS)
    score_gap = float(np.abs(ours.scores(views) - peer.scores(views)).max())
    medians = {way: statistics.median(values) for way, values in times.items()}
    rows = [[way, f"{medians[way]:.1f}", ", ".join(f"{value:.1f}" for value in times[way])] for way in WAYS]
    ratio = medians["full SVD (before)"] / medians["svds (the library's)"]
    bank = min(novelty.BANK_SIZE, len(learn[0]))
    results = {"model": shown(args.model), "bank": bank, "seconds": times, "ratio": ratio}
    results |= {"largest_score_gap": score_gap, "thresholds": [ours.threshold, peer.threshold]}
    markdown = "\n".join(
        [
            f'Fitting the "not a digit" check of `{shown(args.model)}` on {args.dataset}: a bank of'
            f" {bank:,} training digits, the threshold from {len(validation[0]):,} validation digits."
            " Seconds a fit:",
            "",
            *table(["way", "median (s)", "each (s)"], rows),
            "",
            f"- The library's is {ratio:.1f} times as fast as the full SVD.",
            f"- Largest difference in the novelty scores of the {len(test[0]):,} test digits: {score_gap:.1e};"
            f" thresholds {ours.threshold:.4f} and {peer.threshold:.4f}.",
        ]
    )
    write_results("novelty-fit", results, markdown)


if __name__ == "__main__":
    main()
