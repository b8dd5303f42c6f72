"""Which waiting frames make the next batch: a pure function of the queue and the clock.

Kept apart from the scheduler's threads and locks so that it is tested with made-up
timestamps (tests/unit/test_policy.py).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Protocol

# A client that sent a frame over a waiting one this recently sends faster than it is served.
STREAMING_S = 1.0


class Waiting(Protocol):
    submitted: float  # when this frame arrived
    waiting_since: float | None  # when its client's wait for a turn began


@dataclass(frozen=True)
class Turns:
    max_batch: int = 8
    fresh_s: float = 0.02
    turn_wait_s: float = 0.1


def pick_batch(waiting: Mapping[Hashable, Waiting], superseded_at: Mapping[Hashable, float], now: float,
               turns: Turns) -> list[Hashable]:
    """The keys whose frames go into the next batch, in order.

    `waiting` is in the order clients began waiting, and they are served in turn. But a client
    that has sent a newer frame over a waiting one (`superseded_at`) sends faster than it is
    served: if its newest frame is already older than `fresh_s`, the next one is on its way, and
    its turn is kept for that one while others fill the batch. Without this, in overload every
    client is answered a frame up to a frame period old before its batch even starts. A client
    that waits for its answer before sending again (the page, HTTP uploads) never supersedes and
    is never held back, and no turn is held past `turn_wait_s`, or when there is nothing else to serve.
    """
    if len(waiting) <= turns.max_batch:
        return list(waiting)
    picked: list[Hashable] = []
    held: list[Hashable] = []
    for key, frame in waiting.items():
        streaming = key in superseded_at and now - superseded_at[key] < STREAMING_S
        since = frame.submitted if frame.waiting_since is None else frame.waiting_since
        if streaming and now - frame.submitted > turns.fresh_s and now - since < turns.turn_wait_s:
            held.append(key)
            continue
        picked.append(key)
        if len(picked) == turns.max_batch:
            return picked
    held.sort(key=lambda key: waiting[key].submitted, reverse=True)  # the least stale first
    return picked + held[:turns.max_batch - len(picked)]
