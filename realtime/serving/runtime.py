"""Everything that depends on the async mode (eventlet or threading), in one place.

Under eventlet every socket lives on one event loop, so CPU work (image decoding,
inference) must leave it for a real OS thread, and code shared with OS threads needs the
standard library's real modules, not eventlet's green ones. Under threading, requests
already run in real threads and calls are made directly.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

# The event loop and the inference thread share the GIL: hand it over every 0.5 ms, not 5 ms,
# so neither waits long for the other when both are busy (docs/performance.md).
SWITCH_INTERVAL_S = 0.0005


def prepare_process(async_mode: str) -> None:
    """Set the process up for `async_mode`, before Flask or Socket.IO are imported."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    if async_mode == "eventlet":
        import eventlet

        eventlet.monkey_patch()
        _speed_up_websocket_unmasking()
        _cap_fragmented_websocket_messages()


def eventlet_active() -> bool:
    """True when eventlet has patched the standard library (as `prepare_process` does for eventlet)."""
    if "eventlet" not in sys.modules:
        return False
    import eventlet.patcher

    return eventlet.patcher.is_monkey_patched("thread")


def unpatched(name: str) -> ModuleType:
    """The standard module itself (`os`, `select`, `threading`...), even when eventlet has swapped in a green one."""
    if eventlet_active():
        import eventlet.patcher

        return eventlet.patcher.original(name)
    return __import__(name)


def os_threading() -> ModuleType:
    """The real `threading` module: locks and conditions shared with OS threads."""
    return unpatched("threading") if eventlet_active() else threading


def wait_readable(fd: int, timeout: float) -> bool:
    """Wait until `fd` can be read (True) or `timeout` seconds pass (False), without blocking the event loop.

    Under eventlet the calling green thread sleeps in the hub, holding no OS thread; otherwise the
    calling OS thread waits in `select`.
    """
    if eventlet_active():
        from eventlet.hubs import trampoline

        try:
            trampoline(fd, read=True, timeout=timeout, timeout_exc=TimeoutError)
            return True
        except TimeoutError:
            return False
    import select

    readable, _, _ = select.select([fd], [], [], timeout)
    return bool(readable)


def exit_within(seconds: float, before_exit: Callable[[], None], exit_code: Callable[[], int]) -> None:
    """End the process `seconds` from now if it has not ended by itself, calling `before_exit` first.

    Armed when a stop signal arrives: the orderly stop (close the listener, stop the scheduler,
    kill the decoding children) takes well under a second, but a stop must not depend on it, so a
    real OS thread, not a green one, makes sure of it. `exit_code()` says which code to end with
    (0 when the orderly stop was done and only the interpreter's own teardown was slow).
    """
    def force() -> None:
        code = 1
        try:
            code = exit_code()
            before_exit()
        finally:
            if code:
                unpatched("os").write(2, b"server did not stop in time; exiting now\n")
            unpatched("os")._exit(code)

    timer = os_threading().Timer(seconds, force)
    timer.daemon = True
    timer.start()


def blocking_runner(async_mode: str) -> Callable[..., Any]:
    """A function `run(fn, *args)` that runs fn off the event loop and returns its result."""
    if async_mode == "eventlet":
        from eventlet import tpool

        return tpool.execute
    return lambda fn, *args, **kwargs: fn(*args, **kwargs)


