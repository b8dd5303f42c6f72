"""The preprocessing makes every kind of picture look like an MNIST digit, and refuses bad ones."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from realtime.pipeline import preprocess
from realtime.pipeline.errors import InputError
from realtime.pipeline.imaging import ImageLimits, decode_base64_image, gray_png, open_image
from realtime.pipeline.preprocess import prepare_bytes
from tests.support.pictures import draw_digit, png_bytes


def prepared(image: Image.Image, fmt: str = "PNG", **options) -> np.ndarray:
    result = prepare_bytes(png_bytes(image, fmt, **options))
    assert not result.blank
    return result.x


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def centre_of_mass(x: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(x.shape)
    return float((ys * x).sum() / x.sum()), float((xs * x).sum() / x.sum())


@pytest.fixture(scope="module")
def mnist_test():
    from realtime.training.data import load_mnist

    return load_mnist().test


def test_mnist_digits_pass_through_almost_unchanged(mnist_test):
    from realtime.training.dataset import mnist_to_uint8

    images = mnist_to_uint8(mnist_test.images[:200])
    diffs = [distance(prepared(Image.fromarray(image)), image / 255.0) for image in images]
    assert np.mean(diffs) < 0.03


def test_output_is_mnist_shaped_white_on_black_centred_by_mass():
    x = prepared(draw_digit(7))
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.9
    rows, cols = np.nonzero(x.sum(axis=1))[0], np.nonzero(x.sum(axis=0))[0]
    assert max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) in (19, 20, 21)
    cy, cx = centre_of_mass(x)
    assert abs(cy - 14) <= 0.6 and abs(cx - 14) <= 0.6
    assert x[:4, :4].max() == 0 and x[-4:, -4:].max() == 0  # background is black


@pytest.mark.parametrize("picture", [
    Image.new("L", (280, 280), 255),
    Image.new("L", (280, 280), 0),
    Image.new("RGBA", (280, 280), (0, 0, 0, 0)),
    Image.new("RGB", (64, 48), (200, 180, 90)),
    Image.new("L", (1, 1), 128),
], ids=["white", "black", "transparent", "colour", "one-pixel"])
def test_no_ink_is_blank_not_a_guess(picture):
    assert prepare_bytes(png_bytes(picture)).blank


def test_paper_grain_and_a_lone_speck_are_blank():
    rng = np.random.default_rng(0)
    paper = 0.8 - 0.2 * np.linspace(0, 1, 400)[:, None] + rng.normal(0, 0.02, (400, 400))
    paper[200, 200] = 0.0
    picture = Image.fromarray(np.clip(paper * 255, 0, 255).astype(np.uint8))
    assert prepare_bytes(png_bytes(picture, "JPEG", quality=70)).blank


def test_jpeg_photo_with_uneven_light_and_noise_reads_like_the_clean_drawing():
    reference = prepared(draw_digit(4))
    ink = np.asarray(draw_digit(4, size=600, mode="L"), np.float32) / 255.0
    light = np.linspace(1.0, 0.55, 600)[None, :] * np.linspace(1.0, 0.8, 600)[:, None]
    rng = np.random.default_rng(1)
    photo = (0.92 * ink + 0.12 * (1 - ink)) * light + rng.normal(0, 0.03, ink.shape)
    picture = Image.fromarray(np.clip(photo * 255, 0, 255).astype(np.uint8)).convert("RGB")
    assert distance(prepared(picture, "JPEG", quality=75), reference) < 0.06


def test_hairline_and_marker_strokes_are_brought_to_mnist_weight():
    widths = []
    for width in (0.004, 0.07, 0.2):
        x = prepared(draw_digit(1, size=600, width=width))
        widths.append(float((x > 0.5).sum()))
    thin, normal, thick = widths
    assert thin > 0.5 * normal and thick < 2.0 * normal


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(digit=st.sampled_from([0, 1, 4, 7]),
       scale=st.floats(0.3, 0.95),
       x=st.floats(0.0, 1.0), y=st.floats(0.0, 1.0),
       size=st.sampled_from([120, 280, 500]),
       convention=st.sampled_from(["dark-on-light", "light-on-dark", "transparent"]))
def test_same_strokes_anywhere_any_size_any_convention_give_nearly_the_same_input(
        digit, scale, x, y, size, convention):
    reference = prepared(draw_digit(digit))
    ink, background = (0, 0, 0, 255), (255, 255, 255, 255)
    if convention == "light-on-dark":
        ink, background = (255, 255, 255, 255), (0, 0, 0, 255)
    elif convention == "transparent":
        background = (0, 0, 0, 0)
    offset = ((1 - scale) * x, (1 - scale) * y)
    moved = draw_digit(digit, size=size, scale=scale, offset=offset, ink=ink, background=background)
    assert distance(prepared(moved), reference) < 0.1


def test_tiny_digit_in_a_corner_reads_like_a_big_one():
    reference = prepared(draw_digit(4))
    tiny = draw_digit(4, size=800, scale=0.06, offset=(0.85, 0.05), width=0.07)
    assert distance(prepared(tiny), reference) < 0.08


def test_extreme_aspect_ratios_are_handled():
    line = Image.new("L", (1, 10000), 255)
    for y in range(2000, 8000):
        line.putpixel((0, y), 0)
    result = prepare_bytes(png_bytes(line))
    assert result.x.shape == (28, 28)
    assert prepare_bytes(png_bytes(Image.new("L", (10000, 1), 255))).blank


def test_limits_are_configurable():
    with pytest.raises(InputError) as refused:
        open_image(png_bytes(draw_digit(1)), ImageLimits(max_pixels=10_000, max_side=5000))
    assert refused.value.status == 413
    with pytest.raises(InputError):
        open_image(png_bytes(Image.new("L", (3000, 10))), ImageLimits(max_pixels=10**8, max_side=2000))


@pytest.mark.parametrize(("data", "code"), [
    (b"", "empty_image"),
    (b"hello, this is text", "not_an_image"),
    (png_bytes(draw_digit(1))[:300], "corrupt_image"),
])
def test_bad_bytes_are_clean_errors(data, code):
    with pytest.raises(InputError) as refused:
        open_image(data)
    assert refused.value.code == code and refused.value.status == 400


def test_base64_and_data_urls():
    raw = png_bytes(draw_digit(1))
    import base64

    encoded = base64.b64encode(raw).decode()
    assert decode_base64_image("data:image/png;base64," + encoded) == raw
    assert decode_base64_image(encoded) == raw
    for bad, code in [("data:image/png," + encoded, "malformed_data_url"), ("@@@not base64@@@", "malformed_base64"),
                      ("data:text/plain;base64,aGVsbG8=", "not_an_image"), ("", "empty_image")]:
        with pytest.raises(InputError) as refused:
            decode_base64_image(bad)
        assert refused.value.code == code


def test_input28_is_a_png_data_url_of_what_the_model_sees():
    result = prepare_bytes(png_bytes(draw_digit(0)))
    url = result.data_url()
    assert url.startswith("data:image/png;base64,")
    shown = np.asarray(Image.open(io.BytesIO(result.png())), np.float32) / 255
    assert shown.shape == (28, 28) and np.abs(shown - result.x).max() <= 1 / 255 + 1e-6


def test_stroke_width_measure_matches_a_drawn_bar():
    bar = np.zeros((80, 80), np.float32)
    bar[10:70, 36:44] = 1.0
    assert abs(preprocess.stroke_width(bar) - 8) < 1.5


def test_a_tight_crop_of_a_bold_digit_is_read_as_a_drawing_not_a_photo():
    """The page sends the ink's bounding box: mostly ink, yet its background is still flat."""
    reference = prepared(draw_digit(0, width=0.14))
    picture = draw_digit(0, width=0.14)
    box = picture.getchannel("R").point(lambda v: 255 - v).getbbox()
    tight = picture.crop(box)
    gray = np.asarray(tight.convert("L"), np.float32) / 255.0
    assert np.mean(gray > 0.99) < 0.6  # less than 60% of the crop is background...
    assert preprocess._flat_background(preprocess.Gray(gray), 1.0)  # ...but what background there is, is flat
    assert distance(prepared(tight), reference) < 0.03


