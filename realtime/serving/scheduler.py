"""The inference scheduler: one queue for HTTP and Socket.IO, latest-wins, micro-batched.

Each client has at most one waiting frame: a newer snapshot replaces the one
not yet served (latest-wins), so a fast or flooding client costs one slot, and
every client's newest frame is answered. A worker in a real OS thread takes the
waiting frames (`policy.pick_batch` says which, when more wait than a batch holds), decodes
them, runs the model once for the whole batch and queues the answers; the server's
own loop emits or returns them while the worker goes on to the next batch, so a worker
never waits for a busy loop to hand it work.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..pipeline.errors import InputError
from ..pipeline.preprocess import Prepared
from .policy import Turns, pick_batch
from .prep_pool import Outcome
from .results import prediction_payload
from .runtime import os_threading

log = logging.getLogger(__name__)

# deliver(payload, error): exactly one of them is None.
Deliver = Callable[[dict | None, InputError | None], None]
Finished = list[tuple["Job", dict | None, InputError | None]]


@dataclass
class Job:
    key: Hashable
    deliver: Deliver
    seq: int | None = None
    image: bytes | None = None  # raw bytes, decoded by the worker only if still the newest
    prepared: Prepared | None = None
    # Adds the teaching lens's explanation to the answer (`explain.Explainer`), in the worker,
    # after the rest of the batch has been answered; None for live frames.
    explain: Callable[[dict, Prepared], dict] | None = None
    submitted: float = field(default_factory=time.perf_counter)
    waiting_since: float | None = None  # when its client's wait for a turn began (set by `submit`)


@dataclass
class Stats:
    received: int = 0
    superseded: int = 0  # replaced by a newer frame of the same client before being served
    stale: int = 0  # arrived with a seq not newer than one already accepted
    answered: int = 0
    input_errors: int = 0
    internal_errors: int = 0
    batches: int = 0
    largest_batch: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class AnswerQueue:
    """Finished batches, from the worker's OS thread to whoever delivers them."""

    def __init__(self) -> None:
        self._batches: deque[Finished] = deque()
        self._changed = os_threading().Condition()

    def put(self, finished: Finished) -> None:
        with self._changed:
            self._batches.append(finished)
            self._changed.notify()

    def get(self, timeout: float = 0.5) -> Finished:
        """The oldest finished batch, or [] after `timeout` seconds without one."""
        with self._changed:
            if not self._batches:
                self._changed.wait(timeout)
            return self._batches.popleft() if self._batches else []

    def wake(self) -> None:
        with self._changed:
            self._changed.notify_all()


