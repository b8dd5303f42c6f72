"""Preprocessing in worker processes gives exactly what the in-thread pipeline gives, and survives a dead worker."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
import pytest

from realtime.pipeline.errors import InputError
from realtime.pipeline.imaging import ImageLimits
from realtime.pipeline.preprocess import Prepared
from realtime.serving import prep_pool
from realtime.serving.prep_pool import PreparePool, prepare_safely
from tests.support.pictures import blank_png, draw_digit, png_bytes

LIMITS = ImageLimits()


@pytest.fixture()
def pool():
    pool = PreparePool(2, LIMITS)
    yield pool
    pool.close()


def wait_ready(pool: PreparePool, timeout: float = 20.0) -> bool:
    return wait_until(lambda: pool.capacity() >= pool.processes, timeout)


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def pictures() -> list[bytes]:
    digits = [png_bytes(draw_digit(d, scale=s)) for d in (0, 1, 4, 7) for s in (0.5, 0.9)]
    return [*digits, b"not an image", blank_png(), b"", digits[0]]


def same(a: Prepared | InputError, b: Prepared | InputError) -> bool:
    if isinstance(a, InputError) or isinstance(b, InputError):
        return isinstance(a, InputError) and isinstance(b, InputError) and a.code == b.code
    return a.blank == b.blank and np.array_equal(a.x, b.x)


def test_a_batch_split_over_processes_gives_what_one_thread_gives(pool):
    images = pictures()
    expected = [prepare_safely(data, LIMITS) for data in images]
    got = pool.prepare_many(images)
    assert len(got) == len(images)
    assert all(same(a, b) for a, b in zip(got, expected, strict=True))
    assert [type(outcome).__name__ for outcome in got[-4:]] == ["InputError", "Prepared", "InputError", "Prepared"]


def test_a_dead_worker_costs_its_image_an_error_and_is_replaced(pool):
    images = pictures()
    assert wait_ready(pool)
    for child in pool._children:  # idle workers that die are replaced before they cost anything
        child.process.kill()
    deadline = time.monotonic() + 10
    while pool.restarts < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.restarts == 2 and wait_ready(pool)
    outcomes: list = []
    busy = pool._children[0]  # the first idle worker takes the next image
    busy.process.send_signal(signal.SIGSTOP)  # so that it cannot finish it: killed mid-way
    pool.submit(images[0], outcomes.append)
    while busy.task is None and time.monotonic() < deadline:
        time.sleep(0.001)
    busy.process.kill()
    while not outcomes and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [(error.code, error.status) for error in outcomes] == [("internal_error", 500)]
    assert wait_ready(pool) and pool.restarts == 3
    again = pool.prepare_many(images)  # the replacements work
    assert all(same(a, prepare_safely(data, LIMITS)) for a, data in zip(again, images, strict=True))


def test_an_image_handed_to_a_child_by_submit_keeps_its_time_limit():
    """`submit` writes an image to an idle child itself, while the dispatcher sleeps in its wait:
    that wait is never longer than the time limit, so the image is still timed and its child replaced."""
    pool = PreparePool(1, LIMITS, timeout_s=0.2, spares=0)
    try:
        assert wait_ready(pool)
        stopped = pool._children[0]
        stopped.process.send_signal(signal.SIGSTOP)  # it will never answer
        outcomes: list = []
        pool.submit(pictures()[0], outcomes.append)
        assert stopped.task is not None and not stopped.outbox  # handed over whole, in this thread
        wait_until(lambda: outcomes)
        assert [error.code for error in outcomes] == ["image_too_complex"]
        assert pool.timeouts == 1 and wait_ready(pool) and pool._children[0] is not stopped
        assert same(pool.prepare_many(pictures()[:1])[0], prepare_safely(pictures()[0], LIMITS))
    finally:
        pool.close()


def test_an_image_waits_in_a_busy_childs_pipe_and_goes_to_another_child_when_the_one_before_it_is_slow(monkeypatch):
    """A frame behind a trusted one waits in that child's pipe (it starts as soon as the child is free);
    if the one before it turns out slow, it is decoded by another child, long before the time limit."""
    monkeypatch.setattr(prep_pool, "REROUTE_AFTER_S", 0.3)
    pool = PreparePool(2, LIMITS, timeout_s=5.0, spares=0)
    try:
        assert wait_ready(pool)
        slow, other = pool._children
        slow.process.send_signal(signal.SIGSTOP)  # its image never finishes
        other.process.send_signal(signal.SIGSTOP)  # busy for now: nothing is idle when the third comes
        first, second, third = pictures()[:3]
        answers: dict[str, object] = {}
        pool.submit(first, lambda outcome: answers.setdefault("first", outcome), trusted=True)
        pool.submit(second, lambda outcome: answers.setdefault("second", outcome), trusted=True)
        pool.submit(third, lambda outcome: answers.setdefault("third", outcome), trusted=True)
        assert slow.queued is not None and other.queued is None  # behind the first, in its child's pipe
        other.process.send_signal(signal.SIGCONT)
        wait_until(lambda: "third" in answers, 4)
        assert "first" not in answers  # still decoding: the third did not wait for it
        assert same(answers["second"], prepare_safely(second, LIMITS))
        assert same(answers["third"], prepare_safely(third, LIMITS))
    finally:
        pool.close()
    assert [outcome.code for outcome in [answers["first"]]] == ["shutting_down"]
    assert set(answers) == {"first", "second", "third"}  # each answered once


@pytest.fixture()
def stopped_child():
    """A pool of one child, stopped (SIGSTOP) once ready: what is handed to it waits in its pipe."""
    pool = PreparePool(1, LIMITS, spares=0)
    try:
        assert wait_ready(pool)
        child = pool._children[0]
        child.process.send_signal(signal.SIGSTOP)
        yield pool, child
    finally:
        pool.close()


def test_an_image_waiting_in_a_childs_pipe_is_decoded_next_by_that_child(stopped_child):
    """Both images are in the pipe before the child reads either: it answers both, in order."""
    pool, child = stopped_child
    outcomes: list = []
    images = pictures()[:2]
    for data in images:
        pool.submit(data, outcomes.append, trusted=True)
    assert child.task is not None and child.queued is not None and not child.outbox
    child.process.send_signal(signal.SIGCONT)
    wait_until(lambda: len(outcomes) == 2)
    assert [same(a, prepare_safely(b, LIMITS)) for a, b in zip(outcomes, images, strict=True)] == [True, True]
    assert pool.restarts == 0 and pool.timeouts == 0


def test_nothing_waits_behind_an_untrusted_image(stopped_child):
    """Uploads and clients whose frames ran out of time are not trusted: no image waits behind theirs."""
    pool, child = stopped_child
    outcomes: list = []
    pool.submit(pictures()[0], outcomes.append)  # untrusted
    assert pool.capacity() == 0
    pool.submit(pictures()[1], outcomes.append, trusted=True)
    assert child.queued is None
    child.process.send_signal(signal.SIGCONT)
    wait_until(lambda: len(outcomes) == 2)
    assert all(same(a, prepare_safely(b, LIMITS)) for a, b in zip(outcomes, pictures()[:2], strict=True))


def test_closing_stops_every_worker():
    pool = PreparePool(2, LIMITS)
    processes = [child.process for child in pool._children]
    pool.prepare_many(pictures())
    pool.close()
    assert all(process.poll() is not None for process in processes)
    closed = pool.prepare_many(pictures()[:2])  # with no workers left it still answers, at once
    assert [outcome.code for outcome in closed] == ["shutting_down", "shutting_down"]


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
def test_children_keep_picture_sized_buffers_on_their_heap(pool):
    """glibc's malloc would map and unmap every buffer over 128 KB: a third of a canvas export's CPU."""
    from realtime.serving.prep_pool import CHILD_MALLOC_ENV

    assert wait_ready(pool)
    for child in pool._children:
        raw = Path(f"/proc/{child.process.pid}/environ").read_text()
        environ = dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)
        assert {key: environ.get(key) for key in CHILD_MALLOC_ENV} == CHILD_MALLOC_ENV
