"""HTTP for the teaching lens: `POST /api/layers`, and reading the `explain` flag of a request."""

from __future__ import annotations

import json

import numpy as np
from flask import Blueprint, current_app, jsonify, request

from ..pipeline.errors import InputError
from ..pipeline.imaging import ImageLimits, decode_base64_image, open_image
from ..pipeline.preprocess import FIELD, prepare_bytes
from .inputs import form_fields, image_from_request

bp = Blueprint("lens", __name__)
TRUE_WORDS = {"1", "true", "yes", "on"}


def explain_requested(request) -> bool:
    """`?explain=1`, a form field `explain`, or `"explain": true` in a JSON body."""
    flag = request.args.get("explain")
    if flag is None and request.mimetype == "multipart/form-data":
        value = form_fields(request).get("explain")
        flag = None if value is None else value.decode("utf-8", "replace")
    if flag is not None:
        return flag.strip().lower() in TRUE_WORDS
    if request.is_json:
        raw = request.get_data(cache=True)  # already read (and checked) by image_from_request
        if b'"explain"' in raw:  # only then is a second parse worth it
            body = _parse(raw)
            return isinstance(body, dict) and body.get("explain") is True
    return False


@bp.post("/api/layers")
def layers():
    """Feature maps of each convolution for one input: `{"input28": <the answer's data URL>}`
    (used as the model input itself), or a picture in any form /api/predict takes."""
    service = current_app.extensions["digits"]
    limits = ImageLimits(current_app.config["MAX_IMAGE_PIXELS"], current_app.config["MAX_IMAGE_SIDE"])
    x = _model_input(limits, service.run_blocking)
    if x is None:
        return jsonify(blank=True, layers=[])
    payload = service.run_blocking(service.layers.payload, x, current_app.config["LAYER_MAPS_SHOWN"])
    return jsonify(blank=False, **payload)


def _model_input(limits: ImageLimits, run_blocking) -> np.ndarray | None:
    if request.is_json:
        raw = request.get_data(cache=True)
        if b'"input28"' in raw:
            body = _parse(raw)
            if isinstance(body, dict) and isinstance(body.get("input28"), str):
                return _input28(body["input28"], limits)
    prepared = run_blocking(prepare_bytes, image_from_request(request), limits)
    return None if prepared.blank else prepared.x


def _input28(text: str, limits: ImageLimits) -> np.ndarray | None:
    """A 28x28 picture taken as the model input as it is (white ink on black); None when empty."""
    image = open_image(decode_base64_image(text), limits)
    if image.size != (FIELD, FIELD):
        raise InputError("invalid_input28", f"'input28' must be a {FIELD}x{FIELD} picture, as answers carry it.")
    x = np.asarray(image.convert("L"), np.float32) / 255.0
    return None if x.max() <= 0 else x


def _parse(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InputError("invalid_json", "The body is not valid JSON.") from exc
