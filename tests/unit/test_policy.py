"""Which waiting frames make the next batch: the pure policy, with made-up clocks (no threads, no sleeps)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from realtime.serving.policy import STREAMING_S, Turns, pick_batch


@dataclass
class Frame:
    submitted: float
    waiting_since: float | None = None


def line(**submitted: float | tuple[float, float]) -> dict[str, Frame]:
    """Clients in the order they began waiting: `name=submitted` or `name=(submitted, waiting_since)`."""
    return {key: Frame(*value) if isinstance(value, tuple) else Frame(value, value) for key, value in submitted.items()}


def test_everyone_fits_in_one_batch_in_the_order_they_came():
    assert pick_batch(line(c=0.0, a=0.1, b=0.2), {"a": 0.1}, now=5.0, turns=Turns(max_batch=3)) == ["c", "a", "b"]


@pytest.mark.parametrize(("streaming", "turn_wait_s", "now", "first"), [
    pytest.param(True, 10.0, 0.05, ["b", "c"], id="a streams and its frame is stale: its turn waits for a fresh one"),
    pytest.param(False, 10.0, 0.05, ["a", "b"], id="a waits for its answer like the page: in turn, however old"),
    pytest.param(True, 0.05, 0.1, ["a", "b"], id="a streams but has waited past turn_wait: served now"),
    pytest.param(True, 10.0, 0.015, ["a", "b"], id="a streams but its frame is still fresh"),
])
def test_who_goes_first_when_more_clients_wait_than_a_batch_holds(streaming, turn_wait_s, now, first):
    waiting = line(a=(0.0, 0.0), b=0.01, c=0.012)
    superseded = {"a": 0.0} if streaming else {}
    assert pick_batch(waiting, superseded, now, Turns(max_batch=2, fresh_s=0.02, turn_wait_s=turn_wait_s)) == first


def test_a_client_no_longer_counts_as_streaming_a_while_after_it_last_superseded():
    waiting = line(a=(STREAMING_S + 1.0, 0.0), b=STREAMING_S + 1.01, c=STREAMING_S + 1.02)
    turns = Turns(max_batch=2, fresh_s=0.02, turn_wait_s=100.0)
    assert pick_batch(waiting, {"a": 0.0}, now=STREAMING_S + 1.1, turns=turns) == ["a", "b"]


def test_held_turns_fill_a_batch_rather_than_leave_it_short_least_stale_first():
    waiting = line(a=(0.000, 0.0), b=(0.005, 0.0), c=(0.010, 0.0), d=0.06)
    superseded = {"a": 0.0, "b": 0.005, "c": 0.01}
    picked = pick_batch(waiting, superseded, now=0.065, turns=Turns(max_batch=3, fresh_s=0.02, turn_wait_s=10.0))
    assert picked == ["d", "c", "b"]