@pytest.mark.parametrize("size", [3, 5, 7, 9, 15, 31])
def test_numpy_max_and_min_filters_equal_pillows_exactly(size):
    from PIL import ImageFilter

    rng = np.random.default_rng(size)
    for shape in [(1, 1), (2, 7), (17, 5), (40, 33), (9, 70)]:
        a = rng.random(shape).astype(np.float32)
        for maximum, pil_filter in ((True, ImageFilter.MaxFilter), (False, ImageFilter.MinFilter)):
            expected = np.asarray(Image.fromarray(a, "F").filter(pil_filter(size)), np.float32)
            assert np.array_equal(preprocess.extreme_filter(a, size, maximum=maximum), expected)


@pytest.mark.parametrize("step", [1, 2, 3, 5])
def test_block_extremes_equal_numpys_reduction_over_the_blocks(step):
    from realtime.pipeline.filters import block_extreme

    a = np.random.default_rng(step).random((step * 7, step * 4)).astype(np.float32)
    blocks = a.reshape(7, step, 4, step)
    assert np.array_equal(block_extreme(a, step, maximum=True), blocks.max(axis=(1, 3)))
    assert np.array_equal(block_extreme(a, step, maximum=False), blocks.min(axis=(1, 3)))
    mask = a > 0.8
    assert np.array_equal(block_extreme(mask, step, maximum=True), mask.reshape(7, step, 4, step).any(axis=(1, 3)))


