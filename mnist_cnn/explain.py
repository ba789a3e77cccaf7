"""Why this digit? Which pixels made the network answer as it did, by occlusion.

The map of a digit for a class says, for each pixel, how much the model's probability of that class falls when a small
square around the pixel is blanked (set to black, MNIST's background), averaged over the squares that cover it:
positive where the ink there speaks for the class, negative where it speaks against it.

Why occlusion (Zeiler and Fergus, 2014) rather than gradients (saliency, integrated gradients): it asks the model
itself what happens without a part of the digit, so a map says something true about the model by construction; it
needs forward passes only, so it is the same code on TensorFlow, JAX and PyTorch; and on 28x28 digits it is cheap:
169 squares of 4x4 pixels, moved 2 pixels at a time, are one batch of 169 images.
`deletion_scores` and `sanity_correlation` test that a map is faithful (see the README's figures).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from scipy import stats

from mnist_cnn.model import predict_probabilities

# The side of the square blanked, in pixels: about a stroke's width in MNIST.
PATCH = 4
# How far the square moves each time, in pixels: half its side, so that each pixel is covered by four squares.
STRIDE = 2
# The share of pixels blanked by the deletion test.
DELETED_SHARE = 0.1


def occluded_copies(image: np.ndarray, patch: int = PATCH, stride: int = STRIDE) -> tuple[np.ndarray, np.ndarray]:
    """`(copies, masks)`: the (28, 28, 1) image with each patch x patch square blanked in turn, and for each copy the
    (28, 28) mask of the square blanked."""
    size = image.shape[0]
    starts = range(0, size - patch + 1, stride)
    masks = np.zeros((len(starts) ** 2, size, size), bool)
    for index, (top, left) in enumerate((top, left) for top in starts for left in starts):
        masks[index, top : top + patch, left : left + patch] = True
    copies = np.where(masks[..., np.newaxis], 0.0, image[np.newaxis]).astype(np.float32)
    return copies, masks


def occlusion_maps(
    model: keras.Model, images: np.ndarray, classes: np.ndarray | None = None, patch: int = PATCH, stride: int = STRIDE
) -> np.ndarray:
    """The occlusion maps of the (N, 28, 28, 1) images: for each image and class, the fall in that class's probability
    when a square around each pixel is blanked. `classes` (N,) gives one class an image, and maps (N, 28, 28); (N, K)
    gives K, and maps (N, K, 28, 28); by default, the class the model predicts. One pass over all the squares serves
    every class."""
    probabilities = predict_probabilities(model, images)
    classes = probabilities.argmax(axis=1) if classes is None else np.asarray(classes)
    copies, masks = zip(*(occluded_copies(image, patch, stride) for image in images), strict=True)
    occluded = predict_probabilities(model, np.concatenate(copies)).reshape(len(images), len(masks[0]), -1)
    masks = masks[0]  # the same squares for every image
    falls = probabilities[:, np.newaxis, :] - occluded  # (N, squares, 10)
    chosen = np.take_along_axis(falls, classes.reshape(len(images), 1, -1), axis=2)  # (N, squares, K)
    maps = np.einsum("nsk,shw->nkhw", chosen, masks) / np.maximum(masks.sum(axis=0), 1)
    return maps.reshape(*classes.shape, *masks.shape[1:]).astype(np.float32)


@dataclass
class Explanation:
    """A digit, what the model answered, and the maps of its two most likely classes."""

    image: np.ndarray  # (28, 28, 1), the digit as the model saw it
    probabilities: np.ndarray  # (10,)
    top_classes: tuple[int, int]  # the predicted digit and the runner-up
    maps: np.ndarray  # (2, 28, 28): the map of each of top_classes


def explain(model: keras.Model, images: np.ndarray) -> list[Explanation]:
    """For each (28, 28, 1) image: the model's answer and the occlusion maps of its predicted digit and runner-up."""
    probabilities = predict_probabilities(model, images)
    ranked = np.argsort(-probabilities, axis=1)[:, :2]
    maps = occlusion_maps(model, images, ranked)
    return [
        Explanation(image, row, (int(first), int(second)), pair)
        for image, row, (first, second), pair in zip(images, probabilities, ranked, maps, strict=True)
    ]


def deleted(images: np.ndarray, rankings: np.ndarray, share: float = DELETED_SHARE) -> np.ndarray:
    """The images with the `share` of pixels ranked highest by `rankings` (N, 28, 28) blanked."""
    count = round(share * rankings[0].size)
    flat = rankings.reshape(len(rankings), -1)
    top = np.argsort(-flat, axis=1, kind="stable")[:, :count]
    blanked = images.reshape(len(images), -1).copy()
    np.put_along_axis(blanked, top, 0.0, axis=1)
    return blanked.reshape(images.shape)


@dataclass
class DeletionScores:
    """The mean fall in the predicted class's probability when the pixels a map ranks highest are blanked, and when
    as many pixels are blanked at random: among all pixels, and among the digit's own ink (the harder baseline)."""

    by_map: float
    at_random: float
    at_random_ink: float


def deletion_scores(
    model: keras.Model, images: np.ndarray, share: float = DELETED_SHARE, seed: int = 0
) -> DeletionScores:
    """Blank the `share` of pixels each image's occlusion map ranks highest, or random ones, and measure the fall in
    the probability of the class the model predicted before: a faithful map makes it fall the most."""
    probabilities = predict_probabilities(model, images)
    predicted = probabilities.argmax(axis=1)
    rows = np.arange(len(images))

    def fall(rankings: np.ndarray) -> float:
        after = predict_probabilities(model, deleted(images, rankings, share))
        return float((probabilities[rows, predicted] - after[rows, predicted]).mean())

    rng = np.random.default_rng(seed)
    noise = rng.random(images.shape[:3])
    ink = images[..., 0] > 0
    return DeletionScores(
        by_map=fall(occlusion_maps(model, images, predicted)),
        at_random=fall(noise),
        at_random_ink=fall(noise + ink),  # every ink pixel ranks above every blank one
    )


def sanity_correlation(model: keras.Model, images: np.ndarray, seed: int = 0) -> float:
    """The mean rank correlation, over the digits' ink pixels, between the occlusion maps of `model` and of the same
    network with its weights re-initialised (Adebayo et al., 2018, "Sanity Checks for Saliency Maps"): a map that
    explains the model, not the image, changes with the weights, and the correlation is low."""
    keras.utils.set_random_seed(seed)
    untrained = keras.models.clone_model(model)  # the same layers, freshly initialised weights
    predicted = predict_probabilities(model, images).argmax(axis=1)
    trained_maps = occlusion_maps(model, images, predicted)
    untrained_maps = occlusion_maps(untrained, images, predicted)
    near_ink = [image[..., 0] > 0 for image in images]
    return float(
        np.mean(
            [
                stats.spearmanr(first[mask], second[mask]).statistic
                for first, second, mask in zip(trained_maps, untrained_maps, near_ink, strict=True)
            ]
        )
    )
