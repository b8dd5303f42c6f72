"""The two library hooks of the network edge in runtime.py: eventlet's fragmented-message cap and
the websocket class that reads every packet through a gate (with simple-websocket's size cap)."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import ClassVar

import pytest

from realtime.serving.packets import PacketGate
from realtime.serving.runtime import _cap_fragmented_websocket_messages, guard_websockets


def test_eventlet_message_fails_once_its_fragments_pass_the_limit():
    from eventlet.websocket import FailedConnectionError, RFC6455WebSocket

    _cap_fragmented_websocket_messages()
    _cap_fragmented_websocket_messages()  # idempotent: not wrapped twice
    message = RFC6455WebSocket.Message(1, max_frame_length=10)
    message.push(b"12345")
    message.push(b"12345")
    with pytest.raises(FailedConnectionError) as failed:
        message.push(b"1")
    assert failed.value.status == 1009
    small = RFC6455WebSocket.Message(1, max_frame_length=10)
    small.push(b"1234567890", final=True)
    assert small.getvalue() == b"1234567890"


class _FakeSocketWSGI:
    """Stands for engineio's websocket classes: calls the handler with a socket that yields `packets`."""

    packets: ClassVar[list] = []

    def __init__(self, handler, server, **kwargs):
        self.handler, self.kwargs = handler, kwargs

    def __call__(self, environ, start_response):
        queue = list(self.packets)
        ws = SimpleNamespace(wait=lambda: queue.pop(0) if queue else None, send=lambda data: None, _sock="sock")
        return self.handler(ws)


def test_websocket_reads_go_through_the_gate():
    mode = "eventlet"
    eio = SimpleNamespace(_async={"websocket": _FakeSocketWSGI, "sleep": None}, max_http_buffer_size=1234)
    original = eio._async
    pauses: list[float] = []
    guard_websockets(eio, mode, lambda environ: PacketGate(1000.0, 2.0, environ["REMOTE_ADDR"], pauses.append,
                                                              clock=lambda: 0.0))
    assert original["websocket"] is _FakeSocketWSGI  # the module's own dict is left alone
    _FakeSocketWSGI.packets = ["3", "3", "3", "2", "3"]
    read: list = []

    def handler(ws):
        assert ws._sock == "sock"  # everything but wait() is the websocket's own
        while (data := ws.wait()) is not None:
            read.append(data)
        return []

    instance = eio._async["websocket"](handler, eio)
    instance({"REMOTE_ADDR": "10.0.0.1"}, None)
    assert read == ["3", "3", "3"]  # the client's ping ended the connection
    assert pauses == [0.0, 0.0, pytest.approx(0.001)]
    assert instance.kwargs == {}


def _client_frame(text: str) -> bytes:
    """A masked (zero mask) text frame, as a client sends it."""
    data = text.encode()
    assert len(data) < 126
    return bytes([0x81, 0x80 | len(data)]) + b"\x00" * 4 + data


def test_threading_websocket_reads_ahead_at_most_a_backlog_and_caps_message_size():
    """Under threading, through a real socket: simple-websocket's reader thread stops reading while
    WEBSOCKET_BACKLOG messages wait (backpressure: without it all 20,000 are read ahead), every
    message still arrives in order through the gate, and a message over the limit ends the connection."""
    import socket
    import threading
    import time

    from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI

    from realtime.serving.runtime import WEBSOCKET_BACKLOG

    eio = SimpleNamespace(_async={"websocket": SimpleWebSocketWSGI}, max_http_buffer_size=50)
    guard_websockets(eio, "threading", lambda environ: PacketGate(1e6, 1e6, "test", lambda _s: None))
    server_side, client_side = socket.socketpair()
    environ = {"werkzeug.socket": server_side, "HTTP_HOST": "x", "HTTP_UPGRADE": "websocket",
               "HTTP_CONNECTION": "Upgrade", "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ==",
               "HTTP_SEC_WEBSOCKET_VERSION": "13"}
    read: list[str] = []
    backlog: list[int] = []
    go = threading.Event()

    def handler(ws):
        go.wait(10)
        backlog.append(len(instance.ws.input_buffer))
        while (data := ws.wait()) is not None:
            read.append(data)
        return []

    instance = eio._async["websocket"](handler, eio)
    serving = threading.Thread(target=lambda: _swallow(instance, environ), daemon=True)
    serving.start()
    client_side.settimeout(5)
    assert client_side.recv(4096).startswith(b"HTTP/1.1 101")
    count = 20_000
    frames = [_client_frame(f"4{i:05}") for i in range(count)]  # 12 bytes each
    sender = threading.Thread(target=client_side.sendall, args=(b"".join(frames),), daemon=True)
    sender.start()  # blocks once the server stops reading and the socket buffers are full
    time.sleep(0.5)  # the reader thread reads what it may
    go.set()
    deadline = time.monotonic() + 20
    while len(read) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    sender.join(5)
    # Checked between the reader's 4 KiB reads: at most the backlog and one read's worth of messages.
    assert backlog[0] <= WEBSOCKET_BACKLOG + 4096 // 12
    assert read == [f"4{i:05}" for i in range(count)]
    client_side.sendall(_client_frame("4" + "x" * 60))  # over the 50-byte limit
    serving.join(10)
    assert not serving.is_alive()
    client_side.close()


def _swallow(instance, environ):
    with contextlib.suppress(ConnectionError):  # how SimpleWebSocketWSGI ends a werkzeug websocket
        instance(environ, None)
