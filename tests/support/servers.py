"""Real servers for tests: `server.py` started as users start it, and looked at from outside."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests

from .answers import expect_digit
from .clients import Recorder
from .pictures import data_url, good_png

ROOT = Path(__file__).resolve().parents[2]
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
    def pump() -> None:
        for line in process.stdout:
            output.append(line)

    threading.Thread(target=pump, daemon=True).start()


def rss_mb(server: ServerProcess) -> float:
    return psutil.Process(server.process.pid).memory_info().rss / 2**20


def stats(server: ServerProcess) -> dict:
    answer = requests.get(server.url + "/api/stats", timeout=10)
    assert answer.status_code == 200
    return answer.json()


def wait_idle(server: ServerProcess, timeout: float = 20.0) -> dict:
    """Wait until the scheduler holds no frame; the last /api/stats seen."""
    deadline = time.monotonic() + timeout
    while True:
        seen = stats(server)
        if seen["pending"] == 0 or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def assert_healthy(server: ServerProcess, digit: int = 7) -> None:
    """/healthz ok, and a good picture still gets read, over HTTP and over Socket.IO."""
    assert server.process.poll() is None, "".join(server.output[-40:])
    health = requests.get(server.url + "/healthz", timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    answer = requests.post(server.url + "/api/predict", data=good_png(digit),
                           headers={"Content-Type": "image/png"}, timeout=30)
    assert answer.status_code == 200, answer.text
    expect_digit(answer.json(), digit)
    recorder = Recorder(server.url).connect()
    try:
        recorder.send(1, data_url(good_png(digit)))
        assert recorder.wait_answer(1, 30), "a good frame got no answer"
        assert not recorder.errors, recorder.errors
        expect_digit(recorder.predictions[1], digit)
    finally:
        recorder.close()


def tracebacks(server: ServerProcess) -> list[str]:
    """Lines of the server's output that show a stack trace."""
    return [line for line in list(server.output) if "Traceback (most recent call last)" in line]
