"""A python-socketio client that handles incoming messages in its reading thread.

python-engineio's client starts a new thread for every incoming message. For a load
generator that costs a thread start per answer (CPU taken from the server it measures,
on the same machine) and lets two answers that arrived back to back be handled in either
order, so order checks and "which answer came first" would measure the client's own race.
Handled in the reading thread, answers are seen in the order they came off the socket.
"""

from __future__ import annotations

import engineio
import socketio


class _InOrderEngineIO(engineio.Client):
    def _trigger_event(self, event, *args, run_async=False, **kwargs):
        return super()._trigger_event(event, *args, run_async=False, **kwargs)


class InOrderClient(socketio.Client):
    """socketio.Client whose event handlers run in the reading thread, one at a time."""

    def _engineio_client_class(self):
        return _InOrderEngineIO