class InferenceScheduler:
    def __init__(self, predictor: Callable[[np.ndarray], np.ndarray],
                 prepare_many: Callable[[list[bytes]], list[Outcome]], *,
                 run_blocking: Callable[..., Any], spawn: Callable[..., Any],
                 max_batch: int = 64, max_wait_s: float = 0.002, fresh_s: float = 0.02,
                 turn_wait_s: float = 0.1,
                 on_stop: Callable[[], None] | None = None) -> None:
        self._predictor = predictor
        self._prepare_many = prepare_many
        self._on_stop = on_stop  # releases what prepare_many holds (worker processes)
        self._run_blocking = run_blocking
        self._spawn = spawn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.fresh_s = fresh_s
        self.turn_wait_s = turn_wait_s
        self._wakeup = os_threading().Condition()  # shared with a real OS thread, even under eventlet
        self._answers = AnswerQueue()
        self._worker: Any = None
        self._pending: dict[Hashable, Job] = {}  # insertion order = the order clients started waiting
        self._last_seq: dict[Hashable, int] = {}
        self._superseded_at: dict[Hashable, float] = {}  # when each client last sent over a waiting frame
        self._last_batch_size = 1
        self._running = False
        self.stats = Stats()

    # --- the server's side ----------------------------------------------------

    def start(self) -> None:
        self._running = True
        self._worker = os_threading().Thread(target=self._work, name="digits-inference", daemon=True)
        self._worker.start()
        self._spawn(self._pump)

    def stop(self) -> None:
        with self._wakeup:
            self._running = False
            self._wakeup.notify_all()
        self._answers.wake()
        if self._worker is not None:
            self._worker.join(5)  # lets a batch in progress finish before its resources go
        if self._on_stop is not None:
            self._on_stop()
            self._on_stop = None

    @property
    def running(self) -> bool:
        return self._running

    def submit(self, job: Job) -> str:
        """Queue a frame. Returns "queued", "superseded" (it replaced this client's waiting frame:
        the client sends faster than it is served) or "stale" (its seq is not newer than one
        already accepted, so it is dropped)."""
        with self._wakeup:
            self.stats.received += 1
            if job.seq is not None:
                last = self._last_seq.get(job.key)
                if last is not None and job.seq <= last:
                    self.stats.stale += 1
                    return "stale"
                self._last_seq[job.key] = job.seq
            outcome = "queued"
            waiting = self._pending.get(job.key)
            job.waiting_since = job.submitted if waiting is None else waiting.waiting_since
            if waiting is not None:
                self.stats.superseded += 1
                self._superseded_at[job.key] = job.submitted
                outcome = "superseded"
            self._pending[job.key] = job  # keeps the client's place in line
            self._wakeup.notify()
        return outcome


    def forget(self, key: Hashable) -> None:
        """Drop what is known of a client that went away."""
        with self._wakeup:
            self._pending.pop(key, None)
            self._last_seq.pop(key, None)
            self._superseded_at.pop(key, None)

    def pending_count(self) -> int:
        with self._wakeup:
            return len(self._pending)

    def _pump(self) -> None:
        """Runs on the server's loop: deliver finished batches, in the order they were made."""
        while self._running:
            for job, payload, error in self._run_blocking(self._answers.get):
                try:
                    job.deliver(payload, error)
                except Exception:
                    log.exception("could not deliver a prediction")

    # --- the OS thread's side -------------------------------------------------

    def _work(self) -> None:
        while self._running:
            try:
                finished = self._next_batch()
            except Exception:  # never let one bad batch stop the service
                log.exception("inference batch failed")
                continue
            explained = [item for item in finished if item[0].explain is not None and item[1] is not None]
            plain = [item for item in finished if item[0].explain is None or item[1] is None]
            if plain:
                self._answers.put(plain)
            if explained:  # later, so an explanation never delays the batch's other answers
                self._answers.put([self._explain(job, payload) for job, payload, _ in explained])

    def _explain(self, job: Job, payload: dict) -> tuple[Job, dict, None]:
        """The answer with its explanation; on failure the plain answer (the lens is extra)."""
        try:
            return job, job.explain(payload, job.prepared), None
        except Exception:
            log.exception("explanation failed")
            return job, payload, None

    def _take_batch(self) -> list[Job]:
        with self._wakeup:
            deadline = time.perf_counter() + 0.5
            while self._running and not self._pending:
                if not self._wakeup.wait(max(0.0, deadline - time.perf_counter())):
                    return []  # let the worker look at `running` now and then
            # Wait a moment for more frames only when the last batch suggests they are coming.
            gather_until = time.perf_counter() + self.max_wait_s
            while self._running and len(self._pending) < min(self.max_batch, self._last_batch_size):
                remaining = gather_until - time.perf_counter()
                if remaining <= 0 or not self._wakeup.wait(remaining):
                    break
            turns = Turns(self.max_batch, self.fresh_s, self.turn_wait_s)
            picked = pick_batch(self._pending, self._superseded_at, time.perf_counter(), turns)
            return [self._pending.pop(key) for key in picked]

    def _next_batch(self) -> Finished:
        jobs = self._take_batch()
        if not jobs:
            return []
        self._last_batch_size = len(jobs)
        finished: Finished = []
        ready: list[Job] = []
        to_decode = [job for job in jobs if job.prepared is None]
        outcomes = self._prepare_many([job.image or b"" for job in to_decode]) if to_decode else []
        for job, outcome in zip(to_decode, outcomes, strict=True):
            job.image = None
            if isinstance(outcome, InputError):
                finished.append((job, None, outcome))
            else:
                job.prepared = outcome
        for job in jobs:
            if job.prepared is None:
                continue
            if job.prepared.blank:
                finished.append((job, prediction_payload(job.prepared, None, 0.0), None))
            else:
                ready.append(job)
        if ready:
            finished += self._predict(ready)
        self._count(jobs, finished)
        return finished

    def _predict(self, ready: list[Job]) -> Finished:
        """One model call for the batch; if it fails, every frame in it is answered with an error."""
        try:
            started = time.perf_counter()
            probabilities = self._predictor(np.stack([job.prepared.x for job in ready]))
            model_ms = (time.perf_counter() - started) * 1000
            return [(job, prediction_payload(job.prepared, row, model_ms), None)
                    for job, row in zip(ready, probabilities, strict=True)]
        except Exception:
            log.exception("inference batch failed")
            error = InputError("internal_error", "The prediction failed.", 500)
            return [(job, None, error) for job in ready]

    def _count(self, jobs: list[Job], finished: Finished) -> None:
        with self._wakeup:
            self.stats.batches += 1
            self.stats.largest_batch = max(self.stats.largest_batch, len(jobs))
            for _, _payload, error in finished:
                if error is None:
                    self.stats.answered += 1
                elif error.status >= 500:
                    self.stats.internal_errors += 1
                else:
                    self.stats.input_errors += 1
