"""Where blocking work runs, for each async mode.

Under eventlet every socket lives on one event loop, so CPU work (image
decoding, inference) must leave it for a real OS thread: `eventlet.tpool`
runs a call in one and lets the loop carry on meanwhile. Under threading,
requests already run in real threads and calls are made directly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any


def eventlet_active() -> bool:
    """True when eventlet has patched the standard library (server.py does for eventlet mode)."""
    try:
        import eventlet.patcher
    except ImportError:  # pragma: no cover - eventlet is a pinned dependency
        return False
    return eventlet.patcher.is_monkey_patched("thread")


def os_threading() -> ModuleType:
    """The real `threading` module, even when eventlet has replaced it with green threads."""
    if eventlet_active():
        import eventlet.patcher

        return eventlet.patcher.original("threading")
    return threading


def blocking_runner(async_mode: str) -> Callable[..., Any]:
    """A function `run(fn, *args)` that runs fn off the event loop and returns its result."""
    if async_mode == "eventlet":
        from eventlet import tpool

        return tpool.execute
    return lambda fn, *args, **kwargs: fn(*args, **kwargs)
