"""Preprocessing in child processes: every image decoded out of the server, one at a time, with a time limit.

Decoding untrusted bytes is where a crafted picture costs seconds (docs/security-decoding.md).
So no image is decoded in the server's own process: each goes to one of `processes` child
processes (plain Python, no TensorFlow), one image per child at a time, and a child that has not
answered within `timeout_s` is killed and replaced (SIGKILL works on a stopped child too); its
image gets `image_too_complex`. A slow image then holds one child for at most the time limit
and nothing else: the other children go on with the other images. Under eventlet this also
keeps the decoding off the server's GIL (docs/performance.md has the measurements).

One OS thread, the dispatcher, owns the children: it writes each image to an idle child, waits
on all their pipes with `select` and the nearest deadline, and calls each image's `done` with
its outcome. (`submit` writes an image to an idle child itself; and behind a trusted image, one
expected to be quick, the next may wait in the child's pipe, so that the child need not idle while
the dispatcher hears its answer: if the one before it turns out slow, another child decodes it too.)
Callers only queue work (`submit`) and are called back; `prepare_many` waits for a list.
Everything here uses the unpatched `os`, `select` and `threading`: nothing touches the event loop.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pickle
import signal
import struct
import sys
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..paths import PACKAGE_DIR
from ..pipeline.errors import InputError
from ..pipeline.imaging import ImageLimits
from ..pipeline.preprocess import FIELD, Prepared, prepare_bytes
from .runtime import os_threading, unpatched

log = logging.getLogger(__name__)

_POOLS: weakref.WeakSet[PreparePool] = weakref.WeakSet()
Outcome = Prepared | InputError
Done = Callable[[Outcome], None]
_HEADER = struct.Struct("!I")
_READY = "ready"
# Inherited pipe descriptors (pass_fds) and select() on pipes are POSIX only: not on Windows.
CHILDREN_POSSIBLE = os.name == "posix"
# A child that has not said it is ready this long after its start is replaced.
START_TIMEOUT_S = 30.0
# An image waiting in a child's pipe behind one that has taken this long is given to another child too
# (`_Child.queued`): a picture that turns out slow delays the frame behind it by this much at most.
REROUTE_AFTER_S = 0.02
# glibc's malloc hands each buffer over 128 KB (a canvas's pixels, its float copies) fresh pages from
# the kernel and returns them on free, so every picture paid its page faults again: a third of a
# 280x280 export's CPU (docs/performance.md). Children keep buffers up to 8 MB on their heap, and up
# to 32 MB of free heap. Other C libraries ignore these variables; values set by the user win.
CHILD_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(8 << 20), "MALLOC_TRIM_THRESHOLD_": str(32 << 20)}


def prepare_safely(data: bytes, limits: ImageLimits) -> Outcome:
    """The pipeline for one image; bad input and internal faults become an InputError, never a raise."""
    try:
        return prepare_bytes(data, limits)
    except InputError as error:
        return error
    except Exception:
        log.exception("preprocessing failed")
        return InputError("internal_error", "The image could not be processed.", 500)


def too_slow(timeout_s: float) -> InputError:
    return InputError("image_too_complex",
                      f"The image took longer than {timeout_s * 1000:.0f} ms to decode; send a smaller or "
                      "simpler picture (a PNG or an ordinary JPEG).")


def shutting_down() -> InputError:
    return InputError("shutting_down", "The server is stopping; try again in a moment.", 503)


# --- the wire: a 4-byte length, then a pickle -----------------------------------

def _frame(message: object) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload


def _take_message(inbox: bytearray) -> object | None:
    """The first whole message in `inbox` (removed from it), or None while it is incomplete."""
    if len(inbox) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack_from(inbox)
    if len(inbox) < _HEADER.size + size:
        return None
    message = pickle.loads(bytes(inbox[_HEADER.size:_HEADER.size + size]))
    del inbox[:_HEADER.size + size]
    return message


def _send_blocking(fd: int, message: object) -> None:
    view = memoryview(_frame(message))
    while view:
        view = view[os.write(fd, view):]


def _receive_blocking(fd: int, inbox: bytearray) -> object:
    """The next message; bytes read past it stay in `inbox` (the server may have written the next image)."""
    while True:
        message = _take_message(inbox)
        if message is not None:
            return message
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            raise EOFError("pipe closed")
        inbox += chunk


def _encode(outcome: Outcome) -> tuple:
    if isinstance(outcome, InputError):
        return ("error", outcome.code, outcome.message, outcome.status)
    return ("ok", outcome.x.tobytes(), outcome.blank)


def _decode(item: Any) -> Outcome:
    if not isinstance(item, tuple) or not item:
        raise ValueError("garbled answer")
    if item[0] == "error":
        return InputError(item[1], item[2], item[3])
    x = np.frombuffer(item[1], np.float32).reshape(FIELD, FIELD).copy()
    return Prepared(x, bool(item[2]))


# --- the server's side -------------------------------------------------------------

@dataclass
class _Task:
    data: bytes
    done: Done
    trusted: bool = False  # expected to be quick (a live frame of a client whose frames were): one may wait behind it
    settled: bool = False  # answered (a rerouted image is in two children: the first answer counts)
    rerouted: bool = False

    def settle(self) -> bool:
        """Mark it answered; True only the first time (the caller then calls `done`)."""
        first, self.settled = not self.settled, True
        return first


@dataclass
class _Child:
    process: Any  # subprocess.Popen
    to_child: int
    from_child: int
    started: float
    ready: bool = False
    task: _Task | None = None
    # The next image, already in the child's pipe behind a trusted `task`: the child starts it as soon
    # as it has answered, without waiting for the dispatcher to hear the answer and write it the next.
    queued: _Task | None = None
    task_started: float = 0.0
    deadline: float = 0.0
    outbox: memoryview = field(default_factory=lambda: memoryview(b""))
    inbox: bytearray = field(default_factory=bytearray)


class PreparePool:
    """`submit(image, done)`: the pipeline for one image in a child process, within `timeout_s`."""

    def __init__(self, processes: int, limits: ImageLimits, timeout_s: float = 1.0,
                 on_idle: Callable[[], None] | None = None, spares: int = 1) -> None:
        self.limits = limits
        self.timeout_s = timeout_s
        self.on_idle = on_idle  # called (from the dispatcher) whenever a child can take an image
        self.restarts = 0
        self.timeouts = 0
        self._os = unpatched("os")
        self._select = unpatched("select")
        self._subprocess = unpatched("subprocess")
        threading = os_threading()
        self._lock = threading.Lock()
        self._queue: deque[_Task] = deque()
        if not CHILDREN_POSSIBLE:
            processes = 0  # Windows: the scheduler's thread decodes, as with PREPROCESS_PROCESSES=0
        self._inline = processes <= 0  # no children: decode in the caller's thread (no time limit)
        self._running = not self._inline
        self._wake_read, self._wake_write = self._os.pipe()
        self._os.set_blocking(self._wake_read, False)
        self._os.set_blocking(self._wake_write, False)
        self._children = [self._start() for _ in range(max(0, processes))]
        # Started and idle, out of rotation: a child killed for running out of time is replaced by
        # a ready spare at once. Starting one (imports) takes 0.5-1 s of a loaded machine, and while
        # it did, one socket resending a slow frame held the only other child (polite p95 0.6 s).
        self._spares = [self._start() for _ in range(max(0, spares) if self._children else 0)]
        self._dispatcher = threading.Thread(target=self._dispatch, name="digits-decoders", daemon=True)
        if self._running:
            self._dispatcher.start()
        _POOLS.add(self)

    @property
    def background(self) -> bool:
        """Whether images are decoded in the children (else in the caller's thread, at once)."""
        return not self._inline

    @property
    def processes(self) -> int:
        return len(self._children)

    def capacity(self) -> int:
        """Images that would go to a child now, at once or next in its pipe (`_Child.queued`), less the
        images already queued."""
        if self._inline:
            return 1
        with self._lock:
            now = time.monotonic()
            places = self._idle_count() + sum(1 for child in self._children if self._may_queue_behind(child, now))
            return max(0, places - len(self._queue))

    def idle(self) -> int:
        """Children started and doing nothing."""
        with self._lock:
            return self._idle_count()

    def _idle_count(self) -> int:
        """(under the lock)"""
        return sum(1 for child in self._children if child.ready and child.task is None)

    def wait_ready(self, timeout: float) -> bool:
        """Wait until every child has started (imported the pipeline) or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while self.idle() < self.processes and not self._inline:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def submit(self, data: bytes, done: Done, trusted: bool = False) -> None:
        """Queue one image; `done(outcome)` is called once, from the dispatcher's thread (here, at once,
        when the pool has no children: then it decodes in the caller's thread, without a time limit).
        `trusted`: a frame expected to be quick, behind which the next image may wait in its child's pipe."""
        if self._inline:
            done(prepare_safely(data, self.limits))
            return
        with self._lock:
            if self._running:
                self._queue.append(_Task(data, done, trusted))
                child = self._assign()
                if child is None or not self._hand_over(child):
                    self._wake()
                return
        done(shutting_down())

    def prepare_many(self, images: list[bytes]) -> list[Outcome]:
        """The images through the children, waiting for all of them (each within the time limit)."""
        outcomes: list[Outcome | None] = [None] * len(images)
        finished = os_threading().Semaphore(0)

        def done_at(index: int) -> Done:
            def done(outcome: Outcome) -> None:
                outcomes[index] = outcome
                finished.release()
            return done

        for index, data in enumerate(images):
            self.submit(data, done_at(index))
        for _ in images:
            finished.acquire()
        return outcomes  # type: ignore[return-value]

    def close(self) -> None:
        """Kill every child now (an image in progress gets `shutting_down`); no waiting on them."""
        with self._lock:
            self._running = False
            queued, self._queue = list(self._queue), deque()
            self._wake()
        if self._dispatcher.is_alive():
            self._dispatcher.join(2.0)
        with self._lock:
            children, self._children = self._children + self._spares, []
            self._spares = []
        for child in children:
            queued += [task for task in (child.task, child.queued) if task is not None]
            child.task = child.queued = None
            self._stop_child(child)
        for task in queued:
            if task.settle():
                task.done(shutting_down())
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                self._os.close(fd)

    # --- the dispatcher's thread ---------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._os.write(self._wake_write, b"x")

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if not self._running:
                    return
                self._reroute(time.monotonic())
                self._assign()
                children = self._children + self._spares
            callbacks: list[Callable[[], None]] = []
            try:
                self._step(children, callbacks)
            except Exception:  # never let the dispatcher die: every image would wait forever
                log.exception("the decoding dispatcher failed a step")
            for callback in callbacks:
                try:
                    callback()
                except Exception:
                    log.exception("a decoding callback failed")

    def _assign(self) -> _Child | None:
        """Give each idle, ready child the next queued image, then each child busy with a trusted one the
        image after it (under the lock); the last child given one."""
        now = time.monotonic()
        given = None
        for child in self._children:
            if not self._next_queued():
                return given
            if child.ready and child.task is None:
                child.deadline = now + self.timeout_s
                child.task_started = now
                child.outbox = memoryview(_frame(self._queue[0].data))
                child.inbox = bytearray()
                child.task = self._queue.popleft()
                given = child
        for child in self._children:
            if not self._next_queued():
                return given
            if self._may_queue_behind(child, now):
                child.outbox = memoryview(bytes(child.outbox) + _frame(self._queue[0].data))
                child.queued = self._queue.popleft()
                given = child
        return given

    def _next_queued(self) -> _Task | None:
        """The first queued image not answered yet (a rerouted one may have been, by its other child)."""
        while self._queue and self._queue[0].settled:
            self._queue.popleft()
        return self._queue[0] if self._queue else None

    def _may_queue_behind(self, child: _Child, now: float) -> bool:
        task = child.task
        return (child.ready and task is not None and task.trusted and child.queued is None
                and now - child.task_started < REROUTE_AFTER_S / 2)

    def _reroute(self, now: float) -> None:
        """An image waiting behind one that is taking long goes back to the head of the queue, for another
        child (under the lock). It stays in its first child's pipe too: the first answer counts."""
        for child in self._children:
            waiting = child.queued
            if waiting is not None and not waiting.rerouted and now - child.task_started > REROUTE_AFTER_S:
                waiting.rerouted = True
                self._queue.appendleft(waiting)

    def _hand_over(self, child: _Child) -> bool:
        """Write a just-assigned image to its child from the caller's thread (under the lock): the child
        starts at once, without waking the dispatcher first, which then only needs to hear the answer
        (it waits on every child's pipe already, and never longer than the time limit). False when the
        pipe took only part of it: the dispatcher writes the rest."""
        try:
            written = self._os.write(child.to_child, child.outbox)
        except OSError:  # full (the dispatcher retries) or broken (the dispatcher replaces the child)
            return False
        child.outbox = child.outbox[written:]
        return not child.outbox

    def _step(self, children: list[_Child], callbacks: list[Callable[[], None]]) -> None:
        """One wait on every pipe, then what came of it: answers, writes, deaths, deadlines."""
        now = time.monotonic()
        deadlines = [child.deadline if child.task else child.started + START_TIMEOUT_S
                     for child in children if child.task or not child.ready]
        deadlines += [child.task_started + REROUTE_AFTER_S for child in children
                      if child.queued is not None and not child.queued.rerouted]
        # Never longer than the time limit: an image handed to a child while this waits is not seen
        # until then (`_hand_over`), and its deadline must still be kept.
        wait = min([0.5, self.timeout_s, *(max(0.0, deadline - now) for deadline in deadlines)])
        readers = [self._wake_read, *(child.from_child for child in children)]
        writers = [child.to_child for child in children if child.task and child.outbox]
        try:
            readable, writable, _ = self._select.select(readers, writers, [], wait)
        except (OSError, ValueError):  # a descriptor closed under us (close() is running)
            return
        if self._wake_read in readable:
            with contextlib.suppress(BlockingIOError, OSError):
                self._os.read(self._wake_read, 4096)
        now = time.monotonic()
        for child in children:
            if child.to_child in writable:
                self._write(child, callbacks)
            if child.from_child in readable:
                self._read(child, callbacks)
            if child.task is not None and now > child.deadline:
                self.timeouts += 1
                log.warning("an image took over %.0f ms to decode; its process is replaced", self.timeout_s * 1000)
                self._replace(child, too_slow(self.timeout_s), callbacks)
            elif not child.ready and now > child.started + START_TIMEOUT_S:
                self._replace(child, None, callbacks)

    def _write(self, child: _Child, callbacks: list[Callable[[], None]]) -> None:
        try:
            with self._lock:  # `submit` may be adding the next image to the same outbox
                written = self._os.write(child.to_child, child.outbox)
                child.outbox = child.outbox[written:]
        except BlockingIOError:
            pass
        except OSError:
            self._replace(child, _internal_error(), callbacks)

    def _read(self, child: _Child, callbacks: list[Callable[[], None]]) -> None:
        try:
            chunk = self._os.read(child.from_child, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # the child died
            self._replace(child, _internal_error(), callbacks)
            return
        child.inbox += chunk
        try:  # the answers to an image and to the one queued behind it may come in one read
            while (message := _take_message(child.inbox)) is not None:
                self._take(child, message, callbacks)
        except (pickle.UnpicklingError, ValueError, TypeError, IndexError, EOFError):
            self._replace(child, _internal_error(), callbacks)
            return
        if self.on_idle is not None:
            callbacks.append(self.on_idle)

    def _take(self, child: _Child, message: object, callbacks: list[Callable[[], None]]) -> None:
        """One message from a child: that it is ready, or its answer to its current image."""
        if not child.ready:
            if message != _READY:
                raise ValueError("no ready message")
            child.ready = True
            return
        outcome = _decode(message)
        with self._lock:  # from here on `submit` may hand this child its next image
            task, child.task, child.queued = child.task, child.queued, None
            if child.task is not None:  # already in the pipe: the child is decoding it now
                child.task_started = time.monotonic()
                child.deadline = child.task_started + self.timeout_s
            if task is not None and task.settle():
                callbacks.append(functools.partial(task.done, outcome))

    def _replace(self, child: _Child, error: InputError | None, callbacks: list[Callable[[], None]]) -> None:
        """Kill a child that died, hung, ran out of time or garbled its answer, and start another."""
        if error is not None and error.code == "internal_error":
            log.error("a preprocessing process failed (exit code %s); starting a new one", child.process.poll())
        with self._lock:  # no longer ready: `submit` hands it nothing more
            task, waiting = child.task, child.queued
            child.task, child.queued, child.ready = None, None, False
            if waiting is not None and not waiting.settled and not waiting.rerouted:
                self._queue.appendleft(waiting)  # never started: another child decodes it
            if task is not None and not task.settle():
                task = None  # a rerouted image answered by its other child
        self._stop_child(child)
        with self._lock:
            if self._running and child in self._spares:
                self._spares[self._spares.index(child)] = self._start()
            elif self._running and child in self._children:
                spare = next((spare for spare in self._spares if spare.ready), None)
                if spare is None:
                    replacement = self._start()
                else:
                    replacement = spare
                    self._spares[self._spares.index(spare)] = self._start()
                self._children[self._children.index(child)] = replacement
                self.restarts += 1
        if task is not None:
            outcome = error or _internal_error()
            callbacks.append(lambda: task.done(outcome))

    # --- the children ---------------------------------------------------------------

    def _start(self) -> _Child:
        to_child_read, to_child = self._os.pipe()
        from_child, from_child_write = self._os.pipe()
        env = {**CHILD_MALLOC_ENV, **os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PACKAGE_DIR.parent), os.environ.get("PYTHONPATH", "")]))}
        limits = self.limits
        process = self._subprocess.Popen(
            # -P: not the working directory first on the path, where a checkout's `realtime` would
            # shadow the installed one; PYTHONPATH names the package's own parent instead.
            [sys.executable, "-P", "-m", "realtime.serving.prep_pool", str(to_child_read), str(from_child_write),
             str(limits.max_pixels), str(limits.max_side), str(limits.max_full_decode_pixels),
             str(limits.max_jpeg_scans), str(self.timeout_s)],
            pass_fds=(to_child_read, from_child_write), stdin=self._subprocess.DEVNULL, env=env, close_fds=True)
        self._os.close(to_child_read)
        self._os.close(from_child_write)
        self._os.set_blocking(to_child, False)
        self._os.set_blocking(from_child, False)
        return _Child(process, to_child, from_child, time.monotonic())

    def _stop_child(self, child: _Child) -> None:
        for fd in (child.to_child, child.from_child):
            with contextlib.suppress(OSError):
                self._os.close(fd)
        if child.process.poll() is None:
            with contextlib.suppress(OSError):
                child.process.kill()
        with contextlib.suppress(ChildProcessError, OSError):
            child.process.wait(5)


