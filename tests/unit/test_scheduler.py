"""The inference scheduler on its own: latest-wins, order, batching, and faults that must not lose frames.

Threading mode (calls made directly, workers in plain threads), a stand-in model and decoder:
these tests are about who gets answered with what, not about images.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from realtime.pipeline.errors import InputError
from realtime.pipeline.preprocess import Prepared
from realtime.serving.scheduler import InferenceScheduler, Job


class StandInModel:
    """Says digit `int(x[0, 0])`; can be held (to let frames pile up) or made to fail."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.read: list[list[int]] = []  # the digits in each call
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()
        self.fail_next = False

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.calls.append(len(batch))
        self.read.append([int(x) for x in batch[:, 0, 0]])
        self.entered.set()
        assert self.release.wait(10)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("model fault")
        out = np.zeros((len(batch), 10), np.float32)
        out[np.arange(len(batch)), batch[:, 0, 0].astype(int)] = 1.0
        return out


def decode(images: list[bytes]) -> list[Prepared | InputError]:
    """b"3" -> an image the stand-in model reads as 3; b"blank" -> blank; anything else -> bad input."""
    outcomes: list[Prepared | InputError] = []
    for data in images:
        if data == b"blank":
            outcomes.append(Prepared(np.zeros((28, 28), np.float32), True))
        elif data.isdigit():
            x = np.zeros((28, 28), np.float32)
            x[0, 0] = int(data)
            outcomes.append(Prepared(x, False))
        else:
            outcomes.append(InputError("not_an_image", "Not an image."))
    return outcomes


class Inbox:
    """What one client received, in order."""

    def __init__(self) -> None:
        self.items: list[tuple[int | None, dict | None, InputError | None]] = []
        self.changed = threading.Condition()

    def deliver_for(self, seq: int | None):
        def deliver(payload, error):
            with self.changed:
                self.items.append((seq, payload, error))
                self.changed.notify_all()
        return deliver

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.items) >= count, timeout)

    @property
    def seqs(self) -> list[int | None]:
        return [seq for seq, _, _ in self.items]


@pytest.fixture()
def model():
    return StandInModel()


@pytest.fixture()
def make_scheduler(model):
    started: list[InferenceScheduler] = []

    def spawn(fn, *args):
        thread = threading.Thread(target=fn, args=args, daemon=True)
        thread.start()
        return thread

    def make(**options) -> InferenceScheduler:
        running = InferenceScheduler(model, decode, spawn=spawn, **options)
        running.start()
        started.append(running)
        return running

    yield make
    model.release.set()
    for running in started:
        running.stop()


@pytest.fixture()
def scheduler(make_scheduler):
    return make_scheduler()


def frame(inbox: Inbox, key: str, seq: int, image: bytes) -> Job:
    return Job(key=key, seq=seq, image=image, deliver=inbox.deliver_for(seq))


def test_a_frame_is_answered_with_the_models_reading(scheduler):
    inbox = Inbox()
    assert scheduler.submit(frame(inbox, "a", 1, b"7")) == "queued"
    assert inbox.wait_for(1)
    seq, payload, error = inbox.items[0]
    assert (seq, error) == (1, None)
    assert payload["digit"] == 7 and payload["blank"] is False


def test_frames_sent_while_busy_are_superseded_and_only_the_newest_is_answered(scheduler, model):
    inbox = Inbox()
    model.release.clear()
    scheduler.submit(frame(inbox, "a", 1, b"1"))
    assert model.entered.wait(5)  # frame 1 is in the model; the next ones must wait
    outcomes = [scheduler.submit(frame(inbox, "a", seq, str(seq).encode())) for seq in (2, 3, 4)]
    assert outcomes == ["queued", "superseded", "superseded"]
    model.release.set()
    assert inbox.wait_for(2)
    time.sleep(0.1)  # nothing else may arrive
    assert inbox.seqs == [1, 4]
    assert [payload["digit"] for _, payload, _ in inbox.items] == [1, 4]
    assert scheduler.stats.superseded == 2


def test_a_frame_older_than_one_already_accepted_is_dropped(scheduler):
    inbox = Inbox()
    scheduler.submit(frame(inbox, "a", 5, b"5"))
    assert scheduler.submit(frame(inbox, "a", 5, b"5")) == "stale"
    assert scheduler.submit(frame(inbox, "a", 3, b"3")) == "stale"
    assert inbox.wait_for(1)
    time.sleep(0.1)
    assert inbox.seqs == [5]


def test_waiting_clients_share_one_model_call(scheduler, model):
    inboxes = {key: Inbox() for key in "abcde"}
    model.release.clear()
    scheduler.submit(frame(Inbox(), "first", 1, b"0"))
    assert model.entered.wait(5)
    for digit, (key, inbox) in enumerate(inboxes.items()):
        scheduler.submit(frame(inbox, key, 1, str(digit).encode()))
    model.release.set()
    for digit, inbox in enumerate(inboxes.values()):
        assert inbox.wait_for(1)
        assert inbox.items[0][1]["digit"] == digit  # each client gets its own answer
    assert model.calls == [1, 5]


def test_bad_and_blank_frames_are_answered_without_the_model(scheduler, model):
    bad, blank = Inbox(), Inbox()
    scheduler.submit(frame(bad, "bad", 1, b"garbage"))
    scheduler.submit(frame(blank, "blank", 1, b"blank"))
    assert bad.wait_for(1) and blank.wait_for(1)
    assert bad.items[0][2].code == "not_an_image" and bad.items[0][1] is None
    assert blank.items[0][1]["blank"] is True and blank.items[0][1]["digit"] is None
    assert model.calls == []
    assert scheduler.stats.input_errors == 1


