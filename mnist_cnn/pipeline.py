"""The training batches, the same on every backend: shuffled every epoch and, for the `accurate` recipe, randomly
shifted and rotated.

A `keras.utils.PyDataset` of NumPy arrays, which `model.fit` takes on TensorFlow, JAX and PyTorch alike. Each batch is
drawn from a random generator seeded by (seed, epoch, batch), so that a seeded run is the same run on every try,
whatever order the batches are prepared in. Training takes them where images are augmented (input_pipeline "auto", the
`accurate` recipe) or where they are asked for ("batches"); otherwise Keras takes the arrays themselves, as in the seed:
on TensorFlow a PyDataset goes through `tf.data.Dataset.from_generator`, which is slower.

Images are moved with SciPy's affine_transform rather than Keras' RandomTranslation and RandomRotation layers, which
are many times slower on JAX and PyTorch, inside the model or out.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from scipy import ndimage

from mnist_cnn.config import Config
from mnist_cnn.data import Split


def augment(images: np.ndarray, rng: np.random.Generator, max_shift: float, max_rotation: float) -> np.ndarray:
    """Each (28, 28, 1) image shifted by up to `max_shift` of its side along each axis and rotated by up to
    `max_rotation` of a full turn about its centre, both drawn uniformly; bilinear, filled with black."""
    count, height, width, _ = images.shape
    angles = rng.uniform(-max_rotation, max_rotation, count) * 2 * np.pi
    shifts = rng.uniform(-max_shift, max_shift, (count, 2)) * (height, width)
    centre = np.array([(height - 1) / 2, (width - 1) / 2])
    moved = np.empty_like(images)
    for index, (angle, shift) in enumerate(zip(angles, shifts, strict=True)):
        # affine_transform maps each output pixel to the input pixel it reads: rotate about the centre, then shift.
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        offset = centre - rotation @ (centre + shift)
        moved[index, ..., 0] = ndimage.affine_transform(images[index, ..., 0], rotation, offset, order=1, cval=0.0)
    return moved


class TrainingBatches(keras.utils.PyDataset):
    """Batches of (images, one-hot labels) for `model.fit`: a new order every epoch, augmented as `config` says."""

    def __init__(self, train: Split, config: Config) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        self.images, self.labels = train
        self.config = config
        self.epoch = 0
        self.order = self.shuffled_order()

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.config.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        chosen = self.order[index * self.config.batch_size : (index + 1) * self.config.batch_size]
        images, labels = self.images[chosen], self.labels[chosen]
        if self.config.augments:
            rng = np.random.default_rng([self.config.seed, self.epoch, index])
            images = augment(images, rng, self.config.max_shift, self.config.max_rotation)
        return images, labels

    def shuffled_order(self) -> np.ndarray:
        """The order of the training images in this epoch."""
        return np.random.default_rng([self.config.seed, self.epoch]).permutation(len(self.images))

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self.shuffled_order()
