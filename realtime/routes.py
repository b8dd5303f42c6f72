"""HTTP routes: the page, health, model metadata and the upload/fallback prediction."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template, request

from .errors import InputError
from .imaging import ImageLimits
from .preprocess import prepare_bytes

bp = Blueprint("digits", __name__)


def _service():
    return current_app.extensions["digits"]


@bp.get("/")
def index():
    return render_template("index.html", model=_service().model_info)


@bp.get("/healthz")
def healthz():
    if not _service().scheduler.running:
        return jsonify(status="starting"), 503
    return jsonify(status="ok")


@bp.get("/api/model")
def model_info():
    return jsonify(_service().model_info)


@bp.get("/api/stats")
def stats():
    service = _service()
    return jsonify(scheduler=service.scheduler.stats.as_dict(), pending=service.scheduler.pending_count())


@bp.post("/api/predict")
def predict():
    from .inputs import image_from_request

    service = _service()
    data = image_from_request(request)
    limits = ImageLimits(current_app.config["MAX_IMAGE_PIXELS"], current_app.config["MAX_IMAGE_SIDE"])
    prepared = service.run_blocking(prepare_bytes, data, limits)
    try:
        payload = service.scheduler.answer_one(prepared, timeout=current_app.config["PREDICT_TIMEOUT_S"])
    except TimeoutError as exc:
        raise InputError("busy", "The server is too busy to answer now; try again.", 503) from exc
    return jsonify(payload)
