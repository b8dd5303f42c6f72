"""Writer-like sets: MNIST digits re-stroked faithfully, scans as described, evaluation kept apart from training."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from realtime.pipeline.strokes import prepare_strokes
from realtime.training import nondigits, restroke, synth, writersets
from realtime.training.calibrate import NOT_A_DIGIT


@pytest.fixture(scope="module")
def mnist_test():
    from realtime.training.data import load_mnist
    from realtime.training.dataset import mnist_to_uint8

    test = load_mnist().test
    return mnist_to_uint8(test.images[:40]), test.labels[:40]


def test_thinning_leaves_a_one_pixel_line_inside_the_stroke():
    bar = np.zeros((1, 30, 30), bool)
    bar[0, 5:25, 12:18] = True
    skeleton = restroke.thin(bar)[0]
    assert skeleton.sum() >= 10
    assert (skeleton & ~bar[0]).sum() == 0
    assert (skeleton.sum(axis=1) <= 2).all()  # one (or at a corner two) pixels across


def test_tracing_an_l_gives_one_stroke_through_all_of_it():
    image = Image.new("L", (40, 40), 0)
    ImageDraw.Draw(image).line([(10, 5), (10, 30), (30, 30)], fill=1, width=1)
    skeleton = np.asarray(image, bool)
    strokes = restroke.trace(skeleton)
    assert len(strokes) == 1
    assert {(int(x), int(y)) for x, y in strokes[0]} == {(x, y) for y, x in zip(*np.nonzero(skeleton), strict=True)}


def test_a_restroked_mnist_digit_through_the_pads_path_looks_like_the_original(mnist_test):
    images, _ = mnist_test
    rng = np.random.default_rng(0)
    similarity = []
    for image in images[:20]:
        strokes = restroke.trace(restroke.skeletons(image[None])[0])
        pad = (400, 400)
        x = prepare_strokes(restroke.as_pen_trajectory(strokes, rng, pad), pad).x
        similarity.append(np.corrcoef(x.ravel(), image.ravel())[0, 1])
    assert np.median(similarity) > 0.6


def test_stretched_scans_fill_their_box_and_low_res_scans_keep_their_shape(mnist_test):
    images, _ = mnist_test
    one = images[2]  # a 1: tall and thin
    rng = np.random.default_rng(1)
    stretched = np.asarray(restroke.stretched_scan(one, rng, side=16))
    ink = stretched < 128 if stretched.mean() > 128 else stretched > 128
    rows, cols = np.nonzero(ink)
    assert (cols.max() - cols.min()) > 0.7 * (rows.max() - rows.min())
    low = np.asarray(restroke.low_res_scan(one, np.random.default_rng(2), side=12))
    ink = low < 128 if low.mean() > 128 else low > 128
    rows, cols = np.nonzero(ink)
    assert (cols.max() - cols.min()) < 0.6 * (rows.max() - rows.min())


@pytest.mark.parametrize("name", writersets.WRITER_SETS)
def test_each_writer_set_is_deterministic_and_labelled(name):
    first = list(writersets.generate(name, 12, seed=5))
    again = list(writersets.generate(name, 12, seed=5))
    assert [label for _, label in first] == [label for _, label in again]
    assert all(a == b for (a, _), (b, _) in zip(first, again, strict=True))
    labels = {label for _, label in first}
    assert labels == {NOT_A_DIGIT} if name == "not_digit" else labels <= set(range(10))


def test_evaluation_letters_and_styles_are_not_training_ones():
    assert not set(nondigits.EVALUATION_LETTERS) & set(nondigits.TRAIN_LETTERS)
    for digit, styles in writersets.EVAL_STYLES.items():
        for style in styles:
            assert style not in synth.TEMPLATES[digit]


def test_restyling_for_training_adds_features_to_1s_7s_and_9s_only(mnist_test, monkeypatch):
    images, labels = mnist_test
    monkeypatch.setattr(restroke, "RESTYLE_P", 1.0)
    monkeypatch.setattr(restroke, "NARROW_P", 0.0)
    rng = np.random.default_rng(4)
    for image, label in zip(images, labels, strict=True):
        traced = restroke.trace(restroke.skeletons(image[None])[0])
        styled = restroke.restyle(traced, int(label), rng)
        if label in (1, 9):  # a tail; a flag, maybe with a foot
            assert len(traced) < len(styled) <= len(traced) + (2 if label == 1 else 1)
        elif label == 7:  # a crossbar, a serif or a wavy top
            assert styled != traced
        else:
            assert styled == traced
    monkeypatch.setattr(restroke, "NARROW_P", 1.0)
    traced = restroke.trace(restroke.skeletons(images[:1])[0])
    narrow = restroke.restyle(traced, 0, rng)
    width = float(np.ptp(np.array([p for stroke in traced for p in stroke])[:, 0]))
    assert np.ptp(np.array([p for stroke in narrow for p in stroke])[:, 0]) <= 0.65 * width + 1e-6


def _extent(strokes) -> tuple[np.ndarray, np.ndarray]:
    points = np.array([p for stroke in strokes for p in stroke])
    return points.min(axis=0), points.max(axis=0)


def test_european_features_are_added_where_writers_put_them(mnist_test):
    images, labels = mnist_test
    rng = np.random.default_rng(3)
    for image, label in zip(images, labels, strict=True):
        traced = restroke.trace(restroke.skeletons(image[None])[0])
        styled = writersets.european(traced, int(label), rng)
        (left, top), (right, bottom) = _extent(traced)
        (new_left, _), (new_right, new_bottom) = _extent(styled)
        if label in (3, 4):  # narrow: the same strokes, at most 0.6 as wide
            assert len(styled) == len(traced) and new_right - new_left <= 0.6 * (right - left) + 1e-6
        elif label == 7:  # a crossbar through the middle of the stem
            bar = np.array(styled[-1])
            assert len(styled) == len(traced) + 1
            assert top + 0.35 * (bottom - top) < bar[:, 1].mean() < top + 0.7 * (bottom - top)
        elif label == 9:  # a tail curled to the left of where the stem ended
            tail = np.array(styled[-1])
            assert tail[-1, 0] < tail[0, 0] and new_bottom >= bottom
        elif label == 1:  # a flag down to the left of the top
            flag = np.array(styled[0])
            assert flag[0, 0] < flag[-1, 0] and flag[0, 1] > flag[-1, 1]
        else:
            assert styled == traced


@pytest.mark.parametrize("name", ["pen_european", "scan_european"])
def test_the_european_sets_hold_only_the_digits_they_restyle(name):
    assert {label for _, label in writersets.generate(name, 40, seed=5)} <= set(writersets.EUROPEAN_DIGITS)
