"""Saying "not a digit" (mnist_cnn.novelty): the check a run keeps beside its model, its threshold, and what
`mnist-cnn predict` and `evaluate` say with it."""

import importlib.util
import json
import logging
import string
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from mnist_cnn.cli import main
from mnist_cnn.novelty import (
    VALIDATION_REFUSED,
    VIEW_SCALE,
    VIEW_WEIGHTS,
    DigitReader,
    NoveltyCheck,
    Views,
    detector_fingerprint,
    features_and_probabilities,
    fit_novelty,
    main_directions,
    novelty_for,
    novelty_path,
    with_features,
)

READING_MODEL = Path(__file__).parent / "data" / "reading-model.keras"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def test_a_trained_run_keeps_its_check_beside_its_model_and_it_is_read_back(trained_run):
    saved = trained_run.files.novelty
    assert saved == novelty_path(trained_run.files.model) and saved.name == "model.novelty.npz"
    check = novelty_for(trained_run.model, trained_run.files.model)
    assert np.isfinite(check.threshold) and check.threshold == pytest.approx(trained_run.novelty.threshold)
    np.testing.assert_allclose(check.bank, trained_run.novelty.bank, atol=1e-3)  # kept as float16
    np.testing.assert_allclose(check.layout_bank, trained_run.novelty.layout_bank, atol=1e-3)
    with np.load(saved, allow_pickle=False) as arrays:  # plain arrays: nothing to unpickle
        banks = {"bank", "layout_bank", "projection", "scales", "neighbour", "threshold", "detector_median"}
        expected = banks | {"detector_fingerprint"}
        assert set(arrays.files) == expected


def test_a_check_saved_before_the_layout_view_still_scores_with_the_features_alone(reading_model, tmp_path):
    check = NoveltyCheck.load(novelty_path(READING_MODEL))
    older = tmp_path / "older.novelty.npz"
    np.savez(older, bank=check.bank.astype(np.float16), neighbour=check.neighbour, threshold=0.2)
    features = np.random.default_rng(0).random((5, 64), np.float32)
    similarities = features / np.linalg.norm(features, axis=1, keepdims=True) @ NoveltyCheck.load(older).bank.T
    features_alone = 1 - np.sort(similarities, axis=1)[:, -check.neighbour]
    views = Views(features, np.random.default_rng(1).random((5, 3136), np.float32), np.full(5, 50, np.float32))
    np.testing.assert_allclose(NoveltyCheck.load(older).scores(views), features_alone, rtol=1e-5)


def test_a_check_saved_before_the_detector_still_scores_with_its_two_views(reading_model, tmp_path):
    check = NoveltyCheck.load(novelty_path(READING_MODEL))
    older = tmp_path / "older.novelty.npz"
    arrays = dict(bank=check.bank, layout_bank=check.layout_bank, projection=check.projection)
    np.savez(older, neighbour=check.neighbour, threshold=0.2, scales=check.scales[:2], **arrays)
    views = features_and_probabilities(with_features(reading_model), np.random.default_rng(0).random((5, 28, 28, 1)))[0]
    first_two = zip(check.distances(views)[:2], check.scales[:2], strict=True)
    two_views = sum(distance / scale for distance, scale in first_two)
    np.testing.assert_allclose(NoveltyCheck.load(older).scores(views), two_views, rtol=1e-5)


def test_each_view_weighs_alike_on_the_digits_it_was_set_on(reading_model, sample_data):
    (images, _), _ = sample_data
    check = fit_novelty(reading_model, images[:1000], images[1000:], neighbour=2, bank_size=1000)
    distances = check.distances(features_and_probabilities(with_features(reading_model), images[1000:])[0])
    assert len(distances) == 3
    for distance, scale, weight in zip(distances, check.scales, VIEW_WEIGHTS, strict=True):
        assert np.mean(distance <= scale * weight) == pytest.approx(VIEW_SCALE, abs=0.01)


def test_the_threshold_refuses_the_chosen_share_of_the_digits_it_was_set_on(reading_model, sample_data):
    (images, _), _ = sample_data
    check = fit_novelty(reading_model, images[:1000], images[1000:], neighbour=2, bank_size=1000)
    scores = DigitReader(reading_model, check).read(images[1000:])[1]
    assert 0 < np.mean(scores > check.threshold) <= VALIDATION_REFUSED + 1 / 1000