def apply_websocket_mask(data, mask, length=None, offset=0) -> bytes:
    """XOR with the client's 4-byte mask as one big integer: what eventlet does byte by byte.

    eventlet unmasks every incoming websocket frame in a pure-Python loop, the largest single cost
    of the server's GIL time at 50 clients (docs/performance.md).
    """
    if length is None:
        length = len(data)
    key = bytes(mask[(offset + i) % 4] for i in range(4))
    stream = (key * (length // 4 + 1))[:length]
    masked = int.from_bytes(bytes(data[:length]), "little") ^ int.from_bytes(stream, "little")
    return masked.to_bytes(length, "little")


def _speed_up_websocket_unmasking() -> None:
    from eventlet.websocket import RFC6455WebSocket

    RFC6455WebSocket._apply_mask = staticmethod(apply_websocket_mask)


def _cap_fragmented_websocket_messages() -> None:
    """eventlet checks each frame's declared length against `max_frame_length` before reading it,
    but joins the fragments of one message without a limit: 400 MiB in 2 MiB fragments would all
    be buffered. Count the message as it grows and fail the connection (1009) past the limit."""
    from eventlet.websocket import FailedConnectionError, RFC6455WebSocket

    message_class = RFC6455WebSocket.Message
    if getattr(message_class.push, "capped", False):
        return
    push = message_class.push

    def capped_push(self, data, final=False):
        self.received = getattr(self, "received", 0) + len(data)
        if self.received > self.max_frame_length:
            raise FailedConnectionError(1009, f"Incoming message is over the limit of {self.max_frame_length} bytes.")
        push(self, data, final)

    capped_push.capped = True
    message_class.push = capped_push


def guard_websockets(eio: Any, async_mode: str, make_gate: Callable[[dict], Any]) -> None:
    """Read every websocket packet through a gate, and cap its size before it is read.

    python-engineio takes its websocket class from `eio._async["websocket"]` and exposes no
    option for either, so the class is swapped for this Engine.IO server only (a copy of the
    dict, not the module's). Under threading, simple-websocket otherwise gets no
    `max_message_size` and buffers a 400 MiB frame before engineio measures it; eventlet's
    class already refuses a frame whose header declares more than `max_http_buffer_size`.
    `make_gate(environ)` gives the connection's `packets.PacketGate`.
    """
    base = eio._async["websocket"]
    limit = int(eio.max_http_buffer_size)
    bounded = _bounded_simple_websocket() if async_mode == "threading" else None

    class GuardedWebSocket(base):
        def __init__(self, handler, server, **kwargs):
            if async_mode == "threading":
                kwargs.setdefault("max_message_size", limit)
            self._guarded_handler = handler
            super().__init__(self._run, server, **kwargs)

        def __call__(self, environ, start_response):
            self._gate = make_gate(environ)
            if bounded is None:
                return super().__call__(environ, start_response)
            # engineio's SimpleWebSocketWSGI.__call__, with the bounded simple-websocket server
            self.ws = bounded(environ, **self.server_args)
            result = self.app(self)
            if self.ws.mode == "gunicorn":
                raise StopIteration()
            if self.ws.mode == "werkzeug":
                raise ConnectionError()
            return result

        def _run(self, ws):
            return self._guarded_handler(_GatedReader(ws, self._gate))

    eio._async = {**eio._async, "websocket": GuardedWebSocket}


WEBSOCKET_BACKLOG = 16  # messages read ahead of the handler, per connection (threading mode)


def _bounded_simple_websocket():
    """simple-websocket's server with backpressure: its reader thread stops reading the socket while
    WEBSOCKET_BACKLOG messages wait for the handler (checked between its 4 KiB reads).

    Its thread otherwise reads and parses all a client sends into an unbounded list, so pacing
    the handler (PacketGate) paced nothing: a flood still cost CPU and memory at the sender's speed.
    """
    import simple_websocket

    class BoundedServer(simple_websocket.Server):
        def __init__(self, environ, **kwargs):
            self.room = threading.Event()  # set when the handler took a message
            super().__init__(environ, **kwargs)  # starts the reader thread

        def _handle_events(self):
            keep_going = super()._handle_events()
            if not keep_going:
                # simple-websocket wakes the reader of `receive()` before it marks the connection
                # closed, so that reader could wait forever (a message over the limit did it):
                # mark it closed first, then wake it again.
                self.connected = False
                self.event.set()
            while keep_going and self.connected and len(self.input_buffer) >= WEBSOCKET_BACKLOG:
                self.room.wait(1.0)
                self.room.clear()
            return keep_going

        def receive(self, timeout=None):
            data = super().receive(timeout)
            self.room.set()
            return data

    return BoundedServer


class _GatedReader:
    """The websocket as engineio sees it: `wait()` passes each packet through the gate, and a
    refused packet reads as the end of the connection; everything else is the websocket's own."""

    def __init__(self, ws: Any, gate: Any) -> None:
        self._ws, self._gate = ws, gate

    def wait(self):
        data = self._ws.wait()
        return data if self._gate.admit(data) else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)


# --- the WSGI servers: connection caps, read timeouts, no version banner ------------------------

WEBSOCKET_IDLE_S = 30.0  # > ping_interval + ping_timeout (20 s): a live websocket is never this quiet


class _PlainErrors:
    """For the WSGI servers' request handlers (http.server underneath): the errors they answer
    themselves (a malformed request line, too many headers) in short plain text, not HTML, and
    no `Server: Werkzeug/x Python/y` banner on any answer."""

    error_message_format = "%(code)d %(message)s\n"
    error_content_type = "text/plain; charset=utf-8"

    def version_string(self) -> str:
        return ""

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() != "server":
            super().send_header(keyword, value)


def eventlet_server_options(max_connections: int, header_timeout_s: float) -> dict[str, Any]:
    """Keyword arguments for `eventlet.wsgi.server`: at most `max_connections` at once (the green
    pool; more wait in the listen backlog) and no read may wait longer than `header_timeout_s`
    (engineio sets its websockets' own, longer, timeout)."""
    from eventlet.wsgi import HttpProtocol

    class Protocol(_PlainErrors, HttpProtocol):
        pass

    return {"max_size": max_connections, "socket_timeout": header_timeout_s, "log_output": False,
            "protocol": Protocol}


def threading_server(host: str, port: int, app: Any, max_connections: int, header_timeout_s: float):
    """Werkzeug's threaded server with a bounded number of connection threads and read timeouts.

    `make_server(threaded=True)` starts a thread per connection without limit and waits forever
    for a request's headers; 500 idle sockets made 2,020 threads. Here a connection beyond
    `max_connections` is closed at once, and headers or body that stall `header_timeout_s` end it.
    """
    from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

    class Handler(_PlainErrors, WSGIRequestHandler):
        timeout = header_timeout_s  # socketserver applies it to the connection in setup()

        def parse_request(self) -> bool:
            parsed = super().parse_request()
            if parsed and self.headers.get("Upgrade", "").lower() == "websocket":
                self.connection.settimeout(WEBSOCKET_IDLE_S)
            return parsed

    class BoundedServer(ThreadedWSGIServer):
        def __init__(self) -> None:
            super().__init__(host, port, app, handler=Handler)
            self.slots = threading.BoundedSemaphore(max_connections)

        def process_request(self, request, client_address) -> None:
            if not self.slots.acquire(blocking=False):
                self.shutdown_request(request)  # full: closed at once rather than queued unseen
                return
            try:
                super().process_request(request, client_address)
            except BaseException:
                self.slots.release()
                raise

        def process_request_thread(self, request, client_address) -> None:
            try:
                super().process_request_thread(request, client_address)
            finally:
                self.slots.release()

    return BoundedServer()
