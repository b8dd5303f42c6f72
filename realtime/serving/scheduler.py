"""The inference scheduler: one queue for HTTP and Socket.IO, latest-wins, micro-batched.

Each client has at most one waiting frame: a newer snapshot replaces the one not yet
decoded (latest-wins), so a fast or flooding client costs one slot, and every client's newest
frame is answered. Frames go through two stages:
- decoding, in the decoder's child processes (`prep_pool`), one image per child, with a time
  limit. A client has at most one image decoding at a time, so one client sending crafted
  frames holds one child at most, and the others go on with everyone else's frames;
  uploads (lane "upload") may hold at most `upload_decodes` children at once, and neither they
  nor a client whose last frame ran out of time take the last `live_reserve` free ones;
- inference: a worker in a real OS thread takes the decoded frames (`policy.pick_batch` says
  which, when more wait than a batch holds), runs the model once for the whole batch and queues
  the answers; the server's own loop emits or returns them (`_pump`, woken through a pipe,
  never through eventlet's thread pool, which HTTP requests also use).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..pipeline.errors import InputError
from ..pipeline.preprocess import Prepared
from .policy import Turns, pick_batch
from .prep_pool import Done, Outcome
from .results import prediction_payload
from .runtime import os_threading, unpatched, wait_readable

log = logging.getLogger(__name__)

# A client whose picture took longer than this to decode waits as long again before its next
# decode starts: one client resending pictures as fast as it can (expensive or not) holds a
# decoder, i.e. a core, half the time at most. A client that waits for its answer before it sends
# again (the page, HTTP) never notices: its next frame comes later than that anyway.
REST_FROM_S = 0.0

# deliver(payload, error): exactly one of them is None.
Deliver = Callable[[dict | None, InputError | None], None]
Finished = list[tuple["Job", dict | None, InputError | None]]


@dataclass
class Job:
    key: Hashable
    deliver: Deliver
    seq: int | None = None
    image: bytes | None = None  # raw bytes, decoded only if still the newest when a decoder is free
    prepared: Prepared | None = None
    lane: str = "live"  # "upload" for HTTP uploads: they may hold only some of the decoders
    # Adds the teaching lens's explanation to the answer (`explain.Explainer`), in the worker,
    # after the rest of the batch has been answered; None for live frames.
    explain: Callable[[dict, Prepared], dict] | None = None
    submitted: float = field(default_factory=time.perf_counter)
    waiting_since: float | None = None  # when its client's wait for a turn began (set by `submit`)
    cancelled: bool = False  # a newer, already prepared frame of its client overtook it while decoding
    decode_started: float = 0.0


class Decoder(Protocol):
    background: bool  # decodes in threads or processes of its own, never in the caller's

    def capacity(self) -> int: ...

    def submit(self, data: bytes, done: Done, trusted: bool = False) -> None: ...


class InlineDecoder:
    """A `prepare_many(images)` function as a Decoder: decodes in the caller's thread, one image at a time."""

    background = False

    def __init__(self, prepare_many: Callable[[list[bytes]], list[Outcome]]) -> None:
        self._prepare_many = prepare_many

    def capacity(self) -> int:
        return 1

    def submit(self, data: bytes, done: Done, trusted: bool = False) -> None:
        done(self._prepare_many([data])[0])


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
    abandoned: int = 0  # dropped because its requester went away (disconnected, HTTP timed out)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class UploadSlots:
    """At most `limit` HTTP uploads at once: the next one is refused at once (503), never queued without bound."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self._lock = os_threading().Lock()

    def acquire(self) -> bool:
        with self._lock:
            if self.in_use >= self.limit:
                return False
            self.in_use += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.in_use -= 1


class AnswerQueue:
    """Finished batches, from any OS thread to the loop that delivers them.

    The loop is woken through a pipe: a green thread waits on it without holding an OS thread
    (under eventlet, `tpool` threads are shared with HTTP requests, and 20 busy uploads once
    left no thread to deliver answers with: 26 s for a well-behaved client).
    """

    def __init__(self) -> None:
        self._batches: deque[Finished] = deque()
        self._lock = os_threading().Lock()
        self._os = unpatched("os")
        self._read_fd, self._write_fd = self._os.pipe()
        self._os.set_blocking(self._read_fd, False)
        self._os.set_blocking(self._write_fd, False)

    def put(self, finished: Finished) -> None:
        with self._lock:
            self._batches.append(finished)
        self.wake()

    def get(self, timeout: float = 0.5) -> Finished:
        """Every finished answer, oldest first, or [] after `timeout` seconds without one."""
        with self._lock:
            ready = bool(self._batches)
        if not ready:
            wait_readable(self._read_fd, timeout)
        with contextlib.suppress(BlockingIOError, OSError):
            self._os.read(self._read_fd, 4096)
        with self._lock:
            batches, self._batches = list(self._batches), deque()
        return [item for batch in batches for item in batch]

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._os.write(self._write_fd, b"x")


class InferenceScheduler:
    def __init__(self, predictor: Callable[[np.ndarray], np.ndarray],
                 decoder: Decoder | Callable[[list[bytes]], list[Outcome]], *,
                 spawn: Callable[..., Any],
                 max_batch: int = 64, max_wait_s: float = 0.002, fresh_s: float = 0.02,
                 turn_wait_s: float = 0.1, upload_decodes: int = 1, live_reserve: int = 0,
                 on_stop: Callable[[], None] | None = None) -> None:
        self._predictor = predictor
        self._decoder: Decoder = decoder if hasattr(decoder, "submit") else InlineDecoder(decoder)  # type: ignore[arg-type]
        # A decoder with its own thread is handed the next image from that thread as soon as it can
        # take one (an inline decoder would recurse: its images are handed over by the worker only).
        self._eager = not isinstance(self._decoder, InlineDecoder)
        # A decoder that works in the background is handed a new frame by `submit` itself, in the
        # caller's thread: the frame starts decoding without first waking the worker.
        self._hand_over = self._eager and getattr(self._decoder, "background", False)
        self._on_stop = on_stop  # releases what the decoder holds (worker processes)
        self._spawn = spawn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.fresh_s = fresh_s
        self.turn_wait_s = turn_wait_s
        self.upload_decodes = max(1, upload_decodes)
        # Decoders an upload may not take: kept free (or busy with live frames) for the sockets, even
        # while a replacement child is starting and fewer decoders than usual are up.
        self.live_reserve = max(0, live_reserve)
        self._wakeup = os_threading().Condition()  # shared with real OS threads, even under eventlet
        self._answers = AnswerQueue()
        self._worker: Any = None
        self._pending: dict[Hashable, Job] = {}  # not decoded yet; insertion order = when clients began waiting
        self._decoding: dict[Hashable, Job] = {}  # in a decoder now (one per client at most)
        self._ready: dict[Hashable, Job] = {}  # decoded, waiting for the model
        self._last_seq: dict[Hashable, int] = {}
        self._suspect: dict[Hashable, bool] = {}  # clients whose last frame was too complex to decode
        self._rest_until: dict[Hashable, float] = {}  # clients whose next decode waits (see REST_FROM_S)
        self._superseded_at: dict[Hashable, float] = {}  # when each client last sent over a waiting frame
        self._last_batch_size = 1
        self._progress_at = time.monotonic()  # last decode or batch finished, or work arriving to an idle queue
        self._running = False
        self.stats = Stats()

    # --- the server's side ----------------------------------------------------

    def start(self) -> None:
        self._running = True
        self._worker = os_threading().Thread(target=self._work, name="digits-inference", daemon=True)
        self._worker.start()
        self._spawn(self._pump)

    def stop(self) -> None:
        """Stop taking work, let a model call in progress finish (a moment), release the decoders."""
        with self._wakeup:
            self._running = False
            self._wakeup.notify_all()
        self._answers.wake()
        if self._worker is not None:
            self._worker.join(2)
        if self._on_stop is not None:
            self._on_stop()
            self._on_stop = None

    @property
    def running(self) -> bool:
        return self._running

    def poke(self) -> None:
        """The decoder can take more images (called from its thread): hand them over from here, at once
        (the worker is not woken for it: it has nothing to do with them until they are decoded)."""
        if self._eager:
            if self._running:
                self._start_decodes()
            return
        with self._wakeup:
            self._wakeup.notify()

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
            if not self._has_work():
                self._progress_at = time.monotonic()
            waiting = [older for older in (self._pending.get(job.key),
                                           self._ready.get(job.key) if job.prepared is not None else None)
                       if older is not None]
            job.waiting_since = waiting[0].waiting_since if waiting else job.submitted
            if job.prepared is None:
                self._pending[job.key] = job  # keeps the client's place in line
            else:  # nothing to decode: it overtakes every older frame of its client
                self._pending.pop(job.key, None)
                self._ready[job.key] = job
                decoding = self._decoding.get(job.key)
                if decoding is not None:
                    decoding.cancelled = True
            outcome = "queued"
            if waiting:
                self.stats.superseded += len(waiting)
                self._superseded_at[job.key] = job.submitted
                outcome = "superseded"
            hand_over = self._hand_over and self._running and job.prepared is None
            if not hand_over:
                self._wakeup.notify()
        if hand_over:
            self._start_decodes()
            with self._wakeup:
                if self._pending.get(job.key) is job:  # not started (no decoder free, or its client rests)
                    self._wakeup.notify()
        return outcome

    def withdraw(self, key: Hashable, seq: int) -> None:
        """A frame numbered `seq` was refused before it reached the queue (a bad message, answered at
        once): the client's older frames are not worth serving (their answers would go out after a
        newer seq's and be dropped), so the waiting ones are dropped and one decoding is not answered.
        One already with the model cannot be stopped; the caller drops its answer."""
        with self._wakeup:
            last = self._last_seq.get(key)
            if last is not None and seq <= last:
                return
            self._last_seq[key] = seq
            dropped = [queue.pop(key) for queue in (self._pending, self._ready) if key in queue]
            self.stats.superseded += len(dropped)
            decoding = self._decoding.get(key)
            if decoding is not None:
                decoding.cancelled = True  # counted as superseded when its decode ends

    def forget(self, key: Hashable) -> None:
        """Drop what is known of a client that went away (its frames, waiting or decoding, are not answered)."""
        with self._wakeup:
            dropped = [queue.pop(key) for queue in (self._pending, self._decoding, self._ready) if key in queue]
            self.stats.abandoned += len(dropped)
            self._last_seq.pop(key, None)
            self._superseded_at.pop(key, None)
            self._suspect.pop(key, None)
            self._rest_until.pop(key, None)

    def pending_count(self) -> int:
        """Frames accepted and not answered yet: waiting, decoding or waiting for the model."""
        with self._wakeup:
            return len(self._pending) + len(self._decoding) + len(self._ready)

    def stalled_s(self) -> float:
        """How long work has waited without any decode or model call finishing (0 when idle)."""
        with self._wakeup:
            if not self._has_work():
                return 0.0
            return time.monotonic() - self._progress_at

    def _has_work(self) -> bool:
        return bool(self._pending or self._decoding or self._ready)

    def _pump(self) -> None:
        """Runs on the server's loop: deliver finished answers, in the order they were made.

        (The answer pipe stays open for the process's life: closed here, its descriptor number
        could be reused by a socket that the worker's next wake-up byte would then write to.)
        """
        while self._running:
            for job, payload, error in self._answers.get():
                try:
                    job.deliver(payload, error)
                except Exception:
                    log.exception("could not deliver a prediction")

    # --- the OS thread's side -------------------------------------------------

    def _work(self) -> None:
        while self._running:
            try:
                self._start_decodes()
                finished = self._next_batch()
            except Exception:  # never let one bad batch stop the service
                log.exception("inference batch failed")
                continue
            explained = [item for item in finished if item[0].explain is not None and item[1] is not None
                         and not item[1].get("blank")]
            plain = [item for item in finished if item not in explained]
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

    def _start_decodes(self) -> None:
        """Hand waiting images to the decoder while it has room: in line order, one per client."""
        while True:
            with self._wakeup:
                job = self._next_to_decode()
                if job is None:
                    return
                del self._pending[job.key]
                self._decoding[job.key] = job
                job.decode_started = time.monotonic()
                trusted = job.lane == "live" and job.key not in self._suspect
            self._decoder.submit(job.image or b"", functools.partial(self._decoded, job), trusted=trusted)

    def _next_to_decode(self) -> Job | None:
        if not self._pending:
            return None
        capacity = self._decoder.capacity()
        if capacity <= 0:
            return None
        uploads = sum(1 for job in self._decoding.values() if job.lane == "upload")
        trusted = sum(1 for job in self._decoding.values() if job.lane == "live" and job.key not in self._suspect)
        # Uploads, and clients whose last frame ran out of time, never take the last free decoder(s).
        guarded_may_start = capacity - 1 + trusted >= self.live_reserve
        now = time.monotonic()
        for key, job in self._pending.items():
            if key in self._decoding or self._rest_until.get(key, 0.0) > now:
                continue
            if job.lane == "upload" and not (uploads < self.upload_decodes and guarded_may_start):
                continue
            if key in self._suspect and not guarded_may_start:
                continue
            return job
        return None

    def _decoded(self, job: Job, outcome: Outcome) -> None:
        """A decoder is done with `job` (called from its thread): answer an error or a blank at once,
        queue a picture for the model."""
        answer: Finished = []
        with self._wakeup:
            self._progress_at = time.monotonic()
            if self._decoding.get(job.key) is not job:
                return  # its client went away meanwhile
            del self._decoding[job.key]
            job.image = None
            took = self._progress_at - job.decode_started
            if took > REST_FROM_S:  # an expensive picture: its client waits as long before its next decode
                self._rest_until[job.key] = self._progress_at + took
            else:
                self._rest_until.pop(job.key, None)
            if not isinstance(outcome, InputError) or outcome.code != "image_too_complex":
                self._suspect.pop(job.key, None)
            if job.cancelled:
                self.stats.superseded += 1
            elif isinstance(outcome, InputError):
                answer.append((job, None, outcome))
                if outcome.code == "image_too_complex":
                    self._suspect[job.key] = True
            elif outcome.blank:
                job.prepared = outcome
                answer.append((job, prediction_payload(outcome, None, 0.0), None))
            else:
                job.prepared = outcome
                self._ready[job.key] = job
            self._count_answers(answer)
            self._wakeup.notify()
        if answer:
            self._answers.put(answer)
        if self._eager and self._running:
            self._start_decodes()  # the decoder that finished takes the next image without a thread handoff

    def _take_batch(self) -> list[Job]:
        with self._wakeup:
            deadline = time.perf_counter() + 0.5
            while self._running and not self._ready:
                if self._pending and self._next_to_decode() is not None:
                    return []  # a decoder has room: go and hand it the image first
                wait = max(0.0, deadline - time.perf_counter())
                now = time.monotonic()
                resting = [until for until in self._rest_until.values() if until > now]
                if resting and self._pending:  # wake when the first resting client may decode again
                    wait = min(wait, min(resting) - now + 0.001)
                if not self._wakeup.wait(wait):
                    return []  # let the worker look at `running` now and then
            # Wait a moment for more frames only when the last batch suggests they are coming.
            gather_until = time.perf_counter() + self.max_wait_s
            while self._running and len(self._ready) < min(self.max_batch, self._last_batch_size):
                remaining = gather_until - time.perf_counter()
                if remaining <= 0 or not self._wakeup.wait(remaining):
                    break
            in_line = dict(sorted(self._ready.items(), key=lambda item: item[1].waiting_since or 0.0))
            turns = Turns(self.max_batch, self.fresh_s, self.turn_wait_s)
            picked = pick_batch(in_line, self._superseded_at, time.perf_counter(), turns)
            return [self._ready.pop(key) for key in picked]

    def _next_batch(self) -> Finished:
        jobs = self._take_batch()
        if not jobs:
            return []
        self._last_batch_size = len(jobs)
        finished: Finished = [(job, prediction_payload(job.prepared, None, 0.0), None)
                              for job in jobs if job.prepared.blank]
        ready = [job for job in jobs if not job.prepared.blank]
        if ready:
            finished += self._predict(ready)
        with self._wakeup:
            self._progress_at = time.monotonic()
            self.stats.batches += 1
            self.stats.largest_batch = max(self.stats.largest_batch, len(jobs))
            self._count_answers(finished)
        return finished

    def _predict(self, ready: list[Job]) -> Finished:
        """One model call for the batch; if it fails, every frame in it is answered with an error."""
        try:
            started = time.perf_counter()
            probabilities = self._predictor(np.stack([job.prepared.x for job in ready]))
            model_ms = (time.perf_counter() - started) * 1000
            rule = getattr(self._predictor, "unsure_rule", None)  # the model card's thresholds
            return [(job, prediction_payload(job.prepared, row, model_ms, rule), None)
                    for job, row in zip(ready, probabilities, strict=True)]
        except Exception:
            log.exception("inference batch failed")
            error = InputError("internal_error", "The prediction failed.", 500)
            return [(job, None, error) for job in ready]

    def _count_answers(self, finished: Finished) -> None:
        """(under the lock)"""
        for _, _payload, error in finished:
            if error is None:
                self.stats.answered += 1
            elif error.status >= 500:
                self.stats.internal_errors += 1
            else:
                self.stats.input_errors += 1
