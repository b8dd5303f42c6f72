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
