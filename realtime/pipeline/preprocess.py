"""Image to model input, the way MNIST was made.

MNIST digits are white ink on black, cropped to the ink, fitted into a 20x20 box
keeping the aspect ratio (anti-aliased), then placed in a 28x28 field so that
their centre of mass is in the middle. A drawing or a photo only reads right
if it goes through the same steps, so every input does, and so does every
training image (see `normalize_ink`).

Two stages, both pure:
- `ink_map`: any picture (polarity, alpha, colour, uneven light, paper noise)
  to an "ink" array in [0, 1] where 1 is ink and 0 is background.
- `normalize_ink`: an ink array of any size to the 28x28 model input.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops

from .filters import (
    LEVEL_VALUES,
    block_extreme,
    blur3,
    clip_unit,
    extreme_filter,
    level_counts,
    level_quantiles,
    neighbours,
    pad_zeros,
    quantiles,
)
from .imaging import ImageLimits, gray_png, open_image
from .pngdecode import BLACK_INK_ALPHA

FIELD = 28
BOX = 20
WORK = 80  # strokes are measured and thickened at 4x the 20-pixel box
WORKING_SIDE = 640  # pictures are box-reduced by a whole factor to this or under before the ink is found
ENVELOPE_SIDE = 640  # a photo's lighting is estimated at up to this resolution (short side)
MARK_STEP = 0.004  # a pixel this far from the background level is a mark (about 1/255)
PHOTO_DARK_BIAS = 1.5  # how much more a light tail must stand out in a photo to be taken for ink
# Stroke width, in pixels of the 80-pixel working box, as found on MNIST's own
# digits by `stroke_width` (about the 7th, 45th and 97th percentile of the training set).
STROKE_MIN, STROKE_TARGET, STROKE_MAX = 5.5, 7.5, 13.0


@dataclass(frozen=True)
class Prepared:
    """The model input (28x28 float32, white ink on black in [0, 1])."""

    x: np.ndarray
    blank: bool

    def png(self) -> bytes:
        return to_png(self.x)

    def data_url(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png()).decode("ascii")


def blank_input() -> Prepared:
    """What a picture without ink gives: an empty field, marked blank."""
    return Prepared(np.zeros((FIELD, FIELD), np.float32), True)


def prepare_bytes(data: bytes, limits: ImageLimits | None = None) -> Prepared:
    """Encoded image bytes in, model input out: the whole serving pipeline."""
    return prepare_image(open_image(data, limits or ImageLimits(), black_ink_alpha=True))


def prepare_image(image: Image.Image) -> Prepared:
    ink = ink_map(image)
    if ink is None:
        return blank_input()
    return normalize_ink(ink)


def to_png(x: np.ndarray) -> bytes:
    levels = x * np.float32(255)
    levels += np.float32(0.5)
    return gray_png(np.minimum(np.maximum(levels, 0, out=levels), 255, out=levels).astype(np.uint8))


# --- stage 1: picture to ink -------------------------------------------------

@dataclass(frozen=True)
class Gray:
    """A picture's luminance in [0, 1]: the part that holds every mark, and the one-level border around it.

    A canvas export or a scan is mostly one background colour. Finding the marks' box first, in
    Pillow's C routines on the 8-bit picture, lets every float step run on the marks only; the
    border's pixels still count in the picture's statistics (`_levels`, `_flat_background`).
    """

    pixels: np.ndarray
    border_pixels: int = 0  # at the working scale
    border_level: float = 0.0
    origin: tuple[int, int] = (0, 0)  # where `pixels` sit in the whole reduced picture (row, column)
    whole_shape: tuple[int, int] | None = None  # that picture's (height, width); None: `pixels` are all of it
    levels: np.ndarray | None = None  # an opaque picture's 8-bit luminance (`pixels` * 255): counted directly
    level_counts: np.ndarray | None = None  # how many of `levels` are at each of the 256 (`filters.level_counts`)


def ink_map(image: Image.Image) -> np.ndarray | None:
    """Ink in [0, 1] (1 = ink) at up to WORKING_SIDE pixels, or None when there is no ink."""
    gray = _gray_on_white(image)
    # Most of a picture is background, so the median is its level; ink is the far tail.
    # (The border is no guide: photos have tables and paper edges there.)
    low, background, high = _levels(gray)
    if gray.border_pixels and abs(gray.border_level - background) > MARK_STEP:
        gray = _gray_on_white(image, whole=True)  # mostly ink: the border itself differs from the background
    if _flat_background(gray, background):
        marks = _crop_to_marks(gray.pixels, background)  # one level everywhere: only what differs matters
        if marks is None:
            return None
        dark_ink = background - low >= high - background
        return _clean(_ink(marks, np.float32(background), dark_ink), photographed=False)
    if gray.border_pixels:  # a photo in a one-colour frame: its lighting is judged on the whole picture
        gray = _gray_on_white(image, whole=True)
    # Photos are nearly always dark ink on paper, and a hand's shadow over most of the page
    # makes the bare paper look like a light tail: light ink must stand out clearly more.
    dark_ink = PHOTO_DARK_BIAS * (background - low) >= high - background
    # The paper's level is found locally (see `_envelope`), so uneven light and shadows divide out.
    return _clean(_ink(gray.pixels, _envelope(gray.pixels, dark_ink), dark_ink), photographed=True)


def _levels(gray: Gray) -> tuple[float, float, float]:
    """The 0.5%, 50% and 99.5% levels of the whole picture (the border included); if little stands out
    from the median, the extremes instead."""
    height, width = gray.whole_shape or gray.pixels.shape
    step = int(np.sqrt(height * width / 40_000)) + 1  # a 40k-pixel sample says as much, for less
    top, left = gray.origin  # the whole picture's sample grid, of which the border holds the rest
    grid = (slice(-top % step, None, step), slice(-left % step, None, step))
    border = (gray.border_level, -(-height // step) * -(-width // step) - gray.pixels[grid].size)
    if gray.levels is None:
        low, background, high = quantiles(gray.pixels[grid], (0.5, 50, 99.5), border)
    else:  # the window's histogram when the sample is all of it
        counts = gray.level_counts if step == 1 else None
        low, background, high = level_quantiles(gray.levels[grid], (0.5, 50, 99.5), border, counts)
    if max(background - low, high - background) < 0.1:  # very little ink: look at the extremes
        low, high = float(gray.pixels.min()), float(gray.pixels.max())
        if gray.border_pixels:
            low, high = min(low, gray.border_level), max(high, gray.border_level)
    return low, background, high


def _ink(gray: np.ndarray, level: np.ndarray | np.float32, dark_ink: bool) -> np.ndarray:
    """Dark ink: the paper's reflectance divides out the light. Light ink: chalk adds to the board."""
    if dark_ink:
        return np.clip(1.0 - gray / np.maximum(level, 0.04), 0.0, 1.0)
    return np.clip((gray - level) / np.maximum(1.0 - level, 0.04), 0.0, 1.0)