def test_histogram_quantiles_agree_with_numpy_to_a_thousandth():
    values = np.random.default_rng(3).beta(0.5, 2.0, 20_000).astype(np.float32)
    percents = (0.5, 10, 50, 90, 99.5)
    ours = preprocess.quantiles(values, percents)
    assert np.allclose(ours, np.percentile(values, percents), atol=0.0015)


@pytest.mark.parametrize("size", [1, 2, 57, 2_999, 3_001, 40_000])
def test_quantiles_by_selection_and_by_histogram_are_the_same_bins(size):
    rng = np.random.default_rng(size)
    flat = np.full(size, 0.75, np.float32)  # ties, and values past both ends of [0, 1]
    flat[: size // 2] = rng.beta(0.5, 2.0, size // 2)
    flat[: size // 9] = rng.uniform(-0.2, 1.2, size // 9)
    values = rng.permutation(flat).reshape(1, -1)
    percents = (0.5, 10, 50, 90, 99.5)
    together = preprocess.quantiles(values, percents)  # a histogram beyond 3,000 values
    one_by_one = [preprocess.quantiles(values, (p,))[0] for p in percents]  # always selection
    counted = preprocess.quantiles(values, percents, extra=(0.75, 0)) + preprocess.quantiles(
        values[:, 1:], percents, extra=(float(values[0, 0]), 1))  # the extra value is counted too
    ordered = np.sort(values.ravel())
    exact = [float(np.clip(np.floor(ordered[int(p / 100 * (size - 1))] * np.float32(1023) + np.float32(0.5)),
                           0, 1023)) / 1023 for p in percents]
    assert together == one_by_one == exact
    assert counted == together + together


@pytest.mark.parametrize("size", [1, 300, 40_000])
def test_quantiles_of_8_bit_levels_are_those_of_the_pixels_they_make(size):
    from realtime.pipeline.filters import level_quantiles

    levels = np.random.default_rng(size).integers(0, 256, size).astype(np.uint8)
    levels[: size // 2] = 247  # a background level
    pixels = levels.astype(np.float32) / 255.0  # as `Gray` holds them
    percents = (0.5, 50, 99.5)
    for extra in ((0.0, 0), (247 / 255, 5_000), (0.0, 1)):
        assert level_quantiles(levels, percents, extra) == preprocess.quantiles(pixels, percents, extra)


@pytest.mark.parametrize("shape", [(28, 28), (1, 1), (3, 70)])
def test_gray_png_decodes_to_the_same_pixels(shape):
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    decoded = Image.open(io.BytesIO(gray_png(pixels)))
    decoded.load()  # a bad CRC or zlib stream fails here
    assert decoded.mode == "L"
    assert np.array_equal(np.asarray(decoded), pixels)


def _window_cases() -> dict[str, Image.Image]:
    from bench import images

    cases = {f"{kind} {size}": images.canvas_export(3, kind, size, scale=0.5, offset=(0.3, 0.1))
             for kind in images.CANVAS_KINDS for size in (280, 1000)}
    mostly_ink = Image.new("L", (40, 30), 255)
    mostly_ink.paste(0, (3, 2, 37, 28))  # the ink, not the paper, is the median level
    cases["mostly ink"] = mostly_ink
    cases["one colour"] = Image.new("RGB", (300, 200), (20, 40, 200))
    cases["wide 2000x300"] = images.canvas_export(7, "rgb", 2000, scale=0.12, offset=(0.5, 0.02)).crop(
        (0, 0, 2000, 300))
    cases["photo"] = Image.open(io.BytesIO(images.photo_jpeg(800, 600)))
    return cases


@pytest.mark.parametrize("name", list(_window_cases()))
def test_working_on_the_marks_window_gives_what_the_whole_picture_gives(name, monkeypatch):
    """The speed-up of whole canvas exports (docs/performance.md) changes no input to the model."""
    picture = _window_cases()[name]
    if name not in ("one colour", "photo"):  # these two have nothing to leave out
        assert preprocess._gray_on_white(picture).border_pixels > 0  # the window is what is compared
    windowed = preprocess.prepare_image(picture)
    monkeypatch.setattr(preprocess, "_marks_window", lambda image, factor: None)
    whole = preprocess.prepare_image(picture)
    assert windowed.blank == whole.blank
    assert np.array_equal(windowed.x, whole.x)


@pytest.mark.parametrize("ink", [(0, 0, 0), (0, 0, 1), (200, 30, 90)])
def test_a_windows_reduction_is_pillows_whatever_the_inks_colour(ink):
    """Black ink on a transparent canvas is reduced through its alpha band alone: the same pixels."""
    from bench import images

    drawn = np.asarray(images.canvas_export(4, "rgba", 1000, scale=0.6, offset=(0.2, 0.1)))
    pixels = drawn.copy()
    pixels[..., :3] = np.where(drawn[..., 3:] > 0, ink, 0)
    picture = Image.fromarray(pixels, "RGBA")
    factor = preprocess._reduction(picture.size)
    window = preprocess._marks_window(picture, factor)
    assert factor == 2 and window is not None
    ours, coverage_only = preprocess._window_of(picture, factor, window)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preprocess, "_colourless", lambda image: False)
        pillows, whole = preprocess._window_of(picture, factor, window)  # Pillow's reduction of every band
    assert coverage_only == (ink == (0, 0, 0)) and not whole and pillows.mode == "RGBA"
    if coverage_only:
        assert ours.mode == "L" and not np.asarray(pillows)[..., :3].any()
        assert np.array_equal(np.asarray(ours), np.asarray(pillows.getchannel("A")))
    else:
        assert np.array_equal(np.asarray(ours), np.asarray(pillows))


@pytest.mark.parametrize("size", [280, 1000])
def test_black_ink_on_transparent_gives_what_the_whole_composite_gives(size):
    """The alpha-only route through `_gray_on_white` makes the same grey picture as the full composite."""
    from bench import images

    picture = images.canvas_export(8, "rgba", size, scale=0.5, offset=(0.3, 0.2), pen=0.04)
    seen, colourless = [], preprocess._colourless
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preprocess, "_colourless", lambda image: seen.append(colourless(image)) or seen[-1])
        ours = preprocess._gray_on_white(picture)
    assert seen == [True]  # the alpha-only route was taken
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preprocess, "_colourless", lambda image: False)
        composite = preprocess._gray_on_white(picture)
    assert ours.border_pixels > 0 and ours.levels is None
    assert np.array_equal(ours.pixels, composite.pixels)
    assert (ours.border_pixels, ours.border_level, ours.origin) == (
        composite.border_pixels, composite.border_level, composite.origin)


