"""Socket.IO load: N python-socketio clients streaming snapshots at a fixed frame rate.

The clients live in a few worker processes (spawned, so no TensorFlow or server state is
inherited). Each process drives its share of the clients with python-socketio's asyncio
client from one event loop and one paced sender: client i sends at phase i/N of the frame
period, so the load is spread evenly as real users' is. Every `prediction` is matched to its
frame by `seq`; frames that never get an answer were dropped (latest-wins supersedes them)
and count as dropped, not as latency.

The clients share the machine with the server they measure, so they should cost it as
little as they can: the asyncio client (aiohttp) took 24% of a core for 50 clients at 20 fps
where the threaded client (a thread per connection and one more per answer) took 40-80%.

Two kinds of client:
- open loop (the default, the spec's load): every client sends on every tick whatever
  happens to its earlier frames, like a script without flow control;
- closed loop (`closed_loop=True`): a client skips a tick while its previous frame is
  unanswered (up to `ANSWER_TIMEOUT_S`), which is what the page does (one frame in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import time
from typing import Any

from .stats import ratio, summary_ms

ANSWER_TIMEOUT_S = 1.0  # a closed-loop client stops waiting for an answer after this long (as the page does)


class Stream:
    """One client: a socket, what it sent when, and what came back."""

    def __init__(self, index: int, frames: list[bytes], offset: int, closed_loop: bool = False) -> None:
        import socketio

        self.index = index
        self.frames = frames
        self.offset = offset
        self.sio = socketio.AsyncClient(reconnection=False)
        self.seq = 0
        self.sent: dict[int, float] = {}
        self.answers: list[tuple[float, float]] = []  # (latency s, receive instant)
        self.last_answered = 0
        self.out_of_order = 0
        self.errors = 0
        self.unmatched = 0
        self.closed_loop = closed_loop
        self.skipped = 0  # closed loop: ticks without a frame because one was still in flight
        self.final_latency: float | None = None
        self.sio.on("prediction", self._on_prediction)
        self.sio.on("prediction_error", self._on_error)

    async def connect(self, url: str, timeout: float) -> None:
        await self.sio.connect(url, transports=["websocket"], wait_timeout=timeout)

    async def send(self) -> None:
        if self.closed_loop and self.seq > self.last_answered and \
                time.perf_counter() - self.sent[self.seq] < ANSWER_TIMEOUT_S:
            self.skipped += 1
            return
        self.seq += 1
        frame = self.frames[(self.offset + self.seq) % len(self.frames)]
        self.sent[self.seq] = time.perf_counter()
        await self.sio.emit("snapshot", {"seq": self.seq, "image": frame})

    def _on_prediction(self, data: dict) -> None:
        now = time.perf_counter()
        seq = data.get("seq") if isinstance(data, dict) else None
        sent = self.sent.get(seq) if isinstance(seq, int) else None
        if sent is None:
            self.unmatched += 1
            return
        self.answers.append((now - sent, now))
        if seq <= self.last_answered:
            self.out_of_order += 1
        else:
            self.last_answered = seq
        if seq == self.seq and self.final_latency is None:
            self.final_latency = now - sent

    def _on_error(self, data: Any) -> None:
        self.errors += 1
        seq = data.get("seq") if isinstance(data, dict) else None
        if isinstance(seq, int) and seq in self.sent:
            self.last_answered = max(self.last_answered, seq)

    @property
    def newest_answered(self) -> bool:
        return self.seq > 0 and self.last_answered >= self.seq


def _worker(url: str, indices: list[int], total: int, frame_sets: list[list[bytes]], fps: float,
            closed_loop: bool, control: Any, results: Any) -> None:
    """A client process: connect, report ready, wait for the start instant, stream, report."""
    asyncio.run(_drive(url, indices, total, frame_sets, fps, closed_loop, control, results))


async def _drive(url: str, indices: list[int], total: int, frame_sets: list[list[bytes]], fps: float,
                 closed_loop: bool, control: Any, results: Any) -> None:
    streams: list[Stream] = []
    failures: list[str] = []
    connect_started = time.perf_counter()
    for index in indices:
        stream = Stream(index, frame_sets[index % len(frame_sets)], offset=index * 7, closed_loop=closed_loop)
        try:
            await stream.connect(url, timeout=15)
            streams.append(stream)
        except Exception as exc:  # a refused connection is a result, not a crash
            failures.append(f"{type(exc).__name__}: {exc}"[:200])
    results.put(("ready", os.getpid(), len(streams), failures, time.perf_counter() - connect_started))
    command = await asyncio.to_thread(control.get)  # the loop keeps answering pings meanwhile
    if command[0] != "start":
        await _close(streams)
        return
    _, start_at, duration, grace = command
    period = 1.0 / fps
    end_at = start_at + duration
    lateness: list[float] = []
    cpu_before = os.times()
    # Send schedule: (due instant, stream), client i at phase i/total of the frame period.
    order = sorted(streams, key=lambda s: s.index)
    k = 0
    while True:
        base = start_at + k * period
        if base >= end_at:
            break
        for stream in order:
            due = base + period * stream.index / total
            if due >= end_at:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                lateness.append(-delay)
            try:
                await stream.send()
            except Exception:
                stream.errors += 1
        k += 1
    sent_until = time.monotonic()
    # Wait (up to `grace`) for every client's newest frame to be answered.
    wait_deadline = sent_until + grace
    while time.monotonic() < wait_deadline and not all(s.newest_answered for s in streams):
        await asyncio.sleep(0.01)
    waited = time.monotonic() - sent_until
    cpu_after = os.times()
    wall = time.monotonic() - start_at
    end_perf = time.perf_counter() - (time.monotonic() - end_at)  # end of the send window, perf clock
    report = {
        "pid": os.getpid(),
        "cpu_s": (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system),
        "wall_s": wall,
        "waited_s": waited,
        "late_sends": len(lateness),
        "lateness_p95_ms": round(sorted(lateness)[int(0.95 * (len(lateness) - 1))] * 1000, 2) if lateness else 0.0,
        "clients": [
            {"index": s.index, "sent": s.seq, "skipped": s.skipped, "answered": len(s.answers),
             "answered_in_window": sum(1 for _, at in s.answers if at <= end_perf),
             "latencies": [lat for lat, _ in s.answers], "errors": s.errors, "unmatched": s.unmatched,
             "out_of_order": s.out_of_order, "newest_answered": s.newest_answered,
             "final_latency": s.final_latency}
            for s in streams
        ],
    }
    results.put(("result", report))
    await _close(streams)


async def _close(streams: list[Stream]) -> None:
    """Say goodbye to the server, but not for long: one still busy with a backlog may never answer."""
    goodbyes = [asyncio.ensure_future(s.sio.disconnect()) for s in streams]
    if goodbyes:
        with contextlib.suppress(Exception):
            await asyncio.wait(goodbyes, timeout=1.0)
    for stream in streams:  # whatever did not finish is cut
        with contextlib.suppress(Exception):
            await stream.sio.eio.disconnect(abort=True)


def run_level(url: str, clients: int, frame_sets: list[list[bytes]], *, fps: float = 20.0,
              duration: float = 10.0, grace: float = 5.0, processes: int = 2, closed_loop: bool = False) -> dict:
    """Stream from `clients` clients for `duration` s; latency, throughput, drops, newest answered."""
    context = mp.get_context("spawn")
    processes = max(1, min(processes, clients))
    shares = [list(range(p, clients, processes)) for p in range(processes)]
    results = context.Queue()
    controls = [context.Queue() for _ in shares]
    workers = [context.Process(target=_worker, daemon=True,
                               args=(url, share, clients, frame_sets, fps, closed_loop, control, results))
               for share, control in zip(shares, controls, strict=True)]
    for worker in workers:
        worker.start()
    connected, failures, connect_s = 0, [], 0.0
    try:
        for _ in workers:
            _, _pid, count, failed, took = results.get(timeout=120)
            connected += count
            failures += failed
            connect_s = max(connect_s, took)
        start_at = time.monotonic() + 0.5
        for control in controls:
            control.put(("start", start_at, duration, grace))
        reports = [results.get(timeout=duration + grace + 120)[1] for _ in workers]
    finally:
        for worker in workers:
            worker.join(6)
            if worker.is_alive():
                worker.terminate()
                worker.join(5)
        for q in [results, *controls]:
            q.close()
    per_client = [c for report in reports for c in report["clients"]]
    latencies = [lat for c in per_client for lat in c["latencies"]]
    sent = sum(c["sent"] for c in per_client)
    answered = sum(c["answered"] for c in per_client)
    errors = sum(c["errors"] for c in per_client)
    in_window = sum(c["answered_in_window"] for c in per_client)
    newest = sum(1 for c in per_client if c["newest_answered"])
    finals = [c["final_latency"] for c in per_client if c["final_latency"] is not None]
    client_cpu = sum(r["cpu_s"] for r in reports) / max(r["wall_s"] for r in reports) * 100
    return {
        "clients": clients,
        "flow": "closed loop (one frame in flight, like the page)" if closed_loop else "open loop",
        "connected": connected,
        "connect_failures": failures[:3],
        "connect_s": round(connect_s, 2),
        "fps_per_client": fps,
        "duration_s": duration,
        "window": [start_at, start_at + duration],
        "frames_sent": sent,
        "ticks_skipped": sum(c["skipped"] for c in per_client),
        "send_rate_per_s": round(sent / duration, 1),
        "answered": answered,
        "answered_in_window": in_window,
        "answers_per_s": round(in_window / duration, 1),
        "dropped": max(0, sent - answered - errors),
        "dropped_fraction": ratio(max(0, sent - answered - errors), sent, 4),
        "errors": errors,
        "out_of_order": sum(c["out_of_order"] for c in per_client),
        "latency_ms": summary_ms(latencies),
        "newest_answered": newest,
        "all_newest_answered": connected > 0 and newest == connected == clients,
        "final_frame_latency_ms": summary_ms(finals),
        "waited_for_newest_s": round(max(r["waited_s"] for r in reports), 2),
        "client_processes": len(workers),
        "client_cpu_percent": round(client_cpu, 1),
        "client_late_sends": sum(r["late_sends"] for r in reports),
        "client_lateness_p95_ms": max(r["lateness_p95_ms"] for r in reports),
    }

