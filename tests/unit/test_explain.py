"""The teaching lens's pure parts: occlusion evidence, its colour encoding, the plain resize, the pad
as the page draws it, and feature-map grids. A stand-in model whose reasons are known makes
the evidence checkable."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from realtime.pipeline.lensimage import AGAINST, TOWARDS, decode_diverging, diverging_rgba, mosaic, png_data_url
from realtime.pipeline.naive import naive_input
from realtime.pipeline.occlusion import attribution, log_margin, occluded, patch_corners
from realtime.pipeline.preprocess import Prepared
from realtime.pipeline.strokes import render_pad
from realtime.serving.explain import Explainer, naive_of
from realtime.serving.layers import layer_payload, stage_of


def two_bars() -> np.ndarray:
    """Ink in a left bar (columns 6-8) and a right bar (columns 19-21)."""
    x = np.zeros((28, 28), np.float32)
    x[4:24, 6:9] = 1.0
    x[4:24, 19:22] = 1.0
    return x


def left_says_one(batch: np.ndarray) -> np.ndarray:
    """A stand-in model: the left half's ink argues for 1, the right half's for 7 (less strongly)."""
    batch = np.asarray(batch, np.float64).reshape(-1, 28, 28)
    logits = np.full((len(batch), 10), -5.0)
    logits[:, 1] = batch[:, :, :14].sum(axis=(1, 2)) * 0.1
    logits[:, 7] = batch[:, :, 14:].sum(axis=(1, 2)) * 0.05
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def decode(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


# --- occlusion -------------------------------------------------------------------------


def test_only_patches_with_ink_are_erased_and_the_grid_reaches_every_edge():
    x = np.zeros((28, 28), np.float32)
    x[0, 0] = x[27, 27] = 1.0
    corners = patch_corners(x, patch=4, stride=3)
    assert {tuple(c) for c in corners} == {(0, 0), (24, 24)}  # 24 = 28 - 4, off the 3-grid
    assert len(patch_corners(np.zeros((28, 28), np.float32), 4, 2)) == 0


def test_each_copy_has_exactly_its_patch_erased():
    x = two_bars()
    corners = patch_corners(x, 4, 2)
    batch = occluded(x, corners, 4)
    assert batch.shape == (len(corners), 28, 28)
    for copy, (r, c) in zip(batch, corners, strict=True):
        assert not copy[r:r + 4, c:c + 4].any()
        outside = np.ones((28, 28), bool)
        outside[r:r + 4, c:c + 4] = False
        assert np.array_equal(copy[outside], x[outside])


def test_log_margin_is_the_logit_difference():
    logits = np.array([[2.0, -1.0, 0.5, 30.0, -40.0, 0, 0, 0, 0, 0]])
    p = np.exp(logits) / np.exp(logits).sum()
    assert log_margin(p, 3, 0)[0] == pytest.approx(28.0, abs=1e-6)
    assert np.isfinite(log_margin(np.eye(10)[[3]], 3, 4)).all()  # a probability of exactly 0 stays finite


def test_attribution_is_neutral_off_the_ink_and_follows_the_drops():
    x = two_bars()
    corners = patch_corners(x, 4, 2)
    drops = np.where(corners[:, 1] < 14, 1.0, -1.0)
    values = attribution(x, corners, 4, drops)
    assert not values[x == 0].any()
    assert (values[:, 6:9][x[:, 6:9] > 0] > 0).all() and (values[:, 19:22][x[:, 19:22] > 0] < 0).all()


def test_evidence_shows_which_ink_argues_for_the_top_digit_and_which_for_the_runner_up():
    x = two_bars()
    answer = Explainer(left_says_one).explain({"digit": 1}, Prepared(x, False))
    evidence = answer["evidence"]
    assert (evidence["digit"], evidence["versus"]) == (1, 7)
    rgba = decode(evidence["map"])
    assert rgba.shape == (28, 28, 4)  # aligned with input28, pixel for pixel
    assert not rgba[..., 3][x == 0].any()  # background: neutral
    left, right = rgba[4:24, 6:9].reshape(-1, 4), rgba[4:24, 19:22].reshape(-1, 4)
    assert (left[:, :3] == TOWARDS).all() and (left[:, 3] > 0).all()
    assert (right[:, :3] == AGAINST).all() and (right[:, 3] > 0).all()
    values = decode_diverging(rgba, evidence["scale"]["limit"])
    assert values[4:24, 6:9].sum() > abs(values[4:24, 19:22].sum())  # the left argues more strongly
    assert evidence["scale"]["for_digit"] > 0.5 > evidence["scale"]["for_versus"] > 0
    assert "naive" not in answer  # no plain-resize view given: none in the answer


def test_a_blank_answer_is_not_explained():
    payload = {"digit": None, "blank": True}
    assert Explainer(left_says_one).explain(payload, Prepared(np.zeros((28, 28), np.float32), True), None) == payload


def test_the_plain_resize_view_comes_with_the_evidence_from_the_same_model():
    x = two_bars()
    seen = []

    def model(batch):
        seen.append(len(batch))
        return left_says_one(batch)

    picture = Image.fromarray(np.where(two_bars() > 0, 0, 255).astype(np.uint8))  # dark ink on white
    answer = Explainer(model).explain({"digit": 1}, Prepared(x, False), naive_of(lambda: picture))
    naive = answer["naive"]
    assert naive["digit"] == 1 and 0 < naive["confidence"] <= 1 and len(naive["probabilities"]) == 10
    assert decode(naive["input28"]).shape == (28, 28)
    assert seen == [2 + len(patch_corners(x, 4, 2))]  # one model call: input, naive view, erased copies


def test_a_failing_picture_costs_the_naive_view_only():
    def broken():
        raise OSError("gone")

    naive_x = naive_of(broken)
    assert naive_x is None
    answer = Explainer(left_says_one).explain({"digit": 1}, Prepared(two_bars(), False), naive_x)
    assert "evidence" in answer and "naive" not in answer


# --- colour encoding ----------------------------------------------------------------------


def test_the_diverging_encoding_reads_back():
    values = np.array([[-2.0, -1.0, 0.0], [0.5, 1.0, 3.0]])
    rgba = diverging_rgba(values, 2.0)
    assert rgba[0, 2, 3] == 0 and rgba[1, 2, 3] == 255  # neutral is clear; the limit and beyond opaque
    back = decode_diverging(rgba, 2.0)
    assert np.allclose(back, np.clip(values, -2, 2), atol=2.0 / 255)
    assert not diverging_rgba(values, 0.0)[..., 3].any()


# --- the plain resize and the pad ------------------------------------------------------------


def test_the_plain_resize_squashes_and_inverts_and_reads_a_transparent_canvas_as_black():
    wide = Image.new("L", (280, 140), 255)
    wide.paste(0, (0, 60, 280, 80))  # a horizontal bar across the whole width
    x = naive_input(wide)
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x[14, :].min() > 0.9 and x[2, :].max() < 0.1  # inverted, and the aspect is lost
    transparent = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    transparent.paste((0, 0, 0, 255), (100, 20, 130, 260))
    assert naive_input(transparent).min() > 0.99  # black ink on transparent black: all white after invert


def test_render_pad_draws_the_whole_pad_with_the_pages_pen():
    image = render_pad([[(100.0, 40.0), (100.0, 360.0)]], (400.0, 400.0))
    assert image.mode == "L" and image.size == (400, 400)
    pixels = np.asarray(image)
    assert pixels[0, 0] == 255 and pixels[200, 100] == 0
    ink_columns = np.nonzero(pixels[200] < 128)[0]
    assert abs(len(ink_columns) - 400 / 16) <= 2  # the pen is 1/16 of the pad
    big = render_pad([[(1000.0, 40.0), (1000.0, 3600.0)]], (4000.0, 4000.0))
    assert big.size == (560, 560)  # large pads are drawn smaller, at the same proportions
    assert abs(len(np.nonzero(np.asarray(big)[280] < 128)[0]) - 560 / 16) <= 2


# --- feature maps ---------------------------------------------------------------------------


def test_mosaic_lays_maps_out_in_a_grid_on_one_scale():
    maps = np.stack([np.full((4, 4), v, np.float32) for v in (2.0, 1.0, 0.0)])
    grid = mosaic(maps, columns=2, scale=2.0)
    assert grid.shape == (9, 9)
    assert grid[0, 0] == 255 and grid[0, 5] == 128 and grid[5, 0] == 0
    assert grid[4, 0] == 96 and grid[0, 4] == 96  # grey gaps, so a dark map still shows its edge


def test_a_layer_shows_its_most_active_maps_strongest_first():
    activations = np.zeros((7, 7, 20), np.float32)
    activations[..., 5] = 3.0
    activations[..., 11] = 1.0
    layer = layer_payload(activations, 1, 3, shown=4)
    assert layer["channel_order"][:2] == [5, 11] and layer["shown"] == 4 and layer["channels"] == 20
    assert decode(layer["image"]).shape == (7, 4 * 8 - 1)
    assert layer["stage"] == "parts"
    assert [stage_of(i, 5)[0] for i in range(5)] == ["edges and strokes", "parts", "parts", "parts", "the digit"]


def test_png_data_url_keeps_rgba():
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[1, 2] = (1, 2, 3, 4)
    assert decode(png_data_url(rgba))[1, 2].tolist() == [1, 2, 3, 4]


def test_the_evidence_says_where_it_lies_in_words():
    from realtime.serving.explain import region_of

    values = np.zeros((28, 28), np.float32)
    values[2:6, 2:6] = 1.0
    values[22:26, 12:16] = -1.0
    assert region_of(values, 1) == "top left" and region_of(values, -1) == "bottom"
    assert region_of(np.zeros((28, 28)), 1) is None


def test_the_tutorials_picture_of_a_drawing_is_the_whole_pad_and_of_bytes_the_picture_itself():
    from dataclasses import dataclass

    from realtime.pipeline.imaging import ImageLimits
    from realtime.serving.explain import picture_for

    @dataclass
    class Drawing:
        strokes: list
        size: tuple

    pad = picture_for(Drawing([[(10.0, 10.0), (30.0, 30.0)]], (320.0, 320.0)), ImageLimits())()
    assert pad.size == (320, 320) and np.asarray(pad)[20, 20] == 0 and np.asarray(pad)[300, 300] == 255
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (255, 255, 255)).save(buffer, "PNG")
    assert picture_for(buffer.getvalue(), ImageLimits())().size == (40, 30)


def test_the_evidence_names_the_answers_own_top_two_digits():
    """In a near tie the explanation's model call could rank them the other way; the answer's ranking wins."""
    top3 = [{"digit": 7, "probability": 0.5001}, {"digit": 1, "probability": 0.4999}, {"digit": 0, "probability": 0}]
    answer = Explainer(left_says_one).explain({"digit": 7, "top3": top3}, Prepared(two_bars(), False))
    assert (answer["evidence"]["digit"], answer["evidence"]["versus"]) == (7, 1)