@pytest.mark.parametrize("size", [280, 1000])
def test_a_grey_rgb_export_gives_the_model_what_its_rgb_pixels_give(size):
    """A grey RGB PNG is decoded as its luminance (`pngdecode`): the same model input as Pillow's RGB picture."""
    from bench import images

    picture = images.canvas_export(3, "rgb", size, scale=0.6, offset=(0.2, 0.1))
    data = images.encode(picture)
    assert picture.mode == "RGB" and open_image(data).mode == "L"
    ours, pillows = prepare_bytes(data), preprocess.prepare_image(Image.open(io.BytesIO(data)))
    assert ours.blank == pillows.blank is False
    assert np.array_equal(ours.x, pillows.x)


@pytest.mark.parametrize("size", [700, 1000, 1500])
def test_a_picture_over_the_working_side_gives_nearly_what_its_thumbnail_gives(size):
    """Pictures over WORKING_SIDE are box-reduced by a whole factor (Pillow's `reduce`, docs/performance.md),
    no longer resampled to exactly WORKING_SIDE: the digit is then 320-640 px instead of 640, and its
    model input moves by a fraction of a pixel (tests/unit/test_model.py checks the answers stay)."""
    from bench import images

    for digit in range(10):
        picture = images.canvas_export(digit, "rgba", size, scale=0.7, offset=(0.15, 0.1))
        thumbnail = picture.copy()
        thumbnail.thumbnail((preprocess.WORKING_SIDE, preprocess.WORKING_SIDE), Image.Resampling.BOX)
        assert preprocess._reduction(picture.size) == -(-size // preprocess.WORKING_SIDE)
        ours, theirs = preprocess.prepare_image(picture).x, preprocess.prepare_image(thumbnail).x
        # Centring by mass rounds to whole pixels, and fitting into 20x20 to whole pixels too: the same digit
        # may land a pixel apart, or a pixel wider (a mean difference of about 0.05 then, 0.002-0.008 otherwise).
        apart = min(np.abs(np.roll(ours, (dy, dx), axis=(0, 1)) - theirs).mean()
                    for dy in (-1, 0, 1) for dx in (-1, 0, 1))
        assert apart < 0.05


def test_black_ink_barely_lighter_than_an_opaque_black_canvas_is_read_as_the_whole_composite_reads_it():
    """Alpha-only and opaque at once: marks of alpha 252 on a black canvas of alpha 255 (both colourless)."""
    pixels = np.zeros((300, 300, 4), np.uint8)
    pixels[..., 3] = 255
    pixels[100:200, 140:160, 3] = 252
    picture = Image.fromarray(pixels, "RGBA")
    ours = preprocess.prepare_image(picture)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preprocess, "_colourless", lambda image: False)
        composite = preprocess.prepare_image(picture)
    assert ours.blank == composite.blank and np.array_equal(ours.x, composite.x)


