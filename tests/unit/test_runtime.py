"""server.py's websocket unmasking gives exactly what eventlet's own does, only faster."""

from __future__ import annotations

import random

from eventlet.websocket import RFC6455WebSocket

from realtime.serving.runtime import apply_websocket_mask

ORIGINAL = RFC6455WebSocket.__dict__["_apply_mask"].__func__ if isinstance(
    RFC6455WebSocket.__dict__["_apply_mask"], staticmethod) else RFC6455WebSocket._apply_mask


def test_unmasking_matches_eventlet_for_every_length_and_offset():
    rng = random.Random(5)
    for length in [0, 1, 2, 3, 4, 5, 7, 8, 127, 128, 1000, 2381]:
        data = bytes(rng.randrange(256) for _ in range(length + 3))
        mask = bytes(rng.randrange(256) for _ in range(4))
        for offset in range(5):
            assert apply_websocket_mask(data, mask, length, offset) == ORIGINAL(data, mask, length, offset)
        assert apply_websocket_mask(data[:length], tuple(mask)) == ORIGINAL(data[:length], tuple(mask))
