"""Explanations: occlusion maps that say something true about the model (deletion and sanity tests), on the picture
`mnist-cnn predict --explain` saves."""

import json

import numpy as np
import pytest
from PIL import Image

from mnist_cnn.cli import main
from mnist_cnn.explain import deletion_scores, explain, occluded_copies, occlusion_maps, sanity_correlation
from mnist_cnn.model import predict_probabilities

from conftest import MEMBER_PROBABILITIES, constant_model


def test_each_copy_blanks_one_square_and_the_squares_cover_the_image():
    image = np.ones((28, 28, 1), np.float32)
    copies, masks = occluded_copies(image, patch=4, stride=2)
    assert copies.shape == (169, 28, 28, 1) and masks.shape == (169, 28, 28)
    assert (masks.sum(axis=(1, 2)) == 16).all() and masks.any(axis=0).all()
    np.testing.assert_array_equal(copies[..., 0], np.where(masks, 0.0, 1.0))


def test_a_model_that_ignores_its_input_has_a_blank_map(sample_data):
    images = sample_data[1][0][:3]
    maps = occlusion_maps(constant_model(MEMBER_PROBABILITIES[0]), images)
    np.testing.assert_allclose(maps, 0, atol=1e-6)


def test_a_map_is_the_fall_of_the_probability_when_a_square_is_blanked(trained_run, sample_data):
    model, image = trained_run.model, sample_data[1][0][:1]
    digit = int(predict_probabilities(model, image)[0].argmax())
    heat = occlusion_maps(model, image, np.array([digit]), patch=4, stride=4)[0]  # 49 squares that do not overlap
    for top, left in ((8, 12), (0, 0), (20, 16)):
        blanked = image.copy()
        blanked[0, top : top + 4, left : left + 4] = 0
        fall = predict_probabilities(model, image)[0, digit] - predict_probabilities(model, blanked)[0, digit]
        np.testing.assert_allclose(heat[top : top + 4, left : left + 4], fall, atol=1e-5)


def test_explain_gives_the_answer_the_runner_up_and_their_maps(trained_run, sample_data):
    images = sample_data[1][0][:4]
    explanations = explain(trained_run.model, images)
    probabilities = predict_probabilities(trained_run.model, images)
    for explanation, row in zip(explanations, probabilities, strict=True):
        assert explanation.top_classes == tuple(int(digit) for digit in np.argsort(-row)[:2])
        assert explanation.maps.shape == (2, 28, 28)
        expected = occlusion_maps(trained_run.model, explanation.image[np.newaxis], np.array([explanation.top_classes]))
        np.testing.assert_allclose(explanation.maps, expected[0], atol=1e-6)


def test_blanking_what_the_map_ranks_highest_hurts_more_than_blanking_at_random(trained_run, sample_data):
    scores = deletion_scores(trained_run.model, sample_data[1][0][:100])
    assert scores.by_map > 2 * scores.at_random_ink and scores.by_map > 5 * scores.at_random


def test_the_maps_of_a_model_with_random_weights_differ_from_the_trained_ones(trained_run, sample_data):
    assert sanity_correlation(trained_run.model, sample_data[1][0][:30]) < 0.5


def test_predict_explain_saves_one_picture_per_readable_image(trained_run, raw_sample, tmp_path, capsys):
    model = trained_run.files.model  # its "not a digit" check beside it, as `mnist-cnn train` saves it
    Image.fromarray(255 - raw_sample[1][0][0]).resize((140, 140)).save(tmp_path / "seven.png")
    (tmp_path / "broken.png").write_text("not an image")
    folder = tmp_path / "why"
    code = main(["predict", str(model), str(tmp_path / "seven.png"), str(tmp_path / "broken.png"), "--explain",
                 str(folder), "--json"])  # fmt: skip
    assert code == 1  # one file could not be read
    printed = capsys.readouterr()
    assert [entry["file"] for entry in json.loads(printed.out)] == [
        str(tmp_path / "seven.png"),
        str(tmp_path / "broken.png"),
    ]
    assert sorted(path.name for path in folder.iterdir()) == ["seven.png"]
    picture = Image.open(folder / "seven.png")
    assert picture.format == "PNG" and picture.width > 3 * picture.height  # four panels side by side
    assert f"{folder / 'seven.png'}" in printed.err


@pytest.mark.parametrize("share", [0.05, 0.2])
def test_deletion_blanks_the_share_asked(trained_run, sample_data, share):
    from mnist_cnn.explain import deleted

    images = sample_data[1][0][:5]
    ranking = np.random.default_rng(0).random((5, 28, 28))
    blanked = deleted(images, ranking, share)
    changed = (np.ones_like(images) != deleted(np.ones_like(images), ranking, share)).sum(axis=(1, 2, 3))
    assert (changed == round(share * 784)).all() and blanked.shape == images.shape


class LinearInk:
    """A stand-in for a model whose probability of class 0 is the sum of each pixel times its weight, so that the
    fall when a square is blanked is the sum of the weights in the square."""

    def __init__(self, weights):
        self.weights = weights

    def predict_on_batch(self, images):
        scores = np.zeros((len(images), 10), np.float32)
        scores[:, 0] = (images[..., 0] * self.weights).sum(axis=(1, 2))
        return scores

    def predict(self, images, batch_size=None, verbose=0):
        return self.predict_on_batch(images)


def test_each_pixel_of_a_map_is_the_mean_fall_of_the_squares_that_cover_it():
    weights = np.random.default_rng(0).uniform(0, 1e-3, (28, 28)).astype(np.float32)
    image = np.ones((1, 28, 28, 1), np.float32)
    heat = occlusion_maps(LinearInk(weights), image, np.array([0]), patch=4, stride=2)[0]

    def fall(top, left):  # blanking the 4x4 square at (top, left)
        return weights[top : top + 4, left : left + 4].sum()

    # (5, 5) is in the squares starting at rows 2 and 4 and columns 2 and 4; (0, 6) in those at row 0, columns 4, 6.
    assert heat[5, 5] == pytest.approx(np.mean([fall(2, 2), fall(2, 4), fall(4, 2), fall(4, 4)]), rel=1e-4)
    assert heat[0, 6] == pytest.approx(np.mean([fall(0, 4), fall(0, 6)]), rel=1e-4)
    assert heat[0, 0] == pytest.approx(fall(0, 0), rel=1e-4)  # corners: one square each
    assert heat[27, 27] == pytest.approx(fall(24, 24), rel=1e-4)
    assert heat[0, 27] == pytest.approx(fall(0, 24), rel=1e-4)
