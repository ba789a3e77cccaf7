"""Saying "not a digit": how far an image's features lie from the training digits' (Sun et al., 2022, "Out-of-
distribution detection with deep nearest neighbors"), in two of the network's layers, and how little a second, small
network takes it for a digit.

A classifier of ten digits has no answer "none of these": its softmax shares all of the probability among the ten,
so a letter or a smiley gets one digit, often at over 90%. The features the network computes say more: a digit's lie
close to some training digit's, a letter's farther. Three views are looked at: the 64 features before the last layer
(what the digit is); the map of the next-to-last pooling layer, where in the image each kind of stroke lies,
projected onto its LAYOUT_SIZE main directions (a digit turned on its side has a digit's strokes, in no digit's
places); and the detector, a small network whose weights are shipped with the package, trained apart from the
classifier to tell training digits from things made to be no digit (scripts/build_detector.py). In the first two,
the distance is the cosine distance from an image's features to their NOVELTY_NEIGHBOUR-th nearest among a bank of
training digits'; in the third, how far its logit lies above the validation digits' median. Each is divided by what
VIEW_SCALE of the validation digits stay under (the detector's then weighed by DETECTOR_WEIGHT); the score is the
three added, and above the threshold (set so that VALIDATION_REFUSED of the validation digits are refused) the image
is not a digit. docs/numbers.md says how the method was chosen, and what it refuses.

The banks and threshold are kept beside the model (`model.novelty.npz`, plain arrays: nothing to unpickle); the
classifier is unchanged, and the detector's weights are plain arrays too, set into a network built here. A model
without them, or whose check was fitted with another detector than the package's (its fingerprint is kept in the
check), is judged against the package's shipped sample of training digits.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from scipy.sparse.linalg import svds

from mnist_cnn.data import Split, load_data
from mnist_cnn.files import atomic_path, read_arrays
from mnist_cnn.model import one_logit_network, predict_outputs

logger = logging.getLogger(__name__)
# Training digits whose features make the bank (more change nothing measurable: docs/numbers.md).
BANK_SIZE = 4000
# The score is the distance to this nearest neighbour in the bank: one in a thousand of its digits.
NOVELTY_NEIGHBOUR = 4
# The share of validation digits that the threshold refuses: what a user loses to be told "not a digit".
VALIDATION_REFUSED = 0.003
# The layout's features are projected onto this many main directions of the bank's (a bank of the map's 3,136 would
# weigh 25 MB).
LAYOUT_SIZE = 64
# Each view's distance is divided by the share of validation digits' distances under it, so that both weigh alike.
VIEW_SCALE = 0.99
# A model with no bank beside it is judged against the shipped sample: this many of its digits make the bank ...
SAMPLE_BANK_SIZE = 1500
# ... (and the fewer neighbours a smaller bank has), the rest set the threshold.
SAMPLE_NEIGHBOUR = 2
SUFFIX = ".novelty.npz"
# The detector, and how much its view weighs against the other two (chosen on validation digits: docs/numbers.md).
DETECTOR = Path(__file__).parent / "sample" / "detector.npz"
DETECTOR_WEIGHT = 1
# What each view weighs in the novelty: the features, the layout and the detector.
VIEW_WEIGHTS = (1, 1, DETECTOR_WEIGHT)


@dataclass
class NoveltyCheck:
    """Banks of training digits' features (unit length) in each view, the neighbour scored, the validation digits'
    median detector logit, what each view's distance is divided by, the threshold above which an image is not a
    digit, and the fingerprint of the detector it was fitted with. A check saved before the layout's view (no
    `projection`) scores the features alone; one saved before the detector's (no `detector_median`), the first two
    views."""

    bank: np.ndarray
    neighbour: int
    threshold: float
    layout_bank: np.ndarray | None = None
    projection: np.ndarray | None = None
    scales: np.ndarray = field(default_factory=lambda: np.ones(1, np.float32))
    detector_median: float | None = None
    detector_fingerprint: str | None = None

    def distances(self, views: Views) -> list[np.ndarray]:
        """Each view's distance: from an image's features to their `neighbour`-th nearest in its bank (cosine), and
        its detector logit's above the validation digits' median."""
        banked = [(unit_length(views.features), self.bank)]
        if self.projection is not None:
            banked.append((projected(views.layouts, self.projection), self.layout_bank))
        found = [1 - np.partition(seen @ bank.T, -self.neighbour, axis=1)[:, -self.neighbour] for seen, bank in banked]
        if self.detector_median is not None:
            found.append(np.maximum(views.doubts - self.detector_median, 0))
        return found

    def scores(self, views: Views) -> np.ndarray:
        """Each image's novelty: its views' distances, each divided by its scale, added."""
        return added(self.distances(views), self.scales)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the check to `path` as plain arrays, atomically."""
        banks = dict(bank=self.bank, layout_bank=self.layout_bank, projection=self.projection)
        detector = {} if self.detector_median is None else {"detector_median": self.detector_median}
        if self.detector_fingerprint is not None:
            detector["detector_fingerprint"] = np.array(self.detector_fingerprint)
        with atomic_path(path) as temporary, open(temporary, "wb") as file:
            np.savez(
                file,
                neighbour=self.neighbour,
                threshold=self.threshold,
                scales=self.scales,
                **detector,
                **{name: bank.astype(np.float16) for name, bank in banks.items() if bank is not None},
            )
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> NoveltyCheck:
        """The check saved at `path` (no pickled objects are read)."""
        with np.load(path, allow_pickle=False) as saved:
            views = {
                name: saved[name].astype(np.float32)
                for name in ("layout_bank", "projection", "scales")
                if name in saved.files
            }
            if "detector_median" in saved.files:
                views["detector_median"] = float(saved["detector_median"])
            if "detector_fingerprint" in saved.files:
                views["detector_fingerprint"] = str(saved["detector_fingerprint"])
            return cls(saved["bank"].astype(np.float32), int(saved["neighbour"]), float(saved["threshold"]), **views)


