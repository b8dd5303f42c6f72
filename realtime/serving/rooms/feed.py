"""This process's class-room students, and their answers on the way to the wall.

A student's frames are predicted by the process they are connected to; after their own
`prediction` is emitted (locally), `answered` notes the answer, and a task of the feed's own
records it in the store and sends a small update to the room's wall room (a `wall_updates`
list: one event per room per moment), at most `interval` apart per student (latest wins, the
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

FLUSH_TICK_S = 0.02  # how late a wall update may go out, at most (plus the loop's own delays)


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
        self._outbox: dict[tuple[str, str], dict[str, Any]] = {}  # updates that may go at once
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
        """A student's answer (called for every answer of every client: cheap when not in a room).

        Only memory work here: this runs in the loop that delivers everyone's answers, and the
        store and the queue (Redis round trips) would hold up every other student's answer.
        A task of its own sends the wall's updates.
        """
        membership = self.members.get(sid)
        if membership is None:
            return
        with self._lock:
            ready = self.coalescer.offer(membership, payload, self.clock())
            if ready is not None:
                self._outbox[membership] = ready
            start, self._flushing = not self._flushing, True
        if start:
            self.socketio.start_background_task(self._flush)

    def _flush(self) -> None:
        """Send what may go now, wait for what is held; end when nothing is left."""
        while True:
            with self._lock:
                ready = [*self._outbox.items(), *self.coalescer.due(self.clock())]
                self._outbox.clear()
                due_at = self.coalescer.next_due()
                if not ready and due_at is None:
                    self._flushing = False
                    return
            self._send(ready)
            # Not straight to `due_at`: an update that may go at once can come meanwhile.
            wait = FLUSH_TICK_S if due_at is None else min(FLUSH_TICK_S, max(0.0, due_at - self.clock()))
            self.socketio.sleep(0 if ready and due_at is None else wait)

    def _send(self, ready: list[tuple[tuple[str, str], dict[str, Any]]]) -> None:
        """Record the updates in the store and send them to their walls: one store call and one
        `wall_updates` event per room (a list), so a tick costs each room two round trips at most."""
        by_room: dict[str, list[dict[str, Any]]] = {}
        for (code, student), payload in ready:
            by_room.setdefault(code, []).append(wall_payload(student, payload))
        for code, updates in by_room.items():
            kept = self.store.record_answers(code, updates)
            for update, ok in zip(updates, kept, strict=True):
                if not ok:  # removed by the teacher, or the room closed (perhaps on another process)
                    self._drop((code, update["student"]))
            updates = [update for update, ok in zip(updates, kept, strict=True) if ok]
            if updates:
                self.socketio.emit("wall_updates", updates, to=wall_room(code))

    def _drop(self, membership: tuple[str, str]) -> None:
        for sid, held in list(self.members.items()):
            if held == membership:
                self.left(sid)
