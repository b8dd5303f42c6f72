"""Answers to one Socket.IO client go out in increasing `seq`, whichever path made them.

A client's answers come from three places that do not wait for each other: a frame refused
while its message is read is answered at once, in the reader; a blank or undecodable picture is
answered from the decoder's thread; a picture goes through the model in the worker. So a newer
frame's answer can be ready before an older frame's. The contract says answer seqs to one client
only increase (and the newest frame is always answered): `AnswerOrder` keeps, per client, the
highest seq sent, and an answer not above it is dropped (a newer one has been sent already).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class AnswerOrder:
    """Per client (sid), the highest seq answered; pure enough to test without sockets.

    `threading.RLock` is a green lock under eventlet's monkey patching, a real one under threading:
    the lock is held while an answer is emitted, so two answers cannot pass each other on the way out.
    Reentrant, because emitting can come back here on the same thread: with a plain lock, a flooding
    client's reader stopped for good under eventlet (tests/live/test_load_faults.py's flooder).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._sent: dict[str, int | None] = {}  # sid -> highest seq sent, None before the first
        self.dropped = 0

    def open(self, sid: str) -> None:
        """A frame was read from `sid`: its answers may be sent (until `forget`)."""
        if sid not in self._sent:
            with self._lock:
                self._sent.setdefault(sid, None)

    def send(self, sid: str, seq: int | None, emit: Callable[[], None]) -> bool:
        """Call `emit` unless `seq` is not above the highest seq sent to `sid`, or `sid` is gone
        (an answer that was in flight when its client left: recording it would keep the sid forever).
        A seq of None (a message without a valid seq) cannot be ordered: always sent."""
        with self._lock:
            last = self._sent.get(sid)
            if sid not in self._sent or (seq is not None and last is not None and seq <= last):
                self.dropped += 1
                log.debug("answer to %s (seq %s) dropped: a newer one was sent or the client left", sid, seq)
                return False
            if seq is not None:
                self._sent[sid] = seq
            emit()
        return True

    def forget(self, sid: str) -> None:
        with self._lock:
            self._sent.pop(sid, None)