def added(distances: list[np.ndarray], scales: np.ndarray) -> np.ndarray:
    """The views' distances, each divided by its scale, added."""
    return sum(distance / scale for distance, scale in zip(distances, scales, strict=True))


def projected(layouts: np.ndarray, projection: np.ndarray) -> np.ndarray:
    """Layouts (unit length) on the projection's main directions, at unit length: what the layout bank holds."""
    return unit_length(unit_length(layouts) @ projection)


def unit_length(features: np.ndarray) -> np.ndarray:
    """Each row divided by its length (a row of zeros stays zeros)."""
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), np.finfo(np.float32).tiny)


@dataclass
class Views:
    """What the check looks at in a batch of images: the classifier's features before its last layer, its
    next-to-last pooling map (flattened) and the detector's logits."""

    features: np.ndarray
    layouts: np.ndarray
    doubts: np.ndarray


def detector_network() -> keras.Model:
    """The detector's network, untrained: from a 28x28 image to one logit (above 0, no digit)."""
    return one_logit_network((28, 28, 1), "not_a_digit")


@functools.cache
def detector() -> keras.Model:
    """The shipped detector: its network with the weights kept as plain arrays (any Keras 3 reads them; nothing to
    unpickle); made once."""
    network = detector_network()
    network.set_weights(read_arrays(DETECTOR))
    return network


@functools.cache
def detector_fingerprint() -> str:
    """A short fingerprint of the shipped detector's weights and of what its view weighs: a check fitted with others
    scores wrongly."""
    digest = hashlib.sha256(np.float32(DETECTOR_WEIGHT).tobytes())
    for weight in read_arrays(DETECTOR):
        digest.update(weight.tobytes())
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=4)
def with_features(model: keras.Model) -> keras.Model:
    """A model giving the features `model` computes before its last Dense layer (its Flatten's output), its
    next-to-last pooling layer's map (flattened), the detector's logit and the probabilities; made once a model,
    since each new one traces its predict function again."""
    flatten = next(layer for layer in model.layers if isinstance(layer, keras.layers.Flatten))
    layout = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)][-2]
    maps = keras.layers.Flatten(name="layout")(layout.output)
    return keras.Model(model.inputs, [flatten.output, maps, detector()(model.inputs[0]), model.outputs[0]])


def features_and_probabilities(both: keras.Model, images: np.ndarray) -> tuple[Views, np.ndarray]:
    """The views and probabilities of (N, 28, 28, 1) images in [0, 1] from a `with_features` model."""
    features, layouts, doubts, probabilities = (
        np.asarray(output, dtype=np.float32) for output in predict_outputs(both, images)
    )
    return Views(features, layouts, doubts[:, 0]), probabilities


