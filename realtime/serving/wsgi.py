"""The WSGI entry point for production: `gunicorn -w 1 --threads 100 realtime.serving.wsgi:app`.

gunicorn 26 removed its eventlet worker, so production runs the app in threading mode under
gunicorn's threaded worker (gthread): a thread per open connection, and simple-websocket gives
those threads real WebSockets. One worker: a Socket.IO client's session lives in the process that
opened it. The other DIGITS_* settings still come from the environment (docs/install.md).
"""

from __future__ import annotations

from .app import create_app
from .runtime import prepare_process

prepare_process("threading")
app = create_app({"ASYNC_MODE": "threading"})
