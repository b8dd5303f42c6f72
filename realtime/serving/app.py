"""The application factory: Flask app, Socket.IO server, model and scheduler, wired once."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request
from flask_socketio import SocketIO
from werkzeug.exceptions import HTTPException

from ..paths import MODEL_CARD, STATIC_DIR, TEMPLATES_DIR, file_sha256
from ..pipeline.errors import InputError
from ..pipeline.imaging import ImageLimits
from . import events, lens_routes, rooms, routes
from .config import DEFAULTS, from_environment
from .edge import EdgeGuard, EdgeSettings
from .explain import Explainer
from .layers import LayerTaps
from .packets import PacketGate, close_session, guard_messages
from .predictor import Predictor
from .prep_pool import PreparePool
from .runtime import blocking_runner, guard_websockets
from .scheduler import InferenceScheduler, UploadSlots

log = logging.getLogger(__name__)
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


@dataclass
class DigitService:
    """What the routes and events share: the scheduler and the model's description."""

    scheduler: InferenceScheduler
    model_info: dict[str, Any]
    run_blocking: Any
    uploads: UploadSlots
    explainer: Explainer | None = None  # the teaching lens: evidence and plain-resize view
    layers: LayerTaps | None = None  # the teaching lens: feature maps, built on first use


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The whole app. Settings: the defaults, then the DIGITS_* environment, then `config`."""
    app = Flask(__name__, template_folder=str(TEMPLATES_DIR), static_folder=str(STATIC_DIR))
    app.config.update(DEFAULTS)
    app.config.update(from_environment())
    app.config.update(config or {})
    app.json.sort_keys = False

    socketio = SocketIO(
        app,
        async_mode=app.config["ASYNC_MODE"],
        cors_allowed_origins=_origin_policy(app.config["ALLOWED_ORIGINS"]),
        max_http_buffer_size=app.config["SOCKET_MAX_MESSAGE_BYTES"],
        ping_interval=10,
        ping_timeout=10,
        # Handlers only hand a frame to the scheduler, so they run inline in each client's reader:
        # a flooding client is then read no faster than it is served (backpressure), instead of
        # spawning a task per message and crowding everyone else off the loop.
        async_handlers=False,
        # Several processes given one Redis URL share Socket.IO rooms (docs/classrooms.md).
        message_queue=app.config["MESSAGE_QUEUE"] or None,
    )

    limits = ImageLimits(app.config["MAX_IMAGE_PIXELS"], app.config["MAX_IMAGE_SIDE"],
                         app.config["MAX_FULL_DECODE_PIXELS"], app.config["MAX_JPEG_SCANS"])
    # Started first: the children import while the model loads, and are ready when the server says so.
    preparer = PreparePool(app.config["PREPROCESS_PROCESSES"], limits, app.config["DECODE_TIMEOUT_MS"] / 1000)
    model_path = Path(app.config["MODEL_PATH"])
    predictor = Predictor.from_file(model_path, threads=app.config["INFERENCE_THREADS"])
    predictor.warm_up(app.config["BATCH_MAX"])  # the scheduler never makes a larger batch
    preparer.wait_ready(60.0)
    run_blocking = blocking_runner(app.config["ASYNC_MODE"])
    scheduler = InferenceScheduler(
        predictor, preparer, spawn=socketio.start_background_task,
        max_batch=app.config["BATCH_MAX"], max_wait_s=app.config["BATCH_WAIT_MS"] / 1000,
        fresh_s=app.config["FRESH_MS"] / 1000, turn_wait_s=app.config["TURN_WAIT_MS"] / 1000,
        upload_decodes=max(1, preparer.processes - 1), live_reserve=1 if preparer.processes > 1 else 0,
        on_stop=preparer.close)
    preparer.on_idle = scheduler.poke
    scheduler.start()
    explainer = Explainer(predictor, app.config["EXPLAIN_PATCH"], app.config["EXPLAIN_STRIDE"])
    app.extensions["digits"] = DigitService(scheduler, describe_model(model_path), run_blocking,
                                            UploadSlots(app.config["UPLOADS_IN_FLIGHT"]), explainer,
                                            LayerTaps(predictor.flatbuffer))

    app.register_blueprint(routes.bp)
    app.register_blueprint(lens_routes.bp)
    classrooms = rooms.setup(app, socketio)
    events.register(socketio, scheduler, app.config["MAX_FRAME_BYTES"], explainer, limits, run_blocking,
                    on_answer=classrooms.feed.answered, on_disconnect=classrooms.on_disconnect)
    _register_error_handlers(app)
    _guard_packets(socketio, app.config)
    # Outermost, around Engine.IO too (Flask-SocketIO made app.wsgi_app its own WSGI app).
    app.wsgi_app = EdgeGuard(app.wsgi_app, EdgeSettings.from_config(app.config, CONTENT_SECURITY_POLICY),
                             on_bad_packet=lambda sid, reason: close_session(socketio.server.eio, sid, reason))
    return app


def _guard_packets(socketio: SocketIO, config: dict[str, Any]) -> None:
    """Every packet paced and checked: websocket reads through a PacketGate, Socket.IO messages
    through `packets.guard_messages` (long-polling packets are paced in edge.EdgeGuard)."""
    server = socketio.server

    def describe(eio_sid: str) -> str:
        return _peer(server.environ.get(eio_sid, {}))

    def make_gate(environ: dict) -> PacketGate:
        return PacketGate(config["PACKET_RATE"], config["PACKET_BURST"], _peer(environ), socketio.sleep)

    guard_messages(server, describe)
    guard_websockets(server.eio, config["ASYNC_MODE"], make_gate)


def _peer(environ: dict) -> str:
    return f"{environ.get('REMOTE_ADDR', '?')}:{environ.get('REMOTE_PORT', '?')}"


def _origin_policy(extra: list[str]):
    """Same origin only by default; configured origins are allowed on top of it, never instead."""
    if not extra:
        return None
    if "*" in extra:
        return "*"
    allowed = set(extra)

    def origin_allowed(origin: str, environ: dict) -> bool:
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin in allowed or origin == own

    return origin_allowed


def describe_model(path: Path) -> dict[str, Any]:
    """Metadata for /api/model: the card's figures when the card describes this very file.

    The card (written by training) lists the SHA-256 of the `.keras` file and of its `.tflite`
    export; a model without a matching card is described by its file alone.
    """
    sha256 = file_sha256(path)
    info: dict[str, Any] = {"name": path.stem, "params": None, "test_accuracy": None, "sha256": sha256,
                            "file": path.name, "size_bytes": path.stat().st_size}
    for candidate in (path.with_name(MODEL_CARD.name), path.with_name(path.stem + ".card.json")):
        if not candidate.is_file():
            continue
        card = json.loads(candidate.read_text())
        described = {entry.get("sha256") for entry in card.get("files", {}).values()} | {card.get("sha256")}
        if sha256 in described:
            info.update({key: card[key] for key in ("name", "params", "test_accuracy", "date", "architecture")
                         if key in card})
            info["card"] = card
            break
    return info


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(InputError)
    def input_error(error: InputError):
        return jsonify(error=error.to_dict()), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if not request.path.startswith("/api/"):
            return error
        code = {413: "body_too_large", 404: "not_found", 405: "method_not_allowed"}.get(
            error.code or 500, (error.name or "error").lower().replace(" ", "_"))
        message = error.description or error.name
        if error.code == 413:
            message = f"The request body is over the limit of {app.config['MAX_CONTENT_LENGTH']:,} bytes."
        return jsonify(error={"code": code, "message": message}), error.code

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unexpected error on %s", request.path)
        body = {"error": {"code": "internal_error", "message": "Something went wrong on the server."}}
        return jsonify(body), 500

