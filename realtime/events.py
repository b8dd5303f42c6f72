"""Socket.IO events: a `snapshot` goes to the scheduler; its answer comes back as `prediction`."""

from __future__ import annotations

from flask import request
from flask_socketio import SocketIO

from .errors import InputError
from .inputs import snapshot_from_message
from .scheduler import InferenceScheduler, Job

FLOOD_WAIT_S = 1.0
FLOOD_POLL_S = 0.005


def register(socketio: SocketIO, scheduler: InferenceScheduler, max_frame_bytes: int) -> None:
    def answer(sid: str, seq: int):
        def deliver(payload: dict | None, error: InputError | None) -> None:
            if error is None:
                socketio.emit("prediction", {**payload, "seq": seq}, to=sid)
            else:
                socketio.emit("prediction_error", {"seq": seq, "error": error.to_dict()}, to=sid)
        return deliver

    @socketio.on("snapshot")
    def snapshot(message=None, *extra):
        sid = request.sid
        try:
            if extra:
                raise InputError("invalid_snapshot", 'A snapshot is one object {"seq": <int>, "image": ...}.')
            seq, image = snapshot_from_message(message, max_frame_bytes)
        except InputError as error:
            seq = message.get("seq") if isinstance(message, dict) else None
            valid = isinstance(seq, int) and not isinstance(seq, bool)
            socketio.emit("prediction_error", {"seq": seq if valid else None, "error": error.to_dict()}, to=sid)
            socketio.sleep(0)
            return
        outcome = scheduler.submit(Job(key=sid, seq=seq, image=image, deliver=answer(sid, seq)))
        # A green thread reading a socket that always has data never yields; give the loop back
        # after every frame so a flooding client cannot starve the others or the answers.
        socketio.sleep(0)
        if outcome == "superseded":
            # Backpressure for a client sending faster than it is served: handlers run inline in
            # its reader, so its next message is not read until this frame is taken (at most
            # FLOOD_WAIT_S). Its surplus then waits in its own socket, not on the server's loop.
            waited = 0.0
            while waited < FLOOD_WAIT_S and scheduler.is_waiting(sid):
                socketio.sleep(FLOOD_POLL_S)
                waited += FLOOD_POLL_S

    @socketio.on("disconnect")
    def disconnect(*_reason):
        scheduler.forget(request.sid)
