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
from ..pipeline.preprocess import Prepared
from ..pipeline.strokes import prepare_strokes
from .explain import naive_of, picture_for
from .inputs import Drawing, image_from_request
from .lens_routes import explain_requested
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
    scheduler = _service().scheduler
    if not scheduler.running:
        return jsonify(status="starting"), 503
    stalled = scheduler.stalled_s()
    if stalled > current_app.config["STALL_S"]:
        reason = (f"{scheduler.pending_count()} frames have waited {stalled:.0f} s with no image decoded "
                  "and no prediction made")
        return jsonify(status="stalled", reason=reason), 503
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
    # A drawing's strokes are bounded and drawn in well under a millisecond, here; a picture is
    # decoded in the scheduler's child processes, within its time limit.
    prepared = prepare_strokes(data.strokes, data.size) if isinstance(data, Drawing) else None
    image = None if isinstance(data, Drawing) else data
    explain = None
    if explain_requested(request) and not (prepared is not None and prepared.blank):
        # The lens's plain-resize view decodes the upload once more, here (within the same header
        # limits, but not in a child: no time limit; docs/security-decoding.md).
        config = current_app.config
        limits = ImageLimits(config["MAX_IMAGE_PIXELS"], config["MAX_IMAGE_SIDE"],
                             config["MAX_FULL_DECODE_PIXELS"], config["MAX_JPEG_SCANS"])
        naive_x = service.run_blocking(naive_of, picture_for(data, limits))
        explain = partial(service.explainer.explain, naive_x=naive_x)
    if not service.uploads.acquire():
        raise InputError("busy", "The server is handling too many uploads; try again in a moment.", 503)
    try:
        payload = answer_one(service.scheduler, timeout=current_app.config["PREDICT_TIMEOUT_S"], image=image,
                             prepared=prepared, explain=explain)
    finally:
        service.uploads.release()
    return jsonify(payload)


def answer_one(scheduler: InferenceScheduler, timeout: float, *, image: bytes | None = None,
               prepared: Prepared | None = None, explain: Callable[[dict, Prepared], dict] | None = None) -> dict:
    """Decode (in the scheduler's child processes) and predict one upload, waiting for the batch it
    joins (and its explanation, if asked).

    A request that runs out of time is answered 503 and its job dropped: nothing is decoded or
    predicted for a requester that has gone.
    """
    done = threading.Event()  # green under eventlet: the answer comes back on the loop
    answer: dict[str, Any] = {}

    def deliver(payload: dict | None, error: InputError | None) -> None:
        answer.update(payload=payload, error=error)
        done.set()

    key = ("http", next(_upload_keys))
    scheduler.submit(Job(key=key, deliver=deliver, image=image, prepared=prepared, lane="upload", explain=explain))
    if not done.wait(timeout):
        scheduler.forget(key)
        raise InputError("busy", "The server is too busy to answer now; try again.", 503)
    if answer["error"] is not None:
        raise answer["error"]
    return answer["payload"]
