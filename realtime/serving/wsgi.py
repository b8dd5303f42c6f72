"""The WSGI entry for production: `gunicorn -w 1 --threads 100 'realtime.serving.wsgi:create_app()'`.

gunicorn 26 removed its eventlet worker, so production runs the app in threading mode under
gunicorn's threaded worker (gthread): a thread per open connection, and simple-websocket gives
those threads real WebSockets. One worker: a Socket.IO client's session lives in the process that
opened it. A factory, not a module-level app, so that importing this module starts nothing.
"""

from __future__ import annotations

from flask import Flask

from .app import create_app as build_app
from .runtime import prepare_process


def create_app() -> Flask:
    """The app as production runs it: threading mode whatever DIGITS_ASYNC_MODE says, the other DIGITS_* as usual."""
    prepare_process("threading")
    return build_app({"ASYNC_MODE": "threading"})
