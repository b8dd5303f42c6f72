"""Getting the input out of an HTTP request or a Socket.IO snapshot: image bytes or a drawing's
strokes, or a clear InputError."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Request

from ..pipeline.errors import InputError
from ..pipeline.imaging import decode_base64_image
from ..pipeline.strokes import Strokes, validate_strokes


@dataclass(frozen=True)
class Drawing:
    """A drawing sent as strokes (pad coordinates) with the pad's size, already validated."""

    strokes: Strokes
    size: tuple[float, float]


@dataclass(frozen=True)
class Snapshot:
    """One `snapshot` event: exactly one of `image` (bytes to decode) and `drawing` is set."""

    seq: int
    image: bytes | None = None
    drawing: Drawing | None = None


def image_from_request(request: Request) -> bytes | Drawing:
    """The forms of POST /api/predict: multipart field `image`, JSON `image` (or JSON `strokes` and
    `size`, what the page's offline fallback sends), raw image/*."""
    mimetype = request.mimetype or ""
    if mimetype == "multipart/form-data":
        upload = request.files.get("image")
        if upload is None:
            raise InputError("missing_field", "Send the picture in the multipart field 'image'.")
        data = upload.read()
        if not data:
            raise InputError("empty_image", "The uploaded file is empty.")
        return data
    if mimetype == "application/json" or mimetype.endswith("+json"):
        body = _json_body(request)
        if isinstance(body, dict) and "strokes" in body:
            return _drawing(body)
        if not isinstance(body, dict) or "image" not in body:
            raise InputError("missing_field", 'Send JSON of the form {"image": "<data URL or base64>"}.')
        return decode_base64_image(body["image"])
    if mimetype.startswith("image/"):
        data = request.get_data(cache=False)
        if not data:
            raise InputError("empty_body", "The request body is empty.")
        return data
    if not mimetype and not request.content_length:
        raise InputError("empty_body", "The request has no body: send an image.", 415)
    shown = mimetype or "no content type"
    raise InputError("unsupported_media_type",
                     f"Cannot read {shown}: send multipart/form-data, application/json or image/*.", 415)


def _json_body(request: Request) -> Any:
    """The parsed JSON body. Not `request.get_json(silent=True)`: that lets a RecursionError
    (a body of 100,000 nested brackets) through as a 500; any unreadable body is a 400 here."""
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH, werkzeug answers 413 here
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError too
        raise InputError("invalid_json", "The body is not valid JSON.") from exc


def _drawing(body: dict) -> Drawing:
    if "image" in body:
        raise InputError("image_and_strokes", "Send either 'image' or 'strokes', not both.")
    if "size" not in body:
        raise InputError("missing_field", "Strokes need the pad's 'size': [width, height].")
    return Drawing(*validate_strokes(body["strokes"], body["size"]))


def snapshot_from_message(message: Any, max_bytes: int) -> Snapshot:
    """The `snapshot` event's seq and its image bytes or strokes, checking every field's type and size."""
    if not isinstance(message, dict):
        raise InputError("invalid_snapshot",
                         'A snapshot is an object {"seq": <int>, "image": <data URL or bytes>} '
                         'or {"seq": <int>, "strokes": [...], "size": [w, h]}.')
    seq = message.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise InputError("invalid_seq", "A snapshot needs an integer 'seq' that increases with every frame.")
    if "strokes" in message:
        return Snapshot(seq, drawing=_drawing(message))
    return Snapshot(seq, image=_snapshot_image(message.get("image"), max_bytes))


def _snapshot_image(image: Any, max_bytes: int) -> bytes:
    if isinstance(image, str):
        if len(image) > max_bytes * 4 // 3 + 256:
            raise InputError("frame_too_large", f"A snapshot image may be at most {max_bytes:,} bytes.", 413)
        data = decode_base64_image(image)
    elif isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        if not data:
            raise InputError("empty_image", "The snapshot image is empty.")
    elif image is None:
        raise InputError("missing_field", "A snapshot needs an 'image' (data URL string or PNG bytes) or 'strokes'.")
    else:
        raise InputError("invalid_image_field", "The snapshot 'image' must be a data URL string or bytes.")
    if len(data) > max_bytes:
        raise InputError("frame_too_large", f"A snapshot image may be at most {max_bytes:,} bytes.", 413)
    return data
