"""HTTP load: `POST /api/predict` with a canvas-sized PNG, from 1 or more threads."""

from __future__ import annotations

import os
import threading
import time

import requests

from .stats import summary_ms


def post(session: requests.Session, url: str, png: bytes) -> requests.Response:
    """A multipart upload in field `image`, as a browser form or a tutorial client sends it."""
    return session.post(url + "/api/predict", files={"image": ("digit.png", png, "image/png")}, timeout=60)


def warm_up(url: str, png: bytes, count: int = 3) -> None:
    with requests.Session() as session:
        for _ in range(count):
            post(session, url, png)


def run(url: str, png: bytes, clients: int, duration: float) -> dict:
    """Each client posts back to back for `duration` seconds; latency of every answer."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline_box: list[float] = []
    # The window opens when every client holds an open connection (the barrier's action).
    barrier = threading.Barrier(clients + 1, action=lambda: deadline_box.append(time.perf_counter() + duration))

    def client() -> None:
        own: list[float] = []
        with requests.Session() as session:
            post(session, url, png)  # open the keep-alive connection outside the timed window
            barrier.wait()
            deadline = deadline_box[0]
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    reply = post(session, url, png)
                    ok = reply.status_code == 200 and "digit" in reply.json()
                except (requests.RequestException, ValueError) as exc:
                    ok, reply = False, exc
                elapsed = time.perf_counter() - started
                if ok:
                    own.append(elapsed)
                else:
                    with lock:
                        errors.append(str(getattr(reply, "status_code", reply))[:200])
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    cpu_before = os.times()
    started = time.perf_counter()
    for thread in threads:
        thread.join(duration + 120)
    wall = time.perf_counter() - started
    cpu_after = os.times()
    client_cpu = (cpu_after.user - cpu_before.user + cpu_after.system - cpu_before.system) / wall * 100
    return {"clients": clients, "duration_s": round(wall, 3), "requests": len(latencies),
            "errors": len(errors), "error_samples": errors[:3],
            "requests_per_s": round(len(latencies) / wall, 1), "latency_ms": summary_ms(latencies),
            "client_cpu_percent": round(client_cpu, 1)}