@pytest.mark.parametrize("shape", [(0,), (1,), (13, 7), (128, 101)])
def test_level_counts_are_numpys_bincount(shape):
    from realtime.pipeline.filters import level_counts

    levels = np.random.default_rng(3).integers(0, 256, shape).astype(np.uint8)
    levels.ravel()[: levels.size * 3 // 4] = 255  # mostly background, as pictures are
    assert np.array_equal(level_counts(levels), np.bincount(levels.ravel(), minlength=256))


@pytest.mark.parametrize("size", [280, 1000])
def test_a_transparent_export_decoded_as_its_alpha_gives_the_model_what_its_rgba_pixels_give(size):
    """`prepare_bytes` asks the decoder for the alpha band alone of black ink on transparent; the teaching
    lens's plain view (`open_image` as it is) still gets the RGBA picture, which a tutorial reads as black."""
    from bench import images
    from realtime.pipeline.pngdecode import BLACK_INK_ALPHA

    data = images.encode(images.canvas_export(8, "rgba", size, scale=0.5, offset=(0.3, 0.2)))  # few filter runs
    assert open_image(data, black_ink_alpha=True).info.get(BLACK_INK_ALPHA) and open_image(data).mode == "RGBA"
    ours, pillows = prepare_bytes(data), preprocess.prepare_image(Image.open(io.BytesIO(data)))
    assert ours.blank == pillows.blank is False
    assert np.array_equal(ours.x, pillows.x)
