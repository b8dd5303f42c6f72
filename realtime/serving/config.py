"""Settings: defaults, and the environment variables that override them.

Every setting has one name in Flask's config and one environment variable
(`DIGITS_` + the config name), read with the type of its default, so `server.py`,
`create_app()` under a WSGI server, tests and deployments agree.
"""

from __future__ import annotations

import os
from typing import Any

from ..paths import DEFAULT_MODEL

DEFAULTS: dict[str, Any] = {
    "HOST": "127.0.0.1",
    "PORT": 5000,
    "MODEL_PATH": str(DEFAULT_MODEL),
    "ASYNC_MODE": "eventlet",
    # Largest HTTP body accepted (bytes); Flask answers 413 above it.
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
    # Largest decoded image: pixel count and side length (a decompression bomb stops here).
    "MAX_IMAGE_PIXELS": 40_000_000,
    "MAX_IMAGE_SIDE": 20_000,
    # Largest image in one Socket.IO snapshot (bytes); larger frames get `prediction_error`.
    "MAX_FRAME_BYTES": 1024 * 1024,
    # Engine.IO closes a connection whose single message exceeds this (bytes).
    "SOCKET_MAX_MESSAGE_BYTES": 2 * 1024 * 1024,
    # Origins allowed to open a Socket.IO connection or POST uploads besides the page's own ("*" for any).
    "ALLOWED_ORIGINS": [],
    # Host names answered besides loopback and the bound address (with --host 0.0.0.0: every local
    # interface address and the machine's name); "*" for any. Anything else gets 421 (DNS rebinding).
    "ALLOWED_HOSTS": [],
    # Per client address: uploads (POST /api/predict) being answered at once; more wait their turn, up
    # to UPLOAD_WAIT_S, then get 429 + Retry-After. The page has one in flight; 16 at once from one
    # client took the CPU from everyone.
    "UPLOAD_CONCURRENCY": 2,
    "UPLOAD_WAIT_S": 10.0,
    # Per client address: uploads a second and burst, above them 429 + Retry-After (0: no rate limit;
    # loopback test suites post hundreds a second one at a time, which the concurrency cap allows).
    "UPLOAD_RATE": 0.0,
    "UPLOAD_BURST": 20.0,
    # Per client address: new Socket.IO connections ("joins") a second and burst; above them 429.
    "CONNECT_RATE": 5.0,
    "CONNECT_BURST": 120.0,
    # Per client address: open HTTP requests and sockets at once (websockets, long polls); above it 429.
    "MAX_CONNECTIONS_PER_CLIENT": 128,
    # Per connection: Engine.IO/Socket.IO packets read a second and burst (a flood is read no faster).
    "PACKET_RATE": 120.0,
    "PACKET_BURST": 60.0,
    # Whole server: connections open at once (eventlet max_size; a bounded thread count under threading).
    "MAX_CONNECTIONS": 500,
    # Seconds a client may stay silent while sending a request's headers or body (slow-header attacks).
    "HEADER_TIMEOUT_S": 10.0,
    # Micro-batching: at most this many frames per model call, gathered for at most this long.
    # Small on purpose: in overload a frame's answer waits for the batch it joins, so short
    # batches keep answers fresh (docs/performance.md has the measurements).
    "BATCH_MAX": 8,
    "BATCH_WAIT_MS": 2.0,
    # In overload, clients are served in turn, but a client that sends faster than it is served
    # keeps its turn for its next frame while its waiting one is older than FRESH_MS (see
    # policy.pick_batch); no turn is held longer than TURN_WAIT_MS.
    "FRESH_MS": 20.0,
    "TURN_WAIT_MS": 100.0,
    # Child processes that decode each batch's images, split between them (0: the scheduler's
    # thread decodes them, sharing the GIL with the event loop).
    "PREPROCESS_PROCESSES": 2,
    # CPU threads a model call on a large batch may use (0: every core). Small batches always
    # run on one thread (see predictor.PARALLEL_FROM).
    "INFERENCE_THREADS": 0,
    # How long an HTTP request waits for its prediction before a 503 (its job is then dropped).
    "PREDICT_TIMEOUT_S": 30.0,
    # The teaching lens (docs/lens.md, with its measured cost). Evidence maps erase EXPLAIN_PATCH-pixel
    # squares every EXPLAIN_STRIDE pixels of the 28x28, only those holding ink (with 4 and 2, usually
    # one batch of 64); the look inside shows each convolution's LAYER_MAPS_SHOWN most active maps.
    "EXPLAIN_PATCH": 4,
    "EXPLAIN_STRIDE": 2,
    "LAYER_MAPS_SHOWN": 16,
    # Redis URL shared by several server processes (Flask-SocketIO's message queue and the class
    # rooms' store, docs/classrooms.md); empty: one process, rooms in its memory.
    "MESSAGE_QUEUE": "",
    # Class rooms: students per room, rooms per server (all processes of one Redis together), and
    # how long a room nobody uses lives on (seconds) before it is forgotten.
    "ROOM_MAX_STUDENTS": 60,
    "ROOM_MAX_ROOMS": 100,
    "ROOM_IDLE_S": 7200.0,
    # Guessing codes (per client address, per process): a token bucket of ROOM_JOIN_BURST refilled at
    # ROOM_JOIN_RATE a second; a try with an unknown code costs 5 (guessing a code takes months),
    # starting a class 2, joining a room that exists nothing.
    "ROOM_JOIN_RATE": 1.0,
    "ROOM_JOIN_BURST": 60.0,
    # Wall updates per student per second at most (latest wins; the last one is never dropped).
    "ROOM_WALL_RATE": 5.0,
    # Decoded-pixel limit of PNG, GIF, BMP and WebP, which cannot decode at reduced scale (JPEG: MAX_IMAGE_PIXELS).
    "MAX_FULL_DECODE_PIXELS": 16_000_000,
    # Most scans a JPEG may have: a progressive decoder walks the whole picture once per scan.
    "MAX_JPEG_SCANS": 48,
    # Time limit of one image's decoding and preprocessing; past it the child is killed, the frame
    # gets `image_too_complex` (docs/security-decoding.md). Applies only with PREPROCESS_PROCESSES > 0.
    "DECODE_TIMEOUT_MS": 1000.0,
    # HTTP uploads handled at once; more get 503 `busy` at once (they may hold PREPROCESS_PROCESSES - 1 decoders).
    "UPLOADS_IN_FLIGHT": 8,
    # /healthz answers 503 `stalled` when work has waited this long with no decode or model call finishing.
    "STALL_S": 10.0,
}

_LISTS = {"ALLOWED_ORIGINS", "ALLOWED_HOSTS"}
ENV_PREFIX = "DIGITS_"


def from_environment(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The settings named by DIGITS_* environment variables, converted to their types."""
    environ = os.environ if environ is None else environ
    settings: dict[str, Any] = {}
    for name in DEFAULTS:
        raw = environ.get(ENV_PREFIX + name)
        if raw is None or raw == "":
            continue
        if name in _LISTS:
            settings[name] = [origin.strip() for origin in raw.split(",") if origin.strip()]
        else:
            kind = type(DEFAULTS[name])  # every setting has the type of its default
            try:
                settings[name] = kind(raw)
            except ValueError as exc:
                raise SystemExit(f"{ENV_PREFIX}{name}={raw!r} is not a valid {kind.__name__}") from exc
    return settings
