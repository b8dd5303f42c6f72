"""Shared fixtures: the Flask app for the test client, and real servers started as users start them."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
READY_MARK = "ready on http://"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen
    output: list[str]

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, as a service manager would; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


@contextmanager
def run_server(async_mode: str = "eventlet", *args: str, env: dict[str, str] | None = None,
               startup_timeout: float = 90.0) -> Iterator[ServerProcess]:
    """`python server.py` on a free port; yields once it printed its ready line, stops it after."""
    port = free_port()
    command = [sys.executable, "-u", str(ROOT / "server.py"), "--port", str(port), "--async-mode", async_mode, *args]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    server = ServerProcess(f"http://127.0.0.1:{port}", process, output)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("server exited before it was ready:\n" + "".join(output[-40:]))
            output.append(line)
            if READY_MARK in line:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("server not ready in time:\n" + "".join(output[-40:]))
        _drain(process, output)
        yield server
    finally:
        server.stop()
        if process.poll() is None:  # pragma: no cover - last resort, leave nothing behind
            os.killpg(process.pid, signal.SIGKILL)


def _drain(process: subprocess.Popen, output: list[str]) -> None:
    """Keep reading the server's output so its pipe never fills up and blocks it."""
    import threading

    def pump() -> None:
        for line in process.stdout:
            output.append(line)

    threading.Thread(target=pump, daemon=True).start()


@pytest.fixture(scope="session")
def live_server() -> Iterator[ServerProcess]:
    """One eventlet server (the default mode) shared by the tests that only need a running app."""
    with run_server("eventlet") as server:
        yield server


@pytest.fixture(scope="session")
def app():
    from realtime import create_app

    application = create_app({"ASYNC_MODE": "threading", "TESTING": True})
    yield application
    application.extensions["digits"].scheduler.stop()


@pytest.fixture(scope="module")
def web(request):
    """The Flask test client for the reliability tests: the shared `app`, or an app honouring
    DIGITS_MODEL_PATH (when the tests run against another model)."""
    from helpers_reliability import CHECK_DIGITS, make_app

    if CHECK_DIGITS:
        yield request.getfixturevalue("app").test_client()
        return
    application = make_app()
    yield application.test_client()
    application.extensions["digits"].scheduler.stop()


@pytest.fixture()
def client(app):
    return app.test_client()


# --- pictures for tests ----------------------------------------------------------

DIGIT_STROKES: dict[int, list[list[tuple[float, float]]]] = {
    # Polylines in a unit square (x right, y down), as a person would draw them.
    0: [[(0.5, 0.1), (0.3, 0.2), (0.22, 0.5), (0.3, 0.8), (0.5, 0.9), (0.7, 0.8), (0.78, 0.5), (0.7, 0.2),
         (0.5, 0.1)]],
    1: [[(0.4, 0.25), (0.55, 0.1), (0.55, 0.9)]],
    4: [[(0.6, 0.1), (0.2, 0.6), (0.8, 0.6)], [(0.62, 0.35), (0.62, 0.9)]],
    7: [[(0.2, 0.12), (0.8, 0.12), (0.45, 0.9)]],
}


def draw_digit(digit: int, size: int = 280, width: float = 0.07, ink=(0, 0, 0, 255),
               background=(255, 255, 255, 255), mode: str = "RGBA", scale: float = 1.0,
               offset: tuple[float, float] = (0.0, 0.0)) -> Image.Image:
    image = Image.new(mode, (size, size), background if mode != "L" else background[0])
    pen = ImageDraw.Draw(image)
    stroke = max(1, round(width * size * scale))
    for line in DIGIT_STROKES[digit]:
        points = [((x * scale + offset[0]) * size, (y * scale + offset[1]) * size) for x, y in line]
        pen.line(points, fill=ink if mode != "L" else ink[0], width=stroke, joint="curve")
        for px, py in points:
            r = stroke / 2
            pen.ellipse((px - r, py - r, px + r, py + r), fill=ink if mode != "L" else ink[0])
    return image


def png_bytes(image: Image.Image, fmt: str = "PNG", **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save_args)
    return buffer.getvalue()


def blank_png(size: int = 280) -> bytes:
    return png_bytes(Image.fromarray(np.full((size, size), 255, np.uint8)))
