"""Class-room load: one teacher's wall and N students drawing at the page's pace.

`python -m bench.rooms [--students 60] [--seconds 20]` starts a server, then runs the same
students twice: alone (no room), then joined to one class with a wall watching. Each student
is a closed-loop client, as the page is: one frame in flight, the next drawing frame sent when
the answer comes (and no faster than the pointer's 60 Hz). It reports

- the students' own answer latency, alone and in the room (the room must not slow them);
- the wall's latency: from a student receiving an answer to the wall receiving the update that
  shows it (matched by the answer's 28x28 picture), and how many wall updates a student costs.

Results go to bench/results/rooms.json. The students share one asyncio loop in this process, the
wall has a process of its own; all run on the machine the server runs on, so the figures include
the clients' own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

import requests

from .images import stream_frames
from .servers import ROOT, launch, stop_all
from .stats import summary_ms

RESULTS = ROOT / "bench" / "results" / "rooms.json"
POINTER_INTERVAL_S = 1 / 60


class Student:
    def __init__(self, index: int, frames: list[bytes]) -> None:
        import socketio

        self.index, self.frames = index, frames
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sent: dict[int, float] = {}
        self.latencies: list[float] = []
        self.received: list[tuple[float, str]] = []  # (when, input28) of each answer
        self.answer = asyncio.Event()
        self.student_id: str | None = None
        self.sio.on("prediction", self._on_prediction)

    def _on_prediction(self, data: dict) -> None:
        now = time.perf_counter()
        sent = self.sent.get(data.get("seq"))
        if sent is not None:
            self.latencies.append(now - sent)
            self.received.append((now, data.get("input28", "")))
        self.answer.set()

    async def draw(self, until: float) -> None:
        seq = 0
        while time.perf_counter() < until:
            seq += 1
            self.answer.clear()
            self.sent[seq] = started = time.perf_counter()
            await self.sio.emit("snapshot", {"seq": seq, "image": self.frames[seq % len(self.frames)]})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.answer.wait(), 1.0)  # the page's ANSWER_TIMEOUT_MS
            await asyncio.sleep(max(0.0, POINTER_INTERVAL_S - (time.perf_counter() - started)))


def _watch_wall(url: str, room: dict[str, str], ready, stop, out) -> None:
    """The wall, in a process of its own (spawned), so the 60 students' client loop does not delay what it
    sees: each `wall_update` with its arrival time (perf_counter is one clock for all processes on Linux)."""
    import socketio

    async def watch() -> None:
        sio = socketio.AsyncClient(reconnection=False)
        updates: list[tuple[float, str, str]] = []
        def record(batch: list) -> None:
            now = time.perf_counter()
            updates.extend((now, d["student"], d.get("input28", "")) for d in batch)

        sio.on("wall_updates", record)
        await sio.connect(url, transports=["websocket"], headers={"Cookie": room["cookie"]}, wait_timeout=20)
        opened = await sio.call("wall_join", {"code": room["code"]}, timeout=10)
        assert opened["ok"], opened
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await sio.disconnect()
        out.put(updates)

    asyncio.run(watch())


async def _phase(url: str, students: int, seconds: float, room: dict[str, str] | None) -> dict[str, Any]:
    crowd = [Student(i, stream_frames(variant=i % 10)) for i in range(students)]
    wall = None
    await asyncio.gather(*(s.sio.connect(url, transports=["websocket"], wait_timeout=20) for s in crowd))
    if room:
        context = mp.get_context("spawn")
        ready, stop, out = context.Event(), context.Event(), context.Queue()
        wall = context.Process(target=_watch_wall, args=(url, room, ready, stop, out), daemon=True)
        wall.start()
        assert await asyncio.to_thread(ready.wait, 60), "the wall did not open"
        for student in crowd:
            visit = f"bench-visit-{student.index:08d}"
            joined = await student.sio.call("room_join", {"code": room["code"], "visit": visit}, timeout=20)
            assert joined["ok"], joined
            student.student_id = joined["student"]
    until = time.perf_counter() + seconds
    await asyncio.gather(*(s.draw(until) for s in crowd))
    await asyncio.sleep(0.5)  # the last held wall updates
    result: dict[str, Any] = {
        "students": students, "seconds": seconds,
        "answer_latency_ms": summary_ms(x for s in crowd for x in s.latencies),
        "answers_per_s": round(sum(len(s.latencies) for s in crowd) / seconds, 1),
    }
    if wall is not None:
        stop.set()
        updates = await asyncio.to_thread(out.get, True, 60)
        wall.join(10)
        by_id = {s.student_id: s for s in crowd}
        delays = []
        for when, student_id, picture in updates:
            shown = [t for t, seen in by_id[student_id].received if seen == picture and t <= when]
            if shown:
                delays.append(when - shown[-1])
        result["wall_latency_ms"] = summary_ms(delays)
        result["wall_updates_per_student_per_s"] = round(len(updates) / students / seconds, 2)
        result["wall_updates_matched"] = len(delays)
    await asyncio.gather(*(s.sio.disconnect() for s in crowd))
    await asyncio.sleep(0.2)  # let aiohttp close its connections before the loop goes
    return result


def run(students: int, seconds: float, async_mode: str, message_queue: str = "") -> dict[str, Any]:
    from realtime.paths import DEFAULT_MODEL

    if message_queue:  # the launched server reads it (rooms in Redis, wall updates through its queue)
        os.environ["DIGITS_MESSAGE_QUEUE"] = message_queue
    server = launch("ours", str(DEFAULT_MODEL), async_mode=async_mode)
    try:
        alone = asyncio.run(_phase(server.url, students, seconds, None))
        started = requests.get(server.url + "/class", allow_redirects=False, timeout=10)
        code = started.headers["Location"].rsplit("/", 1)[1]
        room = {"code": code, "cookie": started.headers["Set-Cookie"].split(";", 1)[0]}
        in_room = asyncio.run(_phase(server.url, students, seconds, room))
    finally:
        server.stop()
        stop_all()
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(), "load_avg": os.getloadavg(),
            "async_mode": async_mode, "message_queue": bool(message_queue), "alone": alone, "in_room": in_room}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Class-room load: one wall and N students drawing.")
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--async-mode", choices=("eventlet", "threading"), default="eventlet")
    parser.add_argument("--message-queue", default="", help="Redis URL: rooms in Redis, wall updates through it")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = run(args.students, args.seconds, args.async_mode, args.message_queue)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    alone, room = result["alone"], result["in_room"]
    where = "Redis" if args.message_queue else "memory"
    load = ", ".join(f"{x:.1f}" for x in result["load_avg"])
    print(f"{args.students} students, {args.seconds:.0f} s each, rooms in {where}, {result['cpus']} CPUs, load {load}")
    print(f"  student answers alone:   p50 {alone['answer_latency_ms']['p50']} ms, "
          f"p95 {alone['answer_latency_ms']['p95']} ms, {alone['answers_per_s']}/s")
    print(f"  student answers in room: p50 {room['answer_latency_ms']['p50']} ms, "
          f"p95 {room['answer_latency_ms']['p95']} ms, {room['answers_per_s']}/s")
    print(f"  wall updates: p50 {room['wall_latency_ms']['p50']} ms, p95 {room['wall_latency_ms']['p95']} ms "
          f"after the student's answer; {room['wall_updates_per_student_per_s']} updates/s a student")
    print(f"  written to {args.out}")


if __name__ == "__main__":
    main()
