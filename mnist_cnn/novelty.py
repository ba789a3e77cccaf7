"""Saying "not a digit": how far an image's features lie from the training digits' (Sun et al., 2022, "Out-of-
distribution detection with deep nearest neighbors").

A classifier of ten digits has no answer "none of these": its softmax shares all of the probability among the ten,
so a letter or a smiley gets one digit, often at over 90%. The 64 features the network computes before its last
layer say more: a digit's lie close to some training digit's, a letter's farther. The score of an image is the
cosine distance from its features to their NOVELTY_NEIGHBOUR-th nearest among a bank of training digits' features;
above the threshold (set so that VALIDATION_REFUSED of the validation digits are refused) it is not a digit.
docs/numbers.md says how the method was chosen, and what it refuses.

The bank and threshold are kept beside the model (`model.novelty.npz`, plain arrays: nothing to unpickle); the network
is unchanged. A model without them is judged against the package's shipped sample of training digits.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from mnist_cnn import backend
from mnist_cnn.data import Split, load_data
from mnist_cnn.files import atomic_path
from mnist_cnn.model import INFERENCE_BATCH

logger = logging.getLogger(__name__)
# Training digits whose features make the bank (more change nothing measurable: docs/numbers.md).
BANK_SIZE = 4000
# The score is the distance to this nearest neighbour in the bank: one in a thousand of its digits.
NOVELTY_NEIGHBOUR = 4
# The share of validation digits that the threshold refuses: what a user loses to be told "not a digit".
VALIDATION_REFUSED = 0.003
# A model with no bank beside it is judged against the shipped sample: this many of its digits make the bank ...
SAMPLE_BANK_SIZE = 1500
# ... (and the fewer neighbours a smaller bank has), the rest set the threshold.
SAMPLE_NEIGHBOUR = 2
SUFFIX = ".novelty.npz"


@dataclass
class NoveltyCheck:
    """A bank of training digits' features (unit length), the neighbour scored, and the threshold above which an
    image is not a digit."""

    bank: np.ndarray
    neighbour: int
    threshold: float

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Each image's novelty: the cosine distance from its features to their `neighbour`-th nearest in the bank."""
        similarities = unit_length(features) @ self.bank.T
        return 1 - np.partition(similarities, -self.neighbour, axis=1)[:, -self.neighbour]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the check to `path` as plain arrays, atomically."""
        with atomic_path(path) as temporary, open(temporary, "wb") as file:
            np.savez(file, bank=self.bank.astype(np.float16), neighbour=self.neighbour, threshold=self.threshold)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> NoveltyCheck:
        """The check saved at `path` (no pickled objects are read)."""
        with np.load(path, allow_pickle=False) as saved:
            return cls(saved["bank"].astype(np.float32), int(saved["neighbour"]), float(saved["threshold"]))


def unit_length(features: np.ndarray) -> np.ndarray:
    """Each row divided by its length (a row of zeros stays zeros)."""
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), np.finfo(np.float32).tiny)


def with_features(model: keras.Model) -> keras.Model:
    """A model giving the features `model` computes before its last Dense layer (its Flatten's output) and its
    probabilities."""
    flatten = next(layer for layer in model.layers if isinstance(layer, keras.layers.Flatten))
    return keras.Model(model.inputs, [flatten.output, model.outputs[0]])


def features_and_probabilities(both: keras.Model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The features and probabilities of (N, 28, 28, 1) images in [0, 1] from a `with_features` model (up to one
    batch through `predict_on_batch`, as model.predict_probabilities does)."""
    if len(images) <= INFERENCE_BATCH and backend.predicts_on_batch_correctly(both):
        outputs = both.predict_on_batch(images)
    else:
        outputs = both.predict(images, batch_size=INFERENCE_BATCH, verbose=0)
    return tuple(np.asarray(keras.ops.convert_to_numpy(output), dtype=np.float32) for output in outputs)


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
        found, probabilities = features_and_probabilities(self.both, images)
        return probabilities, self.check.scores(found)


def fit_novelty(
    model: keras.Model,
    bank_images: np.ndarray,
    threshold_images: np.ndarray,
    neighbour: int = NOVELTY_NEIGHBOUR,
    seed: int = 0,
    bank_size: int = BANK_SIZE,
) -> NoveltyCheck:
    """The check of `model`: a bank of the features of bank_size of `bank_images` (training digits), its threshold
    refusing VALIDATION_REFUSED of `threshold_images` (validation digits, none in the bank)."""
    chosen = np.random.default_rng(seed).permutation(len(bank_images))[:bank_size]
    both = with_features(model)  # one model for both passes
    bank = unit_length(features_and_probabilities(both, bank_images[chosen])[0])
    check = NoveltyCheck(bank, neighbour, threshold=np.inf)
    threshold_scores = check.scores(features_and_probabilities(both, threshold_images)[0])
    check.threshold = float(np.quantile(threshold_scores, 1 - VALIDATION_REFUSED))
    return check


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
    """The check saved beside the model, or else one made from the shipped sample's training digits (with a note)."""
    if model_path is not None and novelty_path(model_path).exists():
        return NoveltyCheck.load(novelty_path(model_path))
    if model_path is not None:
        logger.warning(
            f"note: no {novelty_path(model_path).name} beside {model_path}: 'not a digit' is judged against the "
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