def kill_all_children() -> None:
    """SIGKILL every child of every pool, taking no lock: the last thing a process stopping by force does."""
    for pool in list(_POOLS):
        for child in pool._children + pool._spares:
            with contextlib.suppress(OSError):
                child.process.kill()


def _internal_error() -> InputError:
    return InputError("internal_error", "The image could not be processed.", 500)


# --- the child's side --------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    """`python -m realtime.serving.prep_pool READ_FD WRITE_FD MAX_PIXELS MAX_SIDE MAX_FULL SCANS TIMEOUT_S`.

    Says it is ready (after its imports, so that the parent's clock does not count them), then
    serves one image at a time until the pipe closes. Each image also runs under a real-time
    alarm of a few times the parent's limit, whose default action ends the process: a child
    whose parent died without killing it cannot go on decoding a crafted picture for minutes.
    """
    args = argv or sys.argv[1:]
    read_fd, write_fd, max_pixels, max_side, max_full, scans = (int(arg) for arg in args[:6])
    timeout_s = float(args[6])
    limits = ImageLimits(max_pixels, max_side, max_full, scans)
    # Ctrl-C, and SIGTERM sent to the whole process group (a terminal, `timeout`, systemd), are for
    # the server: it stops us itself (SIGKILL, or the pipe closes). Dying first would only make it
    # log a failed child and start another while it stops.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    _send_blocking(write_fd, _READY)
    inbox = bytearray()
    while True:
        try:
            data = _receive_blocking(read_fd, inbox)
        except (EOFError, OSError):
            return
        signal.setitimer(signal.ITIMER_REAL, 3 * timeout_s + 1.0)
        outcome = _encode(prepare_safely(data, limits)) if isinstance(data, bytes) else ("error", "internal_error",
                                                                                          "Not an image.", 500)
        signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            _send_blocking(write_fd, outcome)
        except OSError:
            return


if __name__ == "__main__":
    main()
