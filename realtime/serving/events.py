"""Socket.IO events: a `snapshot` goes to the scheduler; its answer comes back as `prediction`.

One style, with one exception: handlers are Flask-SocketIO's (`@socketio.on`), which give them
the request context (the class rooms read the teacher's cookie there), except `snapshot`, the
hot path, registered on python-socketio's server itself: a request context around every frame
profiled at 15% of the server's time at 50 clients, and a frame needs only its sid. How fast a
client's packets are read is the network edge's job (`packets.PacketGate`), for every event alike.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from flask import request
from flask_socketio import SocketIO

from ..pipeline.errors import InputError
from ..pipeline.imaging import ImageLimits
from ..pipeline.strokes import prepare_strokes
from .answer_order import AnswerOrder
from .explain import Explainer, naive_of, picture_for
from .inputs import snapshot_from_message
from .scheduler import InferenceScheduler, Job


def register(socketio: SocketIO, scheduler: InferenceScheduler, max_frame_bytes: int,
             explainer: Explainer | None = None, limits: ImageLimits | None = None,
             run_blocking: Callable[..., Any] = lambda fn, *args: fn(*args),
             on_answer: Callable[[str, dict[str, Any]], None] | None = None,
             on_disconnect: Callable[[str], None] | None = None) -> None:
    """`on_answer(sid, payload)` also sees every prediction sent (class rooms forward it to the wall)."""

    order = AnswerOrder()  # answers to one client go out in increasing seq (answer_order.py)

    def emit(event: str, sid: str, data: dict[str, Any]) -> Callable[[], None]:
        # ignore_queue: an answer is for its client alone, who is connected to this process; with a
        # message queue a plain emit would publish every frame's answer to every server process.
        return partial(socketio.emit, event, data, to=sid, ignore_queue=True)

    def answer(sid: str, seq: int):
        def deliver(payload: dict | None, error: InputError | None) -> None:
            if error is not None:
                order.send(sid, seq, emit("prediction_error", sid, {"seq": seq, "error": error.to_dict()}))
            elif order.send(sid, seq, emit("prediction", sid, {**payload, "seq": seq})) and on_answer is not None:
                on_answer(sid, payload)
        return deliver

    def snapshot(sid: str, message=None, *extra):
        order.open(sid)
        try:
            if extra:
                raise InputError("invalid_snapshot", 'A snapshot is one object {"seq": <int>, "image": ...}.')
            frame = snapshot_from_message(message, max_frame_bytes)
        except InputError as error:
            seq = message.get("seq") if isinstance(message, dict) else None
            seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
            if seq is not None:
                scheduler.withdraw(sid, seq)  # its older frames, not answered yet, never will be
            order.send(sid, seq, emit("prediction_error", sid, {"seq": seq, "error": error.to_dict()}))
            socketio.sleep(0)
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
        # A green thread reading a socket that always has data never yields: give the loop back
        # after every frame (the edge reads a flooding client no faster than its packet rate).
        socketio.sleep(0)

    socketio.server.on("snapshot", snapshot)  # the hot path: no request context (module docstring)

    @socketio.on("disconnect")
    def disconnect(*_reason):
        scheduler.forget(request.sid)
        order.forget(request.sid)
        if on_disconnect is not None:
            on_disconnect(request.sid)
