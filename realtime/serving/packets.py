"""Every Engine.IO/Socket.IO packet a client sends: paced, checked, and a bad one ends the connection.

Two hooks of the libraries themselves: the Engine.IO `message` handler (wrapped, so a packet
python-socketio cannot decode closes that one connection with one log line instead of a stack
trace per packet), and the websocket reader (`runtime.guard_websockets` swaps in a class whose
`wait()` passes through `PacketGate`: each packet takes a token, bad Engine.IO packets end the
connection). The checks are pure functions.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from .guards import TokenBucket

log = logging.getLogger(__name__)

MAX_ATTACHMENTS = 1  # a snapshot carries at most one binary image
_BINARY_HEADER = re.compile(r"^[56](\d{1,6})-")


def engineio_packet_problem(data: Any) -> str | None:
    """Why a packet read from a client's websocket is not one an Engine.IO 4 client sends (None: fine).

    Clients send pongs, messages, the upgrade probe ("2probe") and upgrade/close/noop; a bare
    ping is what a flood of `2` looks like (an Engine.IO 4 server pings, the client answers).
    """
    if isinstance(data, bytes | bytearray):
        return None  # binary message (a Socket.IO attachment)
    if not isinstance(data, str) or not data:
        return "empty packet"
    kind = data[0]
    if kind == "2":
        return None if data == "2probe" else "ping from a client"
    if kind not in "13456":
        return f"unknown Engine.IO packet type {kind!r}"
    return None


def polling_payload_problem(body: bytes, max_packets: int) -> str | None:
    """Why a long-polling POST body is refused (None: fine): too many packets, not UTF-8, or a
    packet a client does not send (binary ones come base64-encoded, as "b...")."""
    if body.count(b"\x1e") + 1 > max_packets:
        return f"more than {max_packets} packets in one request"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "payload is not UTF-8"
    for packet in text.split("\x1e"):
        problem = None if packet.startswith("b") else engineio_packet_problem(packet)
        if problem is not None:
            return problem
    return None


def socketio_packet_problem(data: Any) -> str | None:
    """Why a Socket.IO packet is refused before python-socketio decodes it (None: let it decode)."""
    if isinstance(data, str) and data[:1] in ("5", "6"):
        header = _BINARY_HEADER.match(data)
        if header is None:
            return "binary packet without an attachment count"
        if int(header.group(1)) > MAX_ATTACHMENTS:
            return f"binary packet declaring {header.group(1)} attachments (at most {MAX_ATTACHMENTS})"
    return None


def guard_messages(server: Any, describe: Callable[[str], str]) -> None:
    """Wrap python-socketio's Engine.IO message handler: refuse, close and log once on a bad packet.

    `server` is the python-socketio Server; `describe(eio_sid)` names the client in the log line.
    """
    eio = server.eio
    handle = server._handle_eio_message  # what python-socketio registered as eio.on("message")

    def message(eio_sid: str, data: Any) -> None:
        problem = socketio_packet_problem(data)
        if problem is None:
            try:
                handle(eio_sid, data)
                return
            except Exception as exc:  # anything python-socketio cannot make sense of
                problem = f"undecodable packet ({type(exc).__name__})"
        close_session(eio, eio_sid, f"{describe(eio_sid)}: {problem}")

    eio.on("message", message)


def close_session(eio: Any, eio_sid: str, reason: str) -> None:
    """Close one Engine.IO session now, without waiting for its queue to drain, and log it once."""
    try:
        session = eio._get_socket(eio_sid)
    except KeyError:
        return  # already gone: it has been logged
    if session.closed or session.closing:
        return
    log.warning("closing Socket.IO connection: %s", reason)
    session.close(wait=False, abort=False, reason=eio.reason.SERVER_DISCONNECT)
    eio.sockets.pop(eio_sid, None)


class PacketGate:
    """One connection's reader: each packet takes a token (the reader pauses when there is none,
    so a flood is read no faster than `rate` and yields the loop); a bad packet ends it."""

    def __init__(self, rate: float, burst: float, peer: str, sleep: Callable[[float], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bucket = TokenBucket(rate, burst)
        self.peer, self.sleep, self.clock = peer, sleep, clock
        self.closed = False

    def admit(self, data: Any) -> bool:
        """False when `data` ends the connection (logged once); otherwise paces and says True."""
        if data is None or self.closed:
            return data is not None and not self.closed
        problem = engineio_packet_problem(data)
        if problem is not None:
            self.closed = True
            log.warning("closing Socket.IO connection: %s: %s", self.peer, problem)
            return False
        self.sleep(self.bucket.take(self.clock()))
        return True
