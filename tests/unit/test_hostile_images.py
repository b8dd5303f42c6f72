"""Crafted pictures cost bounded work: scan counting, per-format limits, the linear clutter flood.

CPU figures are process CPU time with generous bounds (10x to 50x what they cost on a loaded
2-core machine); before the fix each of these inputs cost seconds.
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from realtime.pipeline import preprocess
from realtime.pipeline.errors import InputError
from realtime.pipeline.imaging import ImageLimits, jpeg_scan_count, open_image
from realtime.pipeline.preprocess import prepare_bytes
from tests.support.hostile import jpeg_scan_bomb, serpentine_mask, serpentine_png, webp_wide
from tests.support.pictures import draw_digit, png_bytes


def old_flood(small: np.ndarray) -> np.ndarray:
    """The flood this replaces, verbatim: repeated 4-neighbour dilation from the frame, within the mask."""
    reached = np.zeros_like(small)
    reached[[0, -1], :] = small[[0, -1], :]
    reached[:, [0, -1]] |= small[:, [0, -1]]
    for _ in range(small.size):
        grown = np.pad(reached, 1)
        grown = (grown[:-2, 1:-1] | grown[2:, 1:-1] | grown[1:-1, :-2] | grown[1:-1, 2:] | reached) & small
        if np.array_equal(grown, reached):
            break
        reached = grown
    return reached


def cpu_seconds(fn, *args):
    started = time.process_time()
    try:
        return fn(*args), time.process_time() - started
    except InputError as error:
        return error, time.process_time() - started


# --- JPEG scans ------------------------------------------------------------------------

@pytest.mark.parametrize("scans", [1, 2, 10, 47])
def test_scan_count_of_crafted_jpegs(scans):
    assert jpeg_scan_count(jpeg_scan_bomb(64, 64, scans), 100) == scans


def test_scan_count_stops_past_the_limit():
    assert jpeg_scan_count(jpeg_scan_bomb(64, 64, 100_000), 48) == 49


def test_scan_count_of_ordinary_jpegs():
    picture = draw_digit(7, mode="RGB")
    assert jpeg_scan_count(png_bytes(picture, "JPEG", quality=90), 100) == 1
    progressive = png_bytes(picture, "JPEG", quality=90, progressive=True)
    assert 2 <= jpeg_scan_count(progressive, 100) <= 12  # libjpeg's own script: 10 for colour


def test_a_jpeg_thumbnail_inside_an_app_segment_is_not_counted():
    thumbnail = jpeg_scan_bomb(16, 16, 30)
    app1 = b"\xff\xe1" + (len(thumbnail) + 2).to_bytes(2, "big") + thumbnail
    main = png_bytes(draw_digit(1, mode="L"), "JPEG")
    assert jpeg_scan_count(main[:2] + app1 + main[2:], 100) == 1


def test_a_scan_bomb_is_refused_before_decoding():
    data = jpeg_scan_bomb(scans=9_900)  # 99 KB; 67 s of CPU before
    error, seconds = cpu_seconds(open_image, data)
    assert isinstance(error, InputError) and error.code == "image_too_complex" and error.status == 400
    assert "scans" in error.message
    assert seconds < 0.1


def test_the_most_scans_allowed_at_the_largest_size_cost_under_a_second():
    limits = ImageLimits()
    data = jpeg_scan_bomb(6324, 6324, limits.max_jpeg_scans)
    image, seconds = cpu_seconds(open_image, data, limits)
    assert isinstance(image, Image.Image) and max(image.size) <= 2048
    assert seconds < 1.0


# --- formats decoded at full size ----------------------------------------------------------

def test_a_wide_lossless_webp_is_refused_from_its_header():
    data = webp_wide()  # a few dozen bytes, 40 megapixels
    error, seconds = cpu_seconds(open_image, data)
    assert isinstance(error, InputError) and (error.code, error.status) == ("image_too_large", 413)
    assert "WEBP" in error.message
    assert seconds < 0.1


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "BMP", "WEBP"])
def test_full_decode_formats_have_their_own_pixel_limit(fmt):
    limits = ImageLimits(max_full_decode_pixels=250_000)
    small = png_bytes(Image.new("L", (500, 500), 255), fmt)
    large = png_bytes(Image.new("L", (501, 500), 255), fmt)
    assert open_image(small, limits).size == (500, 500)
    with pytest.raises(InputError) as refused:
        open_image(large, limits)
    assert refused.value.code == "image_too_large"
    jpeg = png_bytes(Image.new("L", (1000, 1000), 255), "JPEG")  # JPEG decodes reduced: the larger limit
    assert open_image(jpeg, limits).size == (1000, 1000)


# --- the border-clutter flood ------------------------------------------------------------------

def test_flood_equals_the_old_one_on_random_masks():
    rng = np.random.default_rng(11)
    for density in (0.2, 0.45, 0.55, 0.7):
        for shape in ((1, 1), (1, 9), (7, 1), (40, 60), (161, 97)):
            mask = rng.random(shape) < density
            assert np.array_equal(preprocess._touching_frame(mask), old_flood(mask)), (density, shape)
    assert np.array_equal(preprocess._touching_frame(serpentine_mask(101)), old_flood(serpentine_mask(101)))


def test_the_serpentine_costs_what_a_digit_costs():
    mask = serpentine_mask()
    reached, seconds = cpu_seconds(preprocess._touching_frame, mask)
    assert reached.sum() == mask.sum()  # it is one path, all of it connected to the frame
    assert seconds < 0.1  # the old flood: ~50,000 whole-array passes, 2-7 s
    data = serpentine_png()
    assert len(data) < 1000
    prepared, seconds = cpu_seconds(prepare_bytes, data)
    assert not isinstance(prepared, InputError)
    assert seconds < 0.1


def test_the_pipeline_gives_what_it_gave_on_the_evaluation_corpus(monkeypatch):
    """The model was trained through this pipeline: on ordinary pictures (the out-of-distribution
    sets the model is evaluated on: canvas drawings, photos and fonts) the flood must change nothing."""
    from realtime.training.oodsets import generate

    corpus = [data for name in ("photo", "canvas", "fonts") for data, _ in generate(name, 40, seed=5)]
    new = [prepare_bytes(data).x for data in corpus]
    monkeypatch.setattr(preprocess, "_touching_frame", old_flood)
    old = [prepare_bytes(data).x for data in corpus]
    assert all(np.array_equal(a, b) for a, b in zip(new, old, strict=True))


def test_an_ordinary_progressive_photo_still_reads():
    picture = draw_digit(4, size=3000, mode="RGB")
    data = png_bytes(picture, "JPEG", quality=85, progressive=True)
    image = open_image(io.BytesIO(data).getvalue())
    assert max(image.size) <= 2048
