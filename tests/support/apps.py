"""Apps for the Flask test client, made as `create_app` makes them for a server."""

from __future__ import annotations

from typing import Any


def make_app(**config: Any):
    """A threading-mode app (the test client has no event loop), honouring DIGITS_* settings."""
    from realtime import create_app

    return create_app({"ASYNC_MODE": "threading", "TESTING": True, **config})