_HIGH_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_CROPPED_MODES = frozenset({"L", "LA", "RGB", "RGBA"})  # modes whose pixels `_marks_box` compares directly


def _gray_on_white(image: Image.Image, whole: bool = False) -> Gray:
    """Luminance in [0, 1] at up to WORKING_SIDE pixels; a transparent background becomes the colour
    that contrasts with the ink.

    Unless `whole`, only the window of the reduced picture that holds the marks is made (see `Gray`):
    exactly those pixels of the whole reduced picture, which are computed from their own source pixels.
    """
    if image.mode in _HIGH_BIT_MODES:
        values = np.asarray(image, np.float32)
        scale = 65535.0 if values.max() > 255 else 255.0
        image = Image.fromarray(np.clip(values / scale * 255, 0, 255).astype(np.uint8), "L")
    black_ink = image.info.get(BLACK_INK_ALPHA, False)  # only the alpha band of black ink on transparent
    has_alpha = black_ink or image.mode in {"RGBA", "RGBa", "LA", "La", "PA"} or (
        image.mode == "P" and "transparency" in image.info)
    target = "RGBA" if has_alpha else "L"
    if image.mode not in _CROPPED_MODES:
        image = image.convert(target)
    factor = _reduction(image.size)
    size = (-(-image.width // factor), -(-image.height // factor))
    window = None if whole else _marks_window(image, factor)
    coverage_only = black_ink  # only the alpha band is made: the picture is black wherever it is not transparent
    if window is None:
        corner, border_pixels = None, 0
        if image.mode != target and not black_ink:
            image = image.convert(target)
        if factor > 1:
            image = image.reduce(factor)
    else:
        corner = (0, 0, 0, image.getpixel((0, 0))) if black_ink else image.getpixel((0, 0))
        image, coverage_only = _window_of(image, factor, window)
        if not coverage_only and image.mode != target:
            image = image.convert(target)
        border_pixels = size[0] * size[1] - image.width * image.height
    placed = ((window[1], window[0]), (size[1], size[0])) if window is not None else ((0, 0), None)
    corner_gray, corner_alpha = _pixel_gray_alpha(corner, target) if corner is not None else (0.0, 1.0)
    if not coverage_only:
        # Pillow's luma (ITU-R 601-2: 0.299 R + 0.587 G + 0.114 B) in C.
        levels = np.asarray(image.convert("L") if has_alpha else image)
        coverage = image.getchannel("A") if has_alpha else None
    else:
        levels, coverage = np.zeros((image.height, image.width), np.uint8), image
    opaque = coverage is None or (coverage.getextrema()[0] > 250 and (
        border_pixels == 0 or corner_alpha > 250 / 255))
    if opaque:
        return Gray(levels.astype(np.float32) / 255.0, border_pixels, corner_gray, *placed, levels=levels,
                    level_counts=level_counts(levels))
    alpha = np.asarray(coverage, np.float32) / 255.0
    transparent = (np.count_nonzero(alpha < 0.5) + (border_pixels if corner_alpha < 0.5 else 0)) / (
        alpha.size + border_pixels)
    weight = float(alpha.sum()) + border_pixels * corner_alpha
    shaded = None if coverage_only else levels.astype(np.float32) / 255.0 * alpha
    inked = (float(shaded.sum()) if shaded is not None else 0.0) + border_pixels * corner_gray * corner_alpha
    ink_luminance = inked / weight if weight > 0 else 0.0
    backdrop = 0.0 if transparent >= 0.25 and ink_luminance >= 0.5 else 1.0
    level = np.float32(corner_gray) * np.float32(corner_alpha) + backdrop * (1 - np.float32(corner_alpha))
    behind = backdrop * (1.0 - alpha)
    return Gray(behind if shaded is None else shaded + behind, border_pixels, float(level), *placed)


def _reduction(size: tuple[int, int]) -> int:
    """The smallest whole factor that brings the long side to WORKING_SIDE or under.

    Pictures are box-reduced by it with Pillow's `reduce` (each block of factor x factor pixels averaged,
    the last ones cut by the picture's edge): in C, several times cheaper than resampling by a fraction,
    and a window of the reduced picture is then exactly the reduction of its own blocks.
    """
    return max(1, -(-max(size) // WORKING_SIDE))


def _marks_window(image: Image.Image, factor: int) -> tuple[int, int, int, int] | None:
    """The box of the picture reduced by `factor` whose pixels hold every mark, with one pixel of border
    around it; None when there is no one-colour border to leave out (corners that differ, marks everywhere)."""
    width, height = -(-image.width // factor), -(-image.height // factor)
    marks = _marks_box(image)
    if marks is None:
        return None
    left, top, right, bottom = marks
    window = (max(left // factor - 1, 0), max(top // factor - 1, 0),
              min(-(-right // factor) + 1, width), min(-(-bottom // factor) + 1, height))
    return None if window == (0, 0, width, height) else window


def _window_of(image: Image.Image, factor: int,
               window: tuple[int, int, int, int]) -> tuple[Image.Image, bool]:
    """Pixels `window` of `image` reduced by `factor`, from the source blocks under them only, and whether
    only their alpha band was made (an RGBA picture black wherever it is not transparent)."""
    left, top, right, bottom = window
    source = (left * factor, top * factor, min(right * factor, image.width), min(bottom * factor, image.height))
    under, coverage_only = _alpha_if_colourless(image.crop(source))
    return (under.reduce(factor) if factor > 1 else under), coverage_only


def _alpha_if_colourless(image: Image.Image) -> tuple[Image.Image, bool]:
    """The alpha band alone of an RGBA picture black wherever it is not transparent (a canvas's defaults),
    and True, also when the decoder gave that band alone (`BLACK_INK_ALPHA`); any other picture as it is,
    and False.

    Such a picture's luminance is 0 under its coverage, and Pillow's RGBA resize premultiplies by alpha,
    resamples all four bands alike and divides back: its alpha reduces as the band alone does. One band
    is the same picture for a quarter of the work.
    """
    if image.info.get(BLACK_INK_ALPHA, False):  # decoded as its alpha band alone (`pngdecode`)
        return image, True
    if image.mode == "RGBA" and _colourless(image):
        return image.getchannel("A"), True
    return image, False


def _colourless(image: Image.Image) -> bool:
    """Whether every pixel of an RGBA picture has red, green and blue 0 (any alpha)."""
    pixels = np.asarray(image).view("<u4")  # one little-endian word per pixel: R in the low byte, A in the high
    return not (pixels & 0x00FFFFFF).any()


def _marks_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """The bounding box of every pixel that differs from the picture's corners, when all four corners are
    one colour (None otherwise). A picture of one colour gives a one-pixel box.

    Computed in C: the difference from a picture of the corner colour, and its `getbbox`.
    """
    width, height = image.size
    corners = {image.getpixel(p) for p in ((0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1))}
    if len(corners) != 1:
        return None
    corner = corners.pop()
    if any(corner if isinstance(corner, tuple) else (corner,)):
        image = ImageChops.difference(image, Image.new(image.mode, image.size, corner))
    return image.getbbox(alpha_only=False) or (0, 0, 1, 1)


@functools.lru_cache(maxsize=64)
def _pixel_gray_alpha(pixel: int | tuple, mode: str) -> tuple[float, float]:
    """One pixel's luminance and alpha in [0, 1], converted exactly as the picture's other pixels.

    Remembered: it is a picture's corner, and most pictures' corners are one of a few colours.
    """
    values = pixel if isinstance(pixel, tuple) else (pixel,)
    source = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[len(values)]
    dot = Image.new(source, (1, 1), values if len(values) > 1 else values[0]).convert(mode)
    luminance = dot.convert("L").getpixel((0, 0)) if mode == "RGBA" else dot.getpixel((0, 0))
    alpha = dot.getchannel("A").getpixel((0, 0)) if mode == "RGBA" else 255
    return luminance / 255.0, alpha / 255.0


def _crop_to_marks(gray: np.ndarray, background: float) -> np.ndarray | None:
    """The part of a flat picture that differs from its background, with a one-pixel margin.

    A drawing pad is mostly empty; cropping first makes every later step work on the marks only.
    """
    marked = np.abs(gray - background) > MARK_STEP
    rows, cols = np.flatnonzero(marked.any(axis=1)), np.flatnonzero(marked.any(axis=0))
    if rows.size == 0:
        return None
    top, bottom = max(rows[0] - 1, 0), rows[-1] + 2
    left, right = max(cols[0] - 1, 0), cols[-1] + 2
    return gray[top:bottom, left:right]


def _flat_background(gray: Gray, background: float) -> bool:
    """A drawing pad's or a scan's background is one level; a photo's paper has light and grain.

    Judged on the pixels near the background level only, so that a tight crop that is
    mostly ink (the page sends the ink's bounding box) still counts as flat.
    """
    border = abs(gray.border_level - background)
    if gray.level_counts is None:
        distance = np.abs(gray.pixels - background)
        near, flat = np.count_nonzero(distance <= 0.25), np.count_nonzero(distance <= MARK_STEP)
    else:  # each of the 256 levels once, as the pixels hold them, weighted by how many pixels have it
        distance = np.abs(LEVEL_VALUES - background)
        near = int(gray.level_counts[distance <= 0.25].sum())
        flat = int(gray.level_counts[distance <= MARK_STEP].sum())
    near += gray.border_pixels if border <= 0.25 else 0
    flat += gray.border_pixels if border <= MARK_STEP else 0
    return flat >= 0.6 * max(near, 1)


def _envelope(gray: np.ndarray, dark_ink: bool) -> np.ndarray:
    """The paper's (or board's) level under uneven light: a morphological closing (an opening for light ink).

    Strokes narrower than the window vanish; shadows and lighting gradients, which are
    wider, stay, and a closing keeps a shadow's hard edge where it is, so it is not
    mistaken for a stroke. Computed at up to ENVELOPE_SIDE pixels.
    """
    height, width = gray.shape
    step = -(-min(height, width) // ENVELOPE_SIDE)
    h, w = height // step * step or height, width // step * step or width
    blocks = gray[:h, :w]
    if step > 1:
        blocks = block_extreme(blocks, step, maximum=dark_ink)
    size = max(3, (min(blocks.shape) // 6) | 1)
    pad = size  # edge-replicated margin: a closing then leaves a light gradient exactly as it is
    padded = np.pad(blocks.astype(np.float32), pad, mode="edge")
    closed = extreme_filter(extreme_filter(padded, size, maximum=dark_ink), size, maximum=not dark_ink)
    level = np.ascontiguousarray(closed[pad:-pad, pad:-pad])
    if level.shape == gray.shape:
        return level
    return np.asarray(Image.fromarray(level, "F").resize((width, height), Image.Resampling.BILINEAR), np.float32)


def _clean(ink: np.ndarray, photographed: bool) -> np.ndarray | None:
    """Drop paper grain and specks, stretch strokes to full strength; None if nothing is left."""
    if not photographed or np.count_nonzero(ink) * 2 < ink.size:  # a clean background: no grain
        floor = spread = 0.0
    else:
        floor = quantiles(ink, (50,))[0]
        spread = 1.4826 * quantiles(np.abs(ink - floor), (50,))[0]
    threshold = floor + max(0.1, 6.0 * spread)
    strong = ink > threshold
    if np.count_nonzero(strong) < 4:
        return None
    core = quantiles(ink[strong], (90,))[0]
    if core - floor < 0.2:
        return None
    ink = ink - threshold
    ink /= max(core - threshold, 1e-3)
    clip_unit(ink)
    ink *= neighbours(ink > 0) >= 3  # a pixel with fewer than two inked neighbours is a speck: 0
    if photographed:
        ink = _drop_border_clutter(ink)
    if np.count_nonzero(ink) < 4:
        return None
    return ink


def _drop_border_clutter(ink: np.ndarray) -> np.ndarray:
    """Remove ink connected to a photo's edge (paper edges, ruled lines, a table).

    People centre what they photograph; what touches the frame is usually clutter. In a
    tight crop the digit itself touches the frame and little else is left: then it stays.
    """
    mask = ink > 0
    if not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()):
        return ink
    height, width = mask.shape
    step = max(1, max(height, width) // 160)  # flood at low resolution: cheap and good enough
    h, w = -(-height // step) * step, -(-width // step) * step
    padded = np.zeros((h, w), bool)
    padded[:height, :width] = mask
    small = block_extreme(padded, step, maximum=True)
    reached = _touching_frame(small)
    clutter = np.repeat(np.repeat(reached, step, axis=0), step, axis=1)[:height, :width] & mask
    rest = ink[mask & ~clutter]
    if rest.size < 40 or rest.sum() < 0.05 * ink.sum():
        return ink  # nothing digit-sized is left: the digit is what touches the frame
    return np.where(clutter, 0.0, ink).astype(np.float32)


def _touching_frame(mask: np.ndarray) -> np.ndarray:
    """The parts of `mask` 4-connected to its outer rows and columns.

    One labelling pass (SciPy, in C), linear in the pixels: it was a flood by repeated whole-array
    dilation, one pass per pixel of the longest path, and a 1-pixel serpentine touching the frame
    made that 50,000 passes (6 s for a 573-byte PNG). Same result: `ndimage.label`'s default
    structure is the cross the dilation used. Imported here: SciPy adds 27 MB to every process that
    loads it, and only photos whose ink touches the frame need it.
    """
    from scipy import ndimage

    labels, count = ndimage.label(mask)
    if count == 0:
        return np.zeros_like(mask)
    edge = np.unique(np.concatenate((labels[0], labels[-1], labels[:, 0], labels[:, -1])))
    return np.isin(labels, edge[edge > 0])


# --- stage 2: ink to the 28x28 field -----------------------------------------

def normalize_ink(ink: np.ndarray) -> Prepared:
    """Crop to the ink, normalise stroke width, fit 20x20, centre by mass in 28x28."""
    crop = _crop_to_ink(ink)
    if crop is None:
        return blank_input()
    work = _to_work_box(crop)
    work = _normalize_stroke(work)
    box = _fit(work, BOX)
    return Prepared(_centre_by_mass(box), False)


def _crop_to_ink(ink: np.ndarray, trim: float = 0.002) -> np.ndarray | None:
    """The ink's bounding box, ignoring far-off specks that hold a sliver of the mass."""
    total = float(ink.sum())
    if total <= 0:
        return None
    rows, cols = ink.sum(axis=1), ink.sum(axis=0)
    top, bottom = _mass_span(rows, total * trim)
    left, right = _mass_span(cols, total * trim)
    return ink[top:bottom + 1, left:right + 1]


def _mass_span(profile: np.ndarray, margin: float) -> tuple[int, int]:
    cumulative = np.cumsum(profile)
    start = int(np.searchsorted(cumulative, margin, side="right"))
    end = int(np.searchsorted(cumulative, cumulative[-1] - margin, side="left"))
    return start, max(start, end)


def _to_work_box(crop: np.ndarray) -> np.ndarray:
    """Scale the crop so its long side is WORK pixels; thin lines survive big reductions."""
    height, width = crop.shape
    step = max(height, width) // (2 * WORK)
    if step > 1:  # max-pool first so a 1-pixel pen line is not averaged away
        h, w = -(-height // step) * step, -(-width // step) * step
        padded = np.zeros((h, w), np.float32)
        padded[:height, :width] = crop
        crop = block_extreme(padded, step, maximum=True)
    work = _fit(crop, WORK)
    inked = work[work > 0.05]
    peak = quantiles(inked, (95,))[0] if inked.size else 1.0
    return np.clip(work / max(peak, 0.05), 0.0, 1.0) if peak < 0.9 else work  # a faint hairline, at full strength


def _fit(ink: np.ndarray, side: int) -> np.ndarray:
    """Resize so the long side is `side`, keeping the aspect ratio, anti-aliased."""
    height, width = ink.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    resized = Image.fromarray(np.ascontiguousarray(ink, np.float32), "F").resize(size, method)
    return clip_unit(np.array(resized))


def stroke_width(work: np.ndarray) -> float:
    """Mean stroke width in pixels: twice the ink area over its outline length."""
    mask = work > 0.5
    area = np.count_nonzero(mask)
    if area == 0:
        return 0.0
    # Changes between neighbours, the picture's own edges counting as background.
    edges = (np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
             + np.count_nonzero(mask[0]) + np.count_nonzero(mask[-1])
             + np.count_nonzero(mask[:, 0]) + np.count_nonzero(mask[:, -1]))
    return 2.0 * area / max(edges, 1)


def _normalize_stroke(work: np.ndarray) -> np.ndarray:
    """Thicken hairlines and thin marker strokes into the range MNIST's pens drew."""
    width = stroke_width(work)
    if width < STROKE_MIN:
        grow = round((STROKE_TARGET - width) / 2) * 2 + 1
        margin = grow // 2 + 1  # room for the strokes on the bounding box to grow outwards too
        thick = blur3(extreme_filter(pad_zeros(work, margin), grow, maximum=True))
        return _crop_to_ink(np.where(thick > 0.02, thick, 0.0)) if thick.max() > 0 else work
    if width > STROKE_MAX:
        shrink = round((width - STROKE_MAX) / 2) * 2 + 1
        if shrink >= 3:
            thin = extreme_filter(work, shrink, maximum=False)
            if thin.max() > 0.5:
                return _crop_to_ink(thin)
    return work


def _centre_by_mass(box: np.ndarray) -> np.ndarray:
    """Paste the box into the 28x28 field with its centre of mass at the field's centre."""
    height, width = box.shape
    total = float(box.sum())
    ys, xs = np.indices(box.shape)
    cy = float((ys * box).sum() / total) if total else (height - 1) / 2
    cx = float((xs * box).sum() / total) if total else (width - 1) / 2
    top = round(CENTRE - cy)
    left = round(CENTRE - cx)
    field = np.zeros((FIELD, FIELD), np.float32)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + height, FIELD), min(left + width, FIELD)
    field[y0:y1, x0:x1] = box[y0 - top:y1 - top, x0 - left:x1 - left]
    return field


# MNIST's own digits have their centre of mass here (measured on the training set).
CENTRE = 14.0
