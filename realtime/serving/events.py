"""Socket.IO events: a `snapshot` goes to the scheduler; its answer comes back as `prediction`."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from flask import request
from flask_socketio import SocketIO

from ..pipeline.errors import InputError
from ..pipeline.imaging import ImageLimits
from ..pipeline.strokes import prepare_strokes
from .explain import Explainer, naive_of, picture_for
from .inputs import snapshot_from_message
from .scheduler import InferenceScheduler, Job

READ_RATE = 120.0  # frames a second: well above what the page sends (one frame in flight)
READ_BURST = 30.0


class ReadLimits:
    """A token bucket per client: how long to pause before reading its next message."""

    def __init__(self, rate: float = READ_RATE, burst: float = READ_BURST) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}

    def delay(self, sid: str) -> float:
        now = time.monotonic()
        tokens, then = self._buckets.get(sid, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate) - 1.0
        self._buckets[sid] = (tokens, now)
        return 0.0 if tokens >= 0 else -tokens / self.rate

    def forget(self, sid: str) -> None:
        self._buckets.pop(sid, None)


def register(socketio: SocketIO, scheduler: InferenceScheduler, max_frame_bytes: int,
             explainer: Explainer | None = None, limits: ImageLimits | None = None,
             run_blocking: Callable[..., Any] = lambda fn, *args: fn(*args),
             on_answer: Callable[[str, dict[str, Any]], None] | None = None,
             on_disconnect: Callable[[str], None] | None = None) -> None:
    """`on_answer(sid, payload)` also sees every answer (class rooms forward it to the wall)."""
    reader_limits = ReadLimits()

    def answer(sid: str, seq: int):
        # ignore_queue: an answer is for its client alone, who is connected to this process; with a
        # message queue a plain emit would publish every frame's answer to every server process.
        def deliver(payload: dict | None, error: InputError | None) -> None:
            if error is None:
                socketio.emit("prediction", {**payload, "seq": seq}, to=sid, ignore_queue=True)
                if on_answer is not None:
                    on_answer(sid, payload)
            else:
                socketio.emit("prediction_error", {"seq": seq, "error": error.to_dict()}, to=sid, ignore_queue=True)
        return deliver

    def snapshot(sid: str, message=None, *extra):
        try:
            if extra:
                raise InputError("invalid_snapshot", 'A snapshot is one object {"seq": <int>, "image": ...}.')
            frame = snapshot_from_message(message, max_frame_bytes)
        except InputError as error:
            seq = message.get("seq") if isinstance(message, dict) else None
            valid = isinstance(seq, int) and not isinstance(seq, bool)
            socketio.emit("prediction_error", {"seq": seq if valid else None, "error": error.to_dict()}, to=sid,
                          ignore_queue=True)
            socketio.sleep(reader_limits.delay(sid))
            return
        seq, drawing = frame.seq, frame.drawing
        explain = None
        if explainer is not None and message.get("explain") is True:  # finished drawings only, never live frames
            # This client's reader waits for its own picture's plain resize (backpressure), the loop does not.
            naive_x = run_blocking(naive_of, picture_for(drawing or frame.image, limits or ImageLimits()))
            explain = partial(explainer.explain, naive_x=naive_x)
        # Strokes are drawn here (a fraction of a millisecond, bounded by validate_strokes' limits);
        # images are decoded by the worker, and only if still the newest frame.
        prepared = None if drawing is None else prepare_strokes(drawing.strokes, drawing.size)
        scheduler.submit(Job(key=sid, seq=seq, image=frame.image, prepared=prepared, deliver=answer(sid, seq),
                             explain=explain))
        # A green thread reading a socket that always has data never yields; give the loop back
        # after every frame, and read a client that floods no faster than READ_RATE frames a
        # second (its surplus waits in its own socket), so it cannot crowd out the others.
        socketio.sleep(reader_limits.delay(sid))

    # Registered on python-socketio's server itself, not with @socketio.on: Flask-SocketIO
    # would build a Flask request context (URL matching included) around every frame, which
    # profiled at 15% of the server's time at 50 clients; a snapshot needs only the sid.
    socketio.server.on("snapshot", snapshot)

    @socketio.on("disconnect")
    def disconnect(*_reason):
        scheduler.forget(request.sid)
        reader_limits.forget(request.sid)
        if on_disconnect is not None:
            on_disconnect(request.sid)