def test_a_model_without_its_check_is_judged_against_the_shipped_sample_saying_so(reading_model, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        check = novelty_for(reading_model, tmp_path / "elsewhere.keras")
    assert "no elsewhere.novelty.npz beside" in caplog.text and "shipped sample" in caplog.text
    assert isinstance(check, NoveltyCheck) and np.isfinite(check.threshold)


def test_a_check_fitted_with_another_detector_is_not_trusted_but_judged_against_the_shipped_sample_saying_so(
    reading_model, tmp_path, caplog
):
    check = NoveltyCheck.load(novelty_path(READING_MODEL))
    assert check.detector_fingerprint == detector_fingerprint()
    check.detector_fingerprint, check.threshold = "0123456789abcdef", -1.0  # as saved, every image is no digit
    check.save(novelty_path(tmp_path / "other.keras"))
    with caplog.at_level(logging.WARNING):
        judged = novelty_for(reading_model, tmp_path / "other.keras")
    assert "other.novelty.npz was fitted with another detector" in caplog.text and "shipped sample" in caplog.text
    assert judged.threshold > 0 and judged.detector_fingerprint == detector_fingerprint()
    check.detector_fingerprint = None  # saved before fingerprints were kept, so with an earlier detector
    check.save(novelty_path(tmp_path / "older.keras"))
    assert novelty_for(reading_model, tmp_path / "older.keras").threshold > 0
    check.detector_median = None  # saved before the detector: its two views are the model's own, and still trusted
    check.scales = check.scales[:2]
    check.save(novelty_path(tmp_path / "oldest.keras"))
    assert novelty_for(reading_model, tmp_path / "oldest.keras").threshold == -1.0


def test_the_detector_learns_no_glyph_that_is_a_latin_letter_a_digit_or_an_arrow_star_or_cross():
    path = Path(__file__).parents[1] / "scripts" / "build_detector.py"
    spec = importlib.util.spec_from_file_location("build_detector", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    glyphs = script.glyph_characters()
    assert len(glyphs) > 200 and not {unicodedata.normalize("NFKC", glyph) for glyph in glyphs} & set(string.printable)
    names = " ".join(unicodedata.name(glyph) for glyph in glyphs)
    doodles_and_look_alikes = ("ARROW", "STAR", "CROSS", "TIMES", "PLUS", "FACE", "SMILE", "FROWN", "WATCH", "RETURN")
    assert not any(word in names for word in ("LATIN", "DIGIT", "ROOT", "LOGICAL OR"))
    assert not any(word in names for word in doodles_and_look_alikes)


def letter(path: Path, text: str) -> Path:
    """A letter written large in DejaVu Sans, dark on white."""
    image = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(image).text((40, 10), text, fill=0, font=ImageFont.truetype(FONT, 150))
    image.save(path)
    return path


def test_predict_says_not_a_digit_for_a_letter_and_reads_a_digit_as_before(raw_sample, tmp_path, capsys):
    digit = tmp_path / "digit.png"
    Image.fromarray(255 - raw_sample[1][0][0]).resize((112, 112)).save(digit)
    status = main(["predict", str(READING_MODEL), str(digit), str(letter(tmp_path / "k.png", "K")), "--json"])
    answers = json.loads(capsys.readouterr().out)
    assert status == 0
    assert answers[0]["digit"] == raw_sample[1][1][0] and not answers[0]["not_a_digit"]
    assert answers[1]["not_a_digit"] and answers[1]["novelty"] > answers[0]["novelty"]
    main(["predict", str(READING_MODEL), str(tmp_path / "k.png")])
    assert "k.png: not a digit (novelty " in capsys.readouterr().out


def test_a_blot_of_ink_is_not_a_digit_where_the_features_alone_took_it_for_one(capsys, tmp_path):
    blot = tmp_path / "blot.png"
    image = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(image).rectangle([50, 50, 150, 150], fill=0)  # 0.99 of the threshold without the detector
    image.save(blot)
    assert main(["predict", str(READING_MODEL), str(blot), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["not_a_digit"]


def test_evaluate_says_how_many_test_digits_would_be_taken_for_no_digit(capsys):
    assert main(["evaluate", str(READING_MODEL), "--dataset", "sample"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("Taken for not a digit"))
    assert float(line.split(": ")[1].split("%")[0]) < 2  # of the sample's 1,000 test digits


def test_main_directions_are_the_leading_singular_vectors_in_order_and_as_many_as_there_are():
    rows = np.random.default_rng(0).normal(size=(300, 200)).astype(np.float32) * np.linspace(3, 1, 200)
    found = main_directions(rows, 16)
    expected = np.linalg.svd(rows, full_matrices=False)[2][:16].T
    np.testing.assert_allclose(np.abs(np.sum(found * expected, axis=0)), 1, atol=1e-4)  # each the same, up to sign
    assert main_directions(rows[:10], 16).shape == (200, 10)  # a bank of 10 rows has 10 directions
