"""The Socket.IO clients tests use: a recording python-socketio client and a raw websocket one."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import engineio
import socketio


class _InOrderEngineIO(engineio.Client):
    def _trigger_event(self, event, *args, run_async=False, **kwargs):
        return super()._trigger_event(event, *args, run_async=False, **kwargs)


class InOrderClient(socketio.Client):
    """socketio.Client whose handlers run in its reading thread, in the order answers arrived.

    python-engineio's client starts a new thread per incoming message, so two answers arriving
    back to back could be recorded in either order: order checks would test the client's race.
    """

    def _engineio_client_class(self):
        return _InOrderEngineIO


@dataclass
class Recorder:
    """A python-socketio client (websocket only) that records answers by seq, with timings."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    handle: bool = True
    client_options: dict[str, Any] = field(default_factory=dict)
    sent: dict[int, float] = field(default_factory=dict)
    answered: dict[int, float] = field(default_factory=dict)
    predictions: dict[int, dict] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    order: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = InOrderClient(reconnection=False, request_timeout=10, **self.client_options)
        self.changed = threading.Condition()
        self.disconnects = 0
        if self.handle:
            self.client.on("prediction", self._on_prediction)
            self.client.on("prediction_error", self._on_error)
        self.client.on("disconnect", self._on_disconnect)

    def connect(self, timeout: float = 10.0) -> Recorder:
        self.client.connect(self.url, transports=["websocket"], headers=self.headers, wait_timeout=timeout)
        return self

    def _on_prediction(self, payload: dict) -> None:
        now = time.perf_counter()
        with self.changed:
            seq = payload.get("seq")
            self.predictions[seq] = payload
            self.answered.setdefault(seq, now)
            self.order.append(seq)
            self.changed.notify_all()

    def _on_error(self, payload: dict) -> None:
        now = time.perf_counter()
        with self.changed:
            self.errors.append(payload)
            if isinstance(payload.get("seq"), int):
                self.answered.setdefault(payload["seq"], now)
                self.order.append(payload["seq"])
            self.changed.notify_all()

    def _on_disconnect(self, *_reason: Any) -> None:
        with self.changed:
            self.disconnects += 1
            self.changed.notify_all()

    def send(self, seq: int, image: Any) -> None:
        with self.changed:
            self.sent[seq] = time.perf_counter()
        self.client.emit("snapshot", {"seq": seq, "image": image})

    def wait(self, predicate, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    def wait_answer(self, seq: int, timeout: float = 15.0) -> bool:
        return self.wait(lambda: seq in self.answered, timeout)

    def wait_errors(self, count: int, timeout: float = 15.0) -> list[dict]:
        self.wait(lambda: len(self.errors) >= count, timeout)
        return list(self.errors)

    def latency_ms(self, seq: int) -> float:
        return (self.answered[seq] - self.sent[seq]) * 1000

    def round_trips(self, frames: list[Any], count: int, first_seq: int, pause_s: float = 0.05) -> list[float]:
        """Behave like the page: send a frame, wait for its answer, pause; `count` times. Latencies in ms."""
        latencies = []
        for i in range(count):
            seq = first_seq + i
            self.send(seq, frames[i % len(frames)])
            assert self.wait_answer(seq, 30), f"frame {seq} got no answer"
            latencies.append(self.latency_ms(seq))
            time.sleep(pause_s)
        return latencies

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already gone
            self.client.disconnect()


class RawClient:
    """A Socket.IO client on a bare websocket: `send_frame` blocks while the server is not reading.

    python-socketio's `emit` only appends to an unbounded client-side queue, so "as fast as it can"
    would measure that queue, not the server; this client writes to the socket itself, as a
    hostile client would. With `read=False` it never reads a byte after connecting (answers and
    pings pile up on the server's side); otherwise a reader thread answers pings and counts answers.
    """

    def __init__(self, url: str, read: bool = True, receive_buffer: int | None = None) -> None:
        import socket as socket_module

        import websocket

        address = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        options = [(socket_module.SOL_SOCKET, socket_module.SO_RCVBUF, receive_buffer)] if receive_buffer else []
        self.ws = websocket.create_connection(address, timeout=10, sockopt=options, enable_multithread=True)
        assert self.ws.recv().startswith("0")  # Engine.IO open
        self.ws.send("40")  # Socket.IO connect to the default namespace
        assert self.ws.recv().startswith("40")
        self.seq = 0
        self.answered: list[int] = []
        self.errors: list[dict] = []
        self.closed = False
        self.answer_event = threading.Event()
        if read:
            self.ws.settimeout(None)
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        import json

        while not self.closed:
            try:
                message = self.ws.recv()
            except Exception:
                self.closed = True
                return
            if message == "2":
                with contextlib.suppress(Exception):
                    self.ws.send("3")
            elif isinstance(message, str) and message.startswith("42"):
                event, payload = json.loads(message[2:])[:2]
                if event == "prediction":
                    self.answered.append(payload["seq"])
                else:
                    self.errors.append(payload)
                self.answer_event.set()

    def send_frame(self, image: Any) -> bool:
        """Send the next snapshot (a data URL); False once the server has closed the connection."""
        import json

        self.seq += 1
        try:
            self.ws.send("42" + json.dumps(["snapshot", {"seq": self.seq, "image": image}]))
            return True
        except Exception:
            self.closed = True
            return False

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            self.ws.close(timeout=1)