@dataclass
class DigitReader:
    """A model and its novelty check: for a batch of images, the probabilities and whether each is not a digit."""

    model: keras.Model
    check: NoveltyCheck
    both: keras.Model = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.both = with_features(self.model)

    def read(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The probabilities (N, 10) and novelty scores (N,) of (N, 28, 28, 1) images."""
        views, probabilities = features_and_probabilities(self.both, images)
        return probabilities, self.check.scores(views)


def fit_novelty(
    model: keras.Model,
    bank_images: np.ndarray,
    threshold_images: np.ndarray,
    neighbour: int = NOVELTY_NEIGHBOUR,
    seed: int = 0,
    bank_size: int = BANK_SIZE,
) -> NoveltyCheck:
    """The check of `model`: banks of the features of bank_size of `bank_images` (training digits) in each view, each
    view's scale and the threshold set on `threshold_images` (validation digits, none in the bank)."""
    chosen = np.random.default_rng(seed).permutation(len(bank_images))[:bank_size]
    both = with_features(model)  # one model for both passes
    banked, _ = features_and_probabilities(both, bank_images[chosen])
    projection = main_directions(unit_length(banked.layouts), LAYOUT_SIZE)
    layout_bank = projected(banked.layouts, projection)
    views, _ = features_and_probabilities(both, threshold_images)
    features, median = unit_length(banked.features), float(np.median(views.doubts))
    check = NoveltyCheck(features, neighbour, np.inf, layout_bank, projection)
    check.detector_median, check.detector_fingerprint = median, detector_fingerprint()
    distances = check.distances(views)
    weighed = zip(distances, VIEW_WEIGHTS, strict=True)
    scales = [np.quantile(distance, VIEW_SCALE) / weight for distance, weight in weighed]
    # A view in which (too few) validation digits all lie at 0 says nothing: it is left out, not divided by 0.
    check.scales = np.array([scale if scale > 0 else np.inf for scale in scales], np.float32)
    check.threshold = float(np.quantile(added(distances, check.scales), 1 - VALIDATION_REFUSED))
    return check


def main_directions(rows: np.ndarray, count: int) -> np.ndarray:
    """The `count` directions along which `rows` vary most about the origin (the right singular vectors), as columns."""
    if count >= min(rows.shape):
        return np.linalg.svd(rows, full_matrices=False)[2][:count].T  # as many as there are
    _, values, directions = svds(rows, k=count, random_state=0)  # the few wanted, not all 3,136: several times faster
    return directions[np.argsort(values)[::-1]].T


def fit_on_run(model: keras.Model, train: Split, validation: Split | None, seed: int) -> NoveltyCheck:
    """The check of a run's model: its bank from the training digits, its threshold from the validation digits
    (with no validation split, from training digits left out of the bank)."""
    if validation is not None:
        return fit_novelty(model, train[0], validation[0], seed=seed)
    order = np.random.default_rng(seed).permutation(len(train[0]))
    bank, held_out = order[: len(order) // 2], order[len(order) // 2 :]
    return fit_novelty(model, train[0][bank], train[0][held_out], seed=seed)


def novelty_path(model_path: str | os.PathLike) -> Path:
    """Where the check of the model saved at `model_path` is kept: beside it (model.keras: model.novelty.npz)."""
    return Path(model_path).with_suffix(SUFFIX)


def novelty_for(model: keras.Model, model_path: str | os.PathLike | None) -> NoveltyCheck:
    """The check saved beside the model, or else (none there, or one fitted with another detector than the shipped
    one) one made from the shipped sample's training digits, with a note."""
    saved = None if model_path is None else novelty_path(model_path)
    if saved is not None and saved.exists():
        check = NoveltyCheck.load(saved)
        # With no fingerprint, an earlier detector's; saved before the detector, it has no detector view to mis-scale.
        if check.detector_median is None or check.detector_fingerprint == detector_fingerprint():
            return check
        logger.warning(
            f"note: {saved.name} was fitted with another detector than this package's: 'not a digit' is judged "
            "against the shipped sample's digits (train again to fit it anew)"
        )
    elif saved is not None:
        logger.warning(
            f"note: no {saved.name} beside {model_path}: 'not a digit' is judged against the "
            "shipped sample's digits (a model trained by `mnist-cnn train` has its own)"
        )
    (images, _), _ = load_data("sample")
    return fit_novelty(
        model, images[:SAMPLE_BANK_SIZE], images[SAMPLE_BANK_SIZE:], SAMPLE_NEIGHBOUR, bank_size=SAMPLE_BANK_SIZE
    )


@functools.lru_cache(maxsize=4)
def shipped_reader(model: keras.Model) -> DigitReader:
    """`model` with a novelty check made from the shipped sample, made once a model (for callers given a model
    alone)."""
    return DigitReader(model, novelty_for(model, None))


def as_reader(model: keras.Model | DigitReader) -> DigitReader:
    """A DigitReader as it is, or one for a model with a check made from the shipped sample."""
    return model if isinstance(model, DigitReader) else shipped_reader(model)
