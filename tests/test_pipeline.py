"""The training batches (mnist_cnn.pipeline): every image once an epoch in a new, seeded order, and augmentation's
random shifts and rotations, by the amount asked and both ways."""

import numpy as np
import pytest

from mnist_cnn.config import SEED_RECIPE
from mnist_cnn.pipeline import TrainingBatches, augment


@pytest.mark.parametrize("moves", [(0.1, 0), (0, 0.03)], ids=["shift", "rotation"])
def test_augmented_batches_differ_from_the_originals_by_small_moves(sample_data, moves):
    images = sample_data[0][0][:32]
    moved = augment(images, np.random.default_rng(0), *moves)
    assert moved.shape == images.shape and moved.dtype == images.dtype
    assert np.abs(moved - images).mean() > 0.01  # moved...
    ink_before, ink_after = images.sum(axis=(1, 2, 3)), moved.sum(axis=(1, 2, 3))
    np.testing.assert_allclose(ink_after, ink_before, rtol=0.25)  # ...but the digit stays in the frame


def test_augmentation_moves_by_the_amount_asked():
    dot = np.zeros((1, 28, 28, 1), np.float32)
    dot[0, 10, 20, 0] = 1  # 3.5 pixels above the centre (13.5, 13.5) and 6.5 right of it

    class Largest:  # draws the largest move each time
        def uniform(self, low, high, size):
            return np.full(size, high)

    def where(images):
        return tuple(int(side) for side in np.unravel_index(images[0, ..., 0].argmax(), (28, 28)))

    assert where(augment(dot, Largest(), max_shift=0, max_rotation=0)) == (10, 20)  # no move asked: none made
    assert where(augment(dot, Largest(), max_shift=2 / 28, max_rotation=0)) == (12, 22)  # 2 pixels down and right
    row, column = where(augment(dot, Largest(), max_shift=0, max_rotation=0.25))  # a quarter turn about the centre
    assert (row - 13.5, column - 13.5) in ((-6.5, -3.5), (6.5, 3.5))


def test_augmentation_shifts_and_rotates_both_ways_about_nothing():
    rng = np.random.default_rng(0)
    drawn = {}

    class Recording:  # the generator augment draws from, noting what it drew
        def uniform(self, low, high, size):
            values = rng.uniform(low, high, size)
            drawn["angles" if np.ndim(values) == 1 else "shifts"] = values
            return values

    augment(np.zeros((2000, 28, 28, 1), np.float32), Recording(), max_shift=0.1, max_rotation=0.03)
    shifts, angles = drawn["shifts"] * 28, drawn["angles"] * 360  # pixels, degrees
    for values, limit in ((shifts[:, 0], 2.8), (shifts[:, 1], 2.8), (angles, 10.8)):
        assert values.min() < -limit / 2 and values.max() > limit / 2  # both ways, by much
        assert np.abs(values).max() <= limit and abs(values.mean()) < limit / 20  # within the limit, centred


def test_augmented_images_move_both_ways(sample_data):
    images = sample_data[0][0][:500]
    moved = augment(images, np.random.default_rng(1), max_shift=0.1, max_rotation=0)
    rows, columns = np.arange(28)[:, None], np.arange(28)[None, :]

    def centres(batch):
        ink = batch[..., 0].sum(axis=(1, 2))
        return (batch[..., 0] * rows).sum(axis=(1, 2)) / ink, (batch[..., 0] * columns).sum(axis=(1, 2)) / ink

    for before, after in zip(centres(images), centres(moved), strict=True):
        change = after - before
        assert (change < -1).sum() > 100 and (change > 1).sum() > 100 and abs(change.mean()) < 0.3


def test_batches_cover_every_image_once_an_epoch_in_a_new_order(sample_data):
    train = sample_data[0]
    batches = TrainingBatches(train, SEED_RECIPE.replace(input_pipeline="batches", batch_size=300))
    assert len(batches) == 7  # 2,000 images: six of 300 and one of 200

    def epoch_order():
        images = np.concatenate([batches[index][0] for index in range(len(batches))])
        return [int(np.flatnonzero((train[0] == image).all(axis=(1, 2, 3)))[0]) for image in images[:50]], images

    first, first_images = epoch_order()
    assert sorted(first_images.sum(axis=(1, 2, 3))) == pytest.approx(sorted(train[0].sum(axis=(1, 2, 3))))
    batches.on_epoch_end()
    second, _ = epoch_order()
    assert first != second and first != list(range(50))
    again = TrainingBatches(train, SEED_RECIPE.replace(input_pipeline="batches", batch_size=300))
    np.testing.assert_array_equal(again[3][0], TrainingBatches(train, again.config)[3][0])  # seeded: the same
