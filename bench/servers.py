"""Launching the servers under test, timing their cold start, watching their CPU and memory."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
READY_MARK = "ready on http://"
KINDS = ("ours", "baseline")
_LIVE: set[subprocess.Popen] = set()  # every server still running, for the last-resort cleanup


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def command_for(kind: str, port: int, model: str, async_mode: str = "eventlet",
                script: str | None = None, program: list[str] | None = None) -> list[str]:
    """The command line that starts a server; `script` swaps in another server.py (experiments),
    `program` another command taking server.py's flags (an installed `realtime-digits`)."""
    if kind == "ours":
        program = program or [sys.executable, "-u", script or str(ROOT / "server.py")]
        return [*program, "--port", str(port), "--async-mode", async_mode, "--model", model]
    if kind == "baseline":
        return [sys.executable, "-u", "-m", "bench.baseline_server", "--port", str(port),
                "--model", str(Path(model).with_suffix(".keras"))]  # the tutorial server runs Keras itself
    raise ValueError(f"unknown server kind {kind!r}")


class Monitor:
    """Samples a server's RSS and CPU time (children included) in a thread; windows give CPU % and peak RSS."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.samples: list[tuple[float, float, float]] = []  # (monotonic, cpu seconds, rss bytes)
        self.machine: list[tuple[float, float]] = []  # (monotonic, busy CPU seconds of the whole machine)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sample(self) -> tuple[float, float, float] | None:
        """CPU seconds and RSS of the server and its child processes (the preprocessing workers)."""
        try:
            processes = [self.process, *self.process.children(recursive=True)]
        except psutil.Error:
            return None
        cpu = rss = 0.0
        for process in processes:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    cpu += times.user + times.system
                    rss += process.memory_info().rss
            except psutil.Error:
                if process is self.process:
                    return None
        now = time.monotonic()
        point = (now, cpu, rss)
        self.samples.append(point)
        machine = psutil.cpu_times()
        busy = sum(getattr(machine, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))
        self.machine.append((now, busy))
        return point

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def window(self, start: float, end: float) -> dict:
        """CPU % (of one core) and RSS between two monotonic instants."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        before = [s for s in self.samples if s[0] <= start]
        first = before[-1] if before else (inside[0] if inside else None)
        last = inside[-1] if inside else None
        if first is None or last is None or last[0] <= first[0]:
            return {"cpu_percent": None, "rss_peak_mb": None, "rss_end_mb": None}
        cpu = (last[1] - first[1]) / (last[0] - first[0]) * 100.0
        rss = [s[2] for s in inside] or [first[2]]
        machine = [m for m in self.machine if first[0] <= m[0] <= last[0]]
        busy = None
        if len(machine) >= 2 and machine[-1][0] > machine[0][0]:
            busy = round((machine[-1][1] - machine[0][1]) / (machine[-1][0] - machine[0][0]) * 100.0, 1)
        return {"cpu_percent": round(cpu, 1), "rss_peak_mb": round(max(rss) / 2**20, 1),
                "rss_end_mb": round(rss[-1] / 2**20, 1), "machine_cpu_percent": busy}

    def rss_timeline(self, start: float, end: float, step: float = 1.0) -> list[tuple[float, float]]:
        """(seconds since start, RSS MiB) about every `step` seconds within the window."""
        out: list[tuple[float, float]] = []
        for at, _cpu, rss in self.samples:
            if start <= at <= end and (not out or at - start - out[-1][0] >= step):
                out.append((round(at - start, 2), round(rss / 2**20, 2)))
        return out


@dataclass
class Server:
    kind: str
    url: str
    process: subprocess.Popen
    cold_start_s: float | None = None
    ready_line_s: float | None = None
    output: list[str] = field(default_factory=list)
    monitor: Monitor | None = None

    def stats(self) -> dict:
        try:
            return requests.get(self.url + "/api/stats", timeout=2).json().get("scheduler", {})
        except (requests.RequestException, ValueError):
            return {}

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.monitor:
            self.monitor.stop()
        _terminate(self.process, timeout)

    def tail(self, lines: int = 30) -> str:
        return "".join(self.output[-lines:])


def _terminate(process: subprocess.Popen, timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    with contextlib.suppress(ProcessLookupError, PermissionError):  # and whatever it started
        os.killpg(process.pid, signal.SIGKILL)
    _LIVE.discard(process)


# Every simulated client of the load generator comes from 127.0.0.1, where a classroom's come from
# one address each: the per-client limits of the network edge (docs/security.md) are raised to what
# the generator's clients together need, and the uploads handled at once to its largest HTTP level.
LOAD_GENERATOR_LIMITS = {"DIGITS_UPLOAD_CONCURRENCY": "256", "DIGITS_UPLOADS_IN_FLIGHT": "64",
                         "DIGITS_MAX_CONNECTIONS_PER_CLIENT": "1024", "DIGITS_CONNECT_BURST": "1000",
                         "DIGITS_ROOM_JOIN_BURST": "1000"}


def stop_all() -> None:
    for process in list(_LIVE):
        _terminate(process, 5)


def launch(kind: str, model: str, timeout: float = 120.0, async_mode: str = "eventlet",
           script: str | None = None, program: list[str] | None = None) -> Server:
    """Start a server; returns once /healthz says ok, with the cold start it took."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2", **LOAD_GENERATOR_LIMITS}
    started = time.monotonic()
    process = subprocess.Popen(command_for(kind, port, model, async_mode, script, program), cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    _LIVE.add(process)
    server = Server(kind, url, process)
    ready_at: list[float] = []

    def drain() -> None:
        for line in process.stdout:
            if READY_MARK in line and not ready_at:
                ready_at.append(time.monotonic())
            server.output.append(line)

    threading.Thread(target=drain, daemon=True).start()
    server.monitor = Monitor(process.pid)
    session = requests.Session()
    deadline = started + timeout
    while True:
        if process.poll() is not None:
            server.stop()
            raise RuntimeError(f"{kind} server exited before it was healthy:\n{server.tail()}")
        try:
            reply = session.get(url + "/healthz", timeout=2)
            if reply.status_code == 200 and reply.json().get("status") == "ok":
                break
        except (requests.RequestException, ValueError):
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{kind} server not healthy within {timeout:.0f} s:\n{server.tail()}")
        time.sleep(0.02)
    server.cold_start_s = round(time.monotonic() - started, 3)
    waited_for_line = time.monotonic() + 2.0  # the reader thread may be a moment behind the socket
    while not ready_at and time.monotonic() < waited_for_line and process.poll() is None:
        time.sleep(0.01)
    if ready_at:
        server.ready_line_s = round(ready_at[0] - started, 3)
    session.close()
    return server
