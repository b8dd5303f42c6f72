"""HTTP routes: the page, health, model metadata and the upload/fallback prediction."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request

from ..pipeline.errors import InputError
from ..pipeline.imaging import ImageLimits
from ..pipeline.preprocess import Prepared, prepare_bytes
from ..pipeline.strokes import prepare_strokes
from .explain import naive_of, picture_for
from .inputs import Drawing, image_from_request
from .lens_routes import explain_requested
from .results import prediction_payload
from .scheduler import InferenceScheduler, Job

bp = Blueprint("digits", __name__)
_upload_keys = itertools.count()  # each upload is its own "client" of the scheduler


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
    service = _service()
    data = image_from_request(request)
    limits = ImageLimits(current_app.config["MAX_IMAGE_PIXELS"], current_app.config["MAX_IMAGE_SIDE"])
    if isinstance(data, Drawing):
        prepared = prepare_strokes(data.strokes, data.size)  # bounded and sub-millisecond: no thread needed
    else:
        prepared = service.run_blocking(prepare_bytes, data, limits)
    explain = None
    if explain_requested(request) and not prepared.blank:
        naive_x = service.run_blocking(naive_of, picture_for(data, limits))
        explain = partial(service.explainer.explain, naive_x=naive_x)
    try:
        payload = answer_one(service.scheduler, prepared, timeout=current_app.config["PREDICT_TIMEOUT_S"],
                             explain=explain)
    except TimeoutError as exc:
        raise InputError("busy", "The server is too busy to answer now; try again.", 503) from exc
    return jsonify(payload)


def answer_one(scheduler: InferenceScheduler, prepared: Prepared, timeout: float,
               explain: Callable[[dict, Prepared], dict] | None = None) -> dict:
    """Predict one prepared upload, waiting for the batch it joins (and its explanation, if asked)."""
    if prepared.blank:
        return prediction_payload(prepared, None, 0.0)
    done = threading.Event()  # green under eventlet: the answer comes back on the loop
    answer: dict[str, Any] = {}

    def deliver(payload: dict | None, error: InputError | None) -> None:
        answer.update(payload=payload, error=error)
        done.set()

    scheduler.submit(Job(key=("http", next(_upload_keys)), deliver=deliver, prepared=prepared, explain=explain))
    if not done.wait(timeout):
        raise TimeoutError("no prediction within the time limit")
    if answer["error"] is not None:
        raise answer["error"]
    return answer["payload"]
