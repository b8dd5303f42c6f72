"""This process's class-room students, and their answers on the way to the wall.

A student's frames are predicted by the process they are connected to; after their own
`prediction` is emitted (locally), `answered` records it in the store and forwards a small
`wall_update` to the room's wall room, at most `interval` apart per student (latest wins, the
last one is sent after the interval). The wall room may be on another process: that emit goes
through the message queue, and it is the only thing of a student's that does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask_socketio import SocketIO

from .policy import Coalescer, wall_payload
from .store import RoomStore

FLUSH_TICK_S = 0.02  # how late a held wall update may go out, at most


def wall_room(code: str) -> str:
    return f"wall:{code}"


def class_room(code: str) -> str:
    """Every student of a room (for "the class has ended")."""
    return f"class:{code}"


def student_room(code: str, student: str) -> str:
    """One student, wherever connected (for "you were removed")."""
    return f"student:{code}:{student}"


class WallFeed:
    def __init__(self, store: RoomStore, socketio: SocketIO, interval: float,
                 clock: Callable[[], float]) -> None:
        self.store, self.socketio = store, socketio
        self.clock = clock
        self.members: dict[str, tuple[str, str]] = {}  # sid -> (code, student), this process's only
        self.coalescer = Coalescer(interval)
        self._lock = threading.Lock()
        self._flushing = False

    def joined(self, sid: str, code: str, student: str) -> None:
        self.members[sid] = (code, student)

    def left(self, sid: str) -> tuple[str, str] | None:
        membership = self.members.pop(sid, None)
        if membership is not None:
            with self._lock:
                self.coalescer.forget(membership)
        return membership

    def answered(self, sid: str, payload: dict[str, Any]) -> None:
        """A student's answer (called for every answer of every client: cheap when not in a room)."""
        membership = self.members.get(sid)
        if membership is None:
            return
        start_flushing = False
        with self._lock:
            now = self.clock()
            now_payload = self.coalescer.offer(membership, payload, now)
            # Whatever else is due goes now too: under load answers come far more often than the
            # flushing task gets the loop, so they carry the held updates out on time.
            ready = self.coalescer.due(now)
            if self.coalescer.next_due() is not None and not self._flushing:
                self._flushing = start_flushing = True
        if now_payload is not None:
            self._send(membership, now_payload)
        for held_membership, held_payload in ready:
            self._send(held_membership, held_payload)
        if start_flushing:
            self.socketio.start_background_task(self._flush_held)

    def _flush_held(self) -> None:
        while True:
            with self._lock:
                due_at = self.coalescer.next_due()
                if due_at is None:
                    self._flushing = False
                    return
            # Not straight to `due_at`: a student held meanwhile may be due sooner.
            self.socketio.sleep(min(FLUSH_TICK_S, max(0.0, due_at - self.clock())))
            with self._lock:
                ready = self.coalescer.due(self.clock())
            for membership, payload in ready:
                self._send(membership, payload)

    def _send(self, membership: tuple[str, str], payload: dict[str, Any]) -> None:
        code, student = membership
        update = wall_payload(student, payload)
        if not self.store.record_answer(code, student, update):
            # Removed by the teacher, or the room closed (perhaps on another process): stop here.
            self._drop(membership)
            return
        self.socketio.emit("wall_update", update, to=wall_room(code))

    def _drop(self, membership: tuple[str, str]) -> None:
        for sid, held in list(self.members.items()):
            if held == membership:
                self.left(sid)