def test_a_failing_model_call_answers_its_frames_with_an_error_and_the_next_batch_works(scheduler, model):
    inbox = Inbox()
    model.fail_next = True
    scheduler.submit(frame(inbox, "a", 1, b"2"))
    assert inbox.wait_for(1)
    _, payload, error = inbox.items[0]
    assert payload is None and error.code == "internal_error" and error.status == 500
    scheduler.submit(frame(inbox, "a", 2, b"2"))
    assert inbox.wait_for(2)
    assert inbox.items[1][1]["digit"] == 2
    assert scheduler.stats.internal_errors == 1


def test_answers_to_one_client_keep_increasing_under_a_stream(scheduler):
    inbox = Inbox()
    for seq in range(1, 301):
        scheduler.submit(frame(inbox, "a", seq, str(seq % 10).encode()))
        if seq % 7 == 0:
            time.sleep(0.001)
    assert inbox.wait_for(1)
    deadline = time.monotonic() + 10
    while (not inbox.seqs or inbox.seqs[-1] != 300) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert inbox.seqs[-1] == 300  # the newest frame is always answered
    assert inbox.seqs == sorted(set(inbox.seqs))


def test_a_client_that_left_is_forgotten(scheduler, model):
    inbox = Inbox()
    hold_the_model(scheduler, model)
    scheduler.submit(frame(inbox, "gone", 9, b"9"))
    scheduler.forget("gone")
    assert scheduler.pending_count() == 0
    model.release.set()
    time.sleep(0.2)
    assert inbox.items == []
    assert scheduler.submit(frame(inbox, "gone", 1, b"1")) == "queued"  # a new client may reuse the key


def test_a_refused_newer_frame_withdraws_the_clients_waiting_frames(scheduler, model):
    inbox = Inbox()
    hold_the_model(scheduler, model)
    scheduler.submit(frame(inbox, "a", 1, b"1"))
    scheduler.withdraw("a", 2)  # frame 2 was refused while read (and answered by the caller)
    assert scheduler.submit(frame(inbox, "a", 2, b"2")) == "stale"
    scheduler.withdraw("a", 1)  # not newer: nothing changes
    assert scheduler.submit(frame(inbox, "a", 3, b"3")) == "queued"
    model.release.set()
    assert inbox.wait_for(1)
    time.sleep(0.1)
    assert inbox.seqs == [3]
    assert scheduler.stats.superseded == 1 and scheduler.pending_count() == 0


def hold_the_model(scheduler, model) -> None:
    """Keep the model busy with one frame, so that the frames sent next wait together."""
    model.release.clear()
    scheduler.submit(frame(Inbox(), "first", 1, b"0"))
    assert model.entered.wait(5)


def send(scheduler, inboxes: dict[str, Inbox], key: str, *digits: int) -> None:
    """Frames from one client, back to back: from the second on each one replaces the one before."""
    inbox = inboxes.setdefault(key, Inbox())
    for digit in digits:
        seq = len(inbox.items) + 100 + digit  # increasing per client
        scheduler.submit(frame(inbox, key, seq, str(digit).encode()))


def all_answered(inboxes: dict[str, Inbox]) -> bool:
    return all(inbox.wait_for(1) for inbox in inboxes.values())


def test_a_superseded_frame_keeps_its_clients_place_in_line(make_scheduler, model):
    scheduler = make_scheduler(max_batch=2, fresh_s=0.02, turn_wait_s=10.0)
    inboxes: dict[str, Inbox] = {}
    hold_the_model(scheduler, model)
    for key, digit in zip("abc", (1, 2, 3), strict=True):
        send(scheduler, inboxes, key, digit)
    time.sleep(0.05)
    send(scheduler, inboxes, "a", 9)  # a fresh picture from the client first in line
    send(scheduler, inboxes, "d", 4)
    model.release.set()
    assert all_answered(inboxes)
    assert model.read[1] == [9, 2]  # a (its newest picture) and b: the longest in line


class BackgroundDecoder:
    """Decodes in threads of its own, two images at a time, as the preprocessing children do."""

    background = True

    def __init__(self) -> None:
        self.handed: list[bytes] = []
        self.busy = 0
        self.lock = threading.Lock()
        self.on_idle = None

    def capacity(self) -> int:
        with self.lock:
            return 2 - self.busy

    def submit(self, data: bytes, done, trusted: bool = False) -> None:
        with self.lock:
            self.busy += 1
            self.handed.append(data)

        def run() -> None:
            outcome = decode([data])[0]
            with self.lock:
                self.busy -= 1
            done(outcome)
            self.on_idle()

        threading.Thread(target=run, daemon=True).start()


def test_a_frame_starts_decoding_when_it_arrives_even_while_the_model_runs(model):
    """A background decoder is handed a frame by `submit` itself: it does not wait for the worker,
    which may be in a model call."""
    decoder = BackgroundDecoder()
    running = InferenceScheduler(model, decoder, spawn=lambda fn: threading.Thread(target=fn, daemon=True).start())
    decoder.on_idle = running.poke
    running.start()
    try:
        model.release.clear()
        first, second = Inbox(), Inbox()
        running.submit(frame(first, "a", 1, b"3"))
        assert model.entered.wait(5)  # the worker is in the model call now
        running.submit(frame(second, "b", 1, b"4"))
        assert decoder.handed == [b"3", b"4"]
        model.release.set()
        assert first.wait_for(1) and second.wait_for(1)
        assert [payload["digit"] for _, payload, _ in first.items + second.items] == [3, 4]
    finally:
        model.release.set()
        running.stop()
