"""Preprocessing in worker processes: a batch's images decoded outside the server's GIL.

Under eventlet the event loop, the inference thread and the decoding share one GIL. At 50
clients the loop's own work (reading a thousand frames a second) and the decoding starved
each other while a core stood idle. So a batch goes to `processes` child processes (plain
Python, no TensorFlow), split between them, and the scheduler's thread only waits for them.
It decodes itself only a lone image (the round trip would cost more than it saves) or when
there are no children (docs/performance.md has the measurements).

The children are fed through plain pipes with blocking reads and writes, made only from the
scheduler's OS thread with the unpatched `os` and `select`: nothing here touches the event
loop. A child that dies or hangs costs its share of the batch an `internal_error` answer and
is replaced; the server goes on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import struct
import sys
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from ..paths import PACKAGE_DIR
from ..pipeline.errors import InputError
from ..pipeline.imaging import ImageLimits
from ..pipeline.preprocess import FIELD, Prepared, prepare_bytes
from .runtime import os_threading, unpatched

log = logging.getLogger(__name__)

Outcome = Prepared | InputError
_HEADER = struct.Struct("!I")
# Inherited pipe descriptors (pass_fds) and select() on pipes are POSIX only: not on Windows.
CHILDREN_POSSIBLE = os.name == "posix"


def prepare_safely(data: bytes, limits: ImageLimits) -> Outcome:
    """The pipeline for one image; bad input and internal faults become an InputError, never a raise."""
    try:
        return prepare_bytes(data, limits)
    except InputError as error:
        return error
    except Exception:
        log.exception("preprocessing failed")
        return InputError("internal_error", "The image could not be processed.", 500)


# --- the wire: a 4-byte length, then a pickle -----------------------------------

def _send(osmod: ModuleType, fd: int, message: object) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        view = view[osmod.write(fd, view):]


def _read_exact(osmod: ModuleType, fd: int, size: int) -> bytes:
    chunks, missing = [], size
    while missing:
        chunk = osmod.read(fd, missing)
        if not chunk:
            raise EOFError("pipe closed")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def _receive(osmod: ModuleType, fd: int) -> object:
    (size,) = _HEADER.unpack(_read_exact(osmod, fd, _HEADER.size))
    return pickle.loads(_read_exact(osmod, fd, size))


def _encode(outcome: Outcome) -> tuple:
    if isinstance(outcome, InputError):
        return ("error", outcome.code, outcome.message, outcome.status)
    return ("ok", outcome.x.tobytes(), outcome.blank)


def _decode(item: tuple) -> Outcome:
    if item[0] == "error":
        return InputError(item[1], item[2], item[3])
    x = np.frombuffer(item[1], np.float32).reshape(FIELD, FIELD).copy()
    return Prepared(x, bool(item[2]))


# --- the server's side -------------------------------------------------------------

@dataclass
class _Child:
    process: object  # subprocess.Popen
    to_child: int
    from_child: int


class PreparePool:
    """`prepare_many(images)`: the images of a batch through the pipeline, split over processes."""

    def __init__(self, processes: int, limits: ImageLimits, timeout_s: float = 30.0) -> None:
        self.limits = limits
        self.timeout_s = timeout_s
        self._os = unpatched("os")
        self._select = unpatched("select")
        self._subprocess = unpatched("subprocess")
        self._lock = os_threading().Lock()  # one batch at a time, and no closing in the middle of one
        if not CHILDREN_POSSIBLE:
            processes = 0  # Windows: the scheduler's thread decodes, as with PREPROCESS_PROCESSES=0
        self._children = [self._start() for _ in range(max(0, processes))]
        self.restarts = 0

    @property
    def processes(self) -> int:
        return len(self._children)

    def _start(self) -> _Child:
        to_child_read, to_child = self._os.pipe()
        from_child, from_child_write = self._os.pipe()
        for fd in (to_child_read, to_child, from_child, from_child_write):
            self._os.set_blocking(fd, True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PACKAGE_DIR.parent), os.environ.get("PYTHONPATH", "")]))}
        process = self._subprocess.Popen(
            # -P: not the working directory first on the path, where a checkout's `realtime` would
            # shadow the installed one; PYTHONPATH names the package's own parent instead.
            [sys.executable, "-P", "-m", "realtime.serving.prep_pool", str(to_child_read), str(from_child_write),
             str(self.limits.max_pixels), str(self.limits.max_side)],
            pass_fds=(to_child_read, from_child_write), stdin=self._subprocess.DEVNULL, env=env, close_fds=True)
        self._os.close(to_child_read)
        self._os.close(from_child_write)
        return _Child(process, to_child, from_child)

    def prepare_many(self, images: list[bytes]) -> list[Outcome]:
        with self._lock:
            if len(images) < 2 or not self._children:
                return [prepare_safely(data, self.limits) for data in images]
            shares = min(len(self._children), len(images))
            parts = [images[share::shares] for share in range(shares)]
            sent = [self._hand_over(child, part) for child, part in zip(self._children, parts, strict=False)]
            outcomes: list[Outcome | None] = [None] * len(images)
            for share, (child, part) in enumerate(zip(self._children, parts, strict=False)):
                outcomes[share::shares] = self._collect(child, part) if sent[share] else self._failed(child, part)
            return outcomes  # type: ignore[return-value]

    def _hand_over(self, child: _Child, part: list[bytes]) -> bool:
        try:
            _send(self._os, child.to_child, part)
            return True
        except OSError:
            return False

    def _collect(self, child: _Child, part: list[bytes]) -> list[Outcome]:
        ready, _, _ = self._select.select([child.from_child], [], [], self.timeout_s)
        if ready:
            try:
                items = _receive(self._os, child.from_child)
                if isinstance(items, list) and len(items) == len(part):
                    return [_decode(item) for item in items]
            except (EOFError, OSError, pickle.UnpicklingError, ValueError):
                pass
        return self._failed(child, part)

    def _failed(self, child: _Child, part: list[bytes]) -> list[Outcome]:
        """The child died, hung or garbled its answer: replace it; its images get an internal error."""
        log.error("a preprocessing process failed (exit code %s); starting a new one", child.process.poll())
        self._stop_child(child)
        index = self._children.index(child)
        self._children[index] = self._start()
        self.restarts += 1
        return [InputError("internal_error", "The image could not be processed.", 500) for _ in part]

    def _stop_child(self, child: _Child) -> None:
        for fd in (child.to_child, child.from_child):
            with contextlib.suppress(OSError):
                self._os.close(fd)
        if child.process.poll() is None:
            child.process.kill()
        with contextlib.suppress(ChildProcessError):
            self._os.waitpid(child.process.pid, 0)

    def close(self) -> None:
        with self._lock:
            for child in self._children:
                self._stop_child(child)
            self._children = []


# --- the child's side --------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    """`python -m realtime.serving.prep_pool READ_FD WRITE_FD MAX_PIXELS MAX_SIDE`: serve until the pipe closes."""
    read_fd, write_fd, max_pixels, max_side = (int(arg) for arg in (argv or sys.argv[1:]))
    limits = ImageLimits(max_pixels, max_side)
    while True:
        try:
            images = _receive(os, read_fd)
        except (EOFError, OSError):
            return
        _send(os, write_fd, [_encode(prepare_safely(data, limits)) for data in images])


if __name__ == "__main__":
    main()
