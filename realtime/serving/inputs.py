"""Getting the input out of an HTTP request or a Socket.IO snapshot: image bytes or a drawing's
strokes, or a clear InputError."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

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
        data = form_fields(request).get("image")
        if data is None:
            raise InputError("missing_field", "Send the picture in the multipart field 'image'.")
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


MAX_FORM_PARTS = 16  # a picture and a flag or two; a form of more parts is left to Werkzeug
_FIELDS = "realtime.form_fields"  # where a request's parsed fields are kept (its WSGI environ)


def form_fields(request: Request) -> dict[str, bytes]:
    """A multipart/form-data body's fields by name (the first part of each name), read once per request.

    Parsed by python-multipart rather than through `request.files`: Werkzeug compiles two regular
    expressions for each body's boundary, and every client's boundary is new, which cost 0.27 ms of the
    server's time for a canvas upload's form (python-multipart: 0.013 ms; docs/performance.md). A body
    it cannot read strictly (malformed, a delimiter without its line break as Werkzeug's own test client
    writes an empty file, more than MAX_FORM_PARTS parts) is read by Werkzeug as before, leniently.
    The body is read within MAX_CONTENT_LENGTH (413 beyond it), as `request.files` reads it.
    """
    if _FIELDS not in request.environ:
        boundary = parse_options_header(request.content_type or "")[1].get(b"boundary")
        fields = _strict_fields(request.get_data(cache=True), boundary) if boundary else {}
        if fields is None:  # Werkzeug parses the cached body again
            fields = {name: upload.read() for name, upload in request.files.items()}
            fields.update((name, value.encode()) for name, value in request.form.items() if name not in fields)
        request.environ[_FIELDS] = fields
    return request.environ[_FIELDS]


def _strict_fields(body: bytes, boundary: bytes) -> dict[str, bytes] | None:
    """The fields of a well-formed multipart body, or None."""
    parts: list[tuple[dict[bytes, bytes], list[bytes]]] = []
    name = bytearray()

    def begin() -> None:
        if len(parts) >= MAX_FORM_PARTS:
            raise _NotStrict
        parts.append(({}, []))

    def header_field(data: bytes, start: int, end: int) -> None:
        name.extend(data[start:end])

    def header_value(data: bytes, start: int, end: int) -> None:
        headers, key = parts[-1][0], bytes(name).lower()
        headers[key] = headers.get(key, b"") + data[start:end]

    def header_end() -> None:
        name.clear()

    def data(chunk: bytes, start: int, end: int) -> None:
        parts[-1][1].append(chunk[start:end])

    parser = MultipartParser(boundary, {"on_part_begin": begin, "on_header_field": header_field,
                                        "on_header_value": header_value, "on_header_end": header_end,
                                        "on_part_data": data})
    try:
        parser.write(body)
        parser.finalize()
    except (FormParserError, _NotStrict):
        return None
    fields: dict[str, bytes] = {}
    for headers, chunks in parts:
        value = b"".join(chunks)
        if b"--" + boundary in value:  # a delimiter without its line break: not strictly a boundary
            return None
        field = parse_options_header(headers.get(b"content-disposition", b""))[1].get(b"name", b"")
        fields.setdefault(field.decode("utf-8", "replace"), value)
    fields.pop("", None)
    return fields


class _NotStrict(Exception):
    """A body `_strict_fields` leaves to Werkzeug."""


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
