"""One crafted frame must never stall the class (issue #11): decoding bounded, isolated and killable.

- the scheduler on its own (a hand-driven decoder): one decode per client at a time, uploads on
  a share of the decoders, a client that left is dropped, a stall is seen;
- the pool with real child processes: a stopped child holds only its own image, for one time limit;
- real `server.py` processes: crafted inputs answered fast with clear errors and bounded CPU, a
  polite client's latency while one socket sends crafted frames, HTTP upload hammering answered
  503 `busy` rather than queued, SIGTERM within 5 s during an attack, a stopped child, /healthz
  when stuck.

Latency and CPU bounds are generous (figures in docs/security-decoding.md); run with `-s` to see
what was measured.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests

from realtime.pipeline.errors import InputError
from realtime.pipeline.imaging import ImageLimits
from realtime.pipeline.preprocess import Prepared
from realtime.serving.prep_pool import PreparePool
from realtime.serving.scheduler import InferenceScheduler, Job
from tests.support.answers import percentile
from tests.support.clients import Recorder
from tests.support.hostile import jpeg_scan_bomb, serpentine_png, webp_wide
from tests.support.pictures import data_url, draw_digit, png_bytes
from tests.support.servers import rss_mb, run_server, stats, wait_idle

pytestmark = pytest.mark.slow

CHECKOUT = str(Path(__file__).resolve().parents[2])
POLITE = [data_url(png_bytes(draw_digit(d, size=280, background=(0, 0, 0, 0)))) for d in (0, 1, 4, 7)]
# The costliest picture that is still accepted: the most scans allowed, at the largest size.
SLOW_JPEG = jpeg_scan_bomb(6324, 6324, ImageLimits().max_jpeg_scans)
# Below this much extra latency the difference is scheduling noise: the attacker's frames keep one
# decoding child busy, i.e. one core of two, on a machine shared with other work (load 10-15 seen).
FLOOR_MS = 100.0


def report(name: str, **figures) -> None:
    print(f"\n[{name}] " + json.dumps(figures, sort_keys=True))


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


# --- the scheduler with a decoder driven by hand ------------------------------------------

class HandDecoder:
    """Takes up to `slots` images and finishes them only when the test says so."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.taken: list[tuple[bytes, Callable]] = []
        self.lock = threading.Lock()

    def capacity(self) -> int:
        with self.lock:
            return self.slots - len(self.taken)

    def submit(self, data: bytes, done, trusted: bool = False) -> None:
        with self.lock:
            self.taken.append((data, done))

    def finish(self, data: bytes, outcome) -> None:
        with self.lock:
            index = next(i for i, (taken, _) in enumerate(self.taken) if taken == data)
            _, done = self.taken.pop(index)
        done(outcome)

    def images(self) -> list[bytes]:
        with self.lock:
            return [data for data, _ in self.taken]


def reads(digit: int) -> Prepared:
    x = np.zeros((28, 28), np.float32)
    x[0, 0] = digit
    return Prepared(x, False)


def model(batch: np.ndarray) -> np.ndarray:
    out = np.zeros((len(batch), 10), np.float32)
    out[np.arange(len(batch)), batch[:, 0, 0].astype(int)] = 1.0
    return out


@pytest.fixture()
def hand():
    made: list[InferenceScheduler] = []

    def make(slots: int, **options) -> tuple[InferenceScheduler, HandDecoder]:
        decoder = HandDecoder(slots)
        scheduler = InferenceScheduler(model, decoder, spawn=lambda fn: threading.Thread(target=fn, daemon=True)
                                       .start(), **options)
        scheduler.start()
        made.append(scheduler)
        return scheduler, decoder

    yield make
    for scheduler in made:
        scheduler.stop()


def collect(answers: list) -> Callable:
    return lambda payload, error: answers.append((payload, error))


def test_a_client_has_one_image_decoding_at_a_time(hand):
    scheduler, decoder = hand(slots=2)
    attacker, polite = [], []
    scheduler.submit(Job("attacker", collect(attacker), seq=1, image=b"a1"))
    assert wait_until(lambda: decoder.images() == [b"a1"], 5)
    scheduler.submit(Job("attacker", collect(attacker), seq=2, image=b"a2"))  # waits: a1 still decoding
    scheduler.submit(Job("polite", collect(polite), seq=1, image=b"p1"))
    assert wait_until(lambda: decoder.images() == [b"a1", b"p1"], 5)  # the second decoder goes to polite
    decoder.finish(b"p1", reads(7))
    assert wait_until(lambda: polite, 5) and polite[0][0]["digit"] == 7  # answered while a1 is still stuck
    decoder.finish(b"a1", InputError("image_too_complex", "Too slow."))
    assert wait_until(lambda: decoder.images() == [b"a2"], 5)  # now the attacker's next frame
    decoder.finish(b"a2", reads(2))
    assert wait_until(lambda: len(attacker) == 2, 5)
    assert attacker[0][1].code == "image_too_complex" and attacker[1][0]["digit"] == 2


def test_uploads_hold_only_their_share_of_the_decoders(hand):
    scheduler, decoder = hand(slots=3, upload_decodes=1)
    for n in range(3):
        scheduler.submit(Job(("http", n), collect([]), image=b"u%d" % n, lane="upload"))
    scheduler.submit(Job("polite", collect([]), seq=1, image=b"p1"))
    assert wait_until(lambda: sorted(decoder.images()) == [b"p1", b"u0"], 5)
    decoder.finish(b"u0", reads(1))
    assert wait_until(lambda: sorted(decoder.images()) == [b"p1", b"u1"], 5)


def test_a_client_whose_frame_ran_out_of_time_never_takes_the_last_free_decoder(hand):
    scheduler, decoder = hand(slots=2, live_reserve=1)
    scheduler.submit(Job("attacker", collect([]), seq=1, image=b"a1"))
    assert wait_until(lambda: decoder.images() == [b"a1"], 5)
    decoder.slots = 1  # its decoder is being replaced after the time limit
    decoder.finish(b"a1", InputError("image_too_complex", "Too slow."))
    scheduler.submit(Job("attacker", collect([]), seq=2, image=b"a2"))
    time.sleep(0.1)
    assert decoder.images() == []  # the one free decoder stays free for the others
    scheduler.submit(Job("polite", collect([]), seq=1, image=b"p1"))
    assert wait_until(lambda: decoder.images() == [b"p1"], 5)
    decoder.slots = 3
    scheduler.poke()
    assert wait_until(lambda: decoder.images() == [b"p1", b"a2"], 5)


def test_uploads_never_take_the_decoder_kept_for_live_frames(hand):
    scheduler, decoder = hand(slots=1, upload_decodes=2, live_reserve=1)  # e.g. the other child restarting
    scheduler.submit(Job(("http", 1), collect([]), image=b"u1", lane="upload"))
    time.sleep(0.1)
    assert decoder.images() == []
    scheduler.submit(Job("polite", collect([]), seq=1, image=b"p1"))
    assert wait_until(lambda: decoder.images() == [b"p1"], 5)
    decoder.slots = 2  # the replacement is up
    scheduler.poke()
    assert wait_until(lambda: decoder.images() == [b"p1", b"u1"], 5)


def test_a_requester_that_left_is_dropped_even_while_decoding(hand):
    scheduler, decoder = hand(slots=1)
    gone: list = []
    scheduler.submit(Job(("http", 1), collect(gone), image=b"x", lane="upload"))
    assert wait_until(lambda: decoder.images() == [b"x"], 5)
    scheduler.submit(Job(("http", 2), collect(gone), image=b"y", lane="upload"))
    scheduler.forget(("http", 1))
    scheduler.forget(("http", 2))
    assert scheduler.pending_count() == 0 and scheduler.stats.abandoned == 2
    decoder.finish(b"x", reads(3))
    time.sleep(0.1)  # nothing may be delivered, and y is never decoded
    assert gone == [] and decoder.images() == []


def test_a_stall_is_reported_only_while_work_waits(hand):
    scheduler, decoder = hand(slots=1)
    assert scheduler.stalled_s() == 0.0
    answers: list = []
    scheduler.submit(Job("a", collect(answers), seq=1, image=b"a1"))
    time.sleep(0.2)
    assert scheduler.stalled_s() >= 0.15
    decoder.finish(b"a1", reads(4))
    assert wait_until(lambda: answers, 5)
    assert scheduler.stalled_s() == 0.0


# --- the pool with real children ---------------------------------------------------------------

def test_a_stopped_child_holds_only_its_own_image_for_one_time_limit():
    good = png_bytes(draw_digit(7))
    pool = PreparePool(2, ImageLimits(), timeout_s=1.0)
    try:
        assert wait_until(lambda: pool.capacity() == 2, 30)
        stuck: list = []
        held = pool._children[0]  # the first idle child takes the next image
        held.process.send_signal(signal.SIGSTOP)
        pool.submit(good, stuck.append)
        started = time.monotonic()
        assert wait_until(lambda: held.task is not None, 5)
        others = pool.prepare_many([good] * 6)  # all through the other child, meanwhile
        others_s = time.monotonic() - started
        assert all(isinstance(outcome, Prepared) for outcome in others)
        assert wait_until(lambda: stuck, 10)
        stuck_s = time.monotonic() - started
        assert [(error.code, error.status) for error in stuck] == [("image_too_complex", 400)]
        assert wait_until(lambda: held.process.poll() is not None, 5)  # killed, though stopped
        assert wait_until(lambda: pool.capacity() == 2, 30) and pool.restarts == 1
        report("stopped-child", others_s=round(others_s, 3), stuck_answered_s=round(stuck_s, 3))
        assert stuck_s < 5.0  # one time limit (1 s) and a generous margin; 30 s before
    finally:
        pool.close()


# --- real servers ------------------------------------------------------------------------------

def server_cpu_s(pid: int) -> float:
    """CPU seconds of the server and of its children, the ones reaped (killed, replaced) included."""
    process = psutil.Process(pid)
    times = process.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
    return total


def post(url: str, data: bytes, timeout: float = 30) -> requests.Response:
    return requests.post(url + "/api/predict", data=data, headers={"Content-Type": "image/jpeg"}, timeout=timeout)


@pytest.mark.parametrize("async_mode", ["eventlet", "threading"])
def test_crafted_inputs_are_answered_fast_with_bounded_cpu(async_mode):
    crafted = {
        "jpeg-9900-scans-99KB": (jpeg_scan_bomb(scans=9_900), 400, "image_too_complex"),
        "serpentine-png": (serpentine_png(), 200, None),
        "webp-16383x2441": (webp_wide(), 413, "image_too_large"),
        "jpeg-48-scans-6324x6324": (SLOW_JPEG, None, None),  # accepted, or over the time limit
    }
    figures = {}
    with run_server(async_mode) as server:
        for name, (data, status, code) in crafted.items():
            before, started = server_cpu_s(server.process.pid), time.monotonic()
            answer = post(server.url, data)
            seconds, cpu = time.monotonic() - started, server_cpu_s(server.process.pid) - before
            figures[name] = {"status": answer.status_code, "s": round(seconds, 3), "cpu_s": round(cpu, 3)}
            assert answer.headers["Content-Type"].startswith("application/json")
            if status is not None:
                assert answer.status_code == status, answer.text
            if code is not None:
                assert answer.json()["error"]["code"] == code
            if answer.status_code == 200 and len(data) < 100_000:
                assert cpu < 0.5, (name, cpu)  # generous: ~0.1 s or less
            elif answer.status_code == 200:
                assert cpu < 2.0, (name, cpu)
            if answer.status_code == 400 and answer.json()["error"]["code"] == "image_too_complex":
                assert seconds < 5.0
            assert seconds < 10.0
        assert requests.get(server.url + "/healthz", timeout=5).json() == {"status": "ok"}
    report("crafted-cpu", async_mode=async_mode, **figures)


ATTACKER = """
import os, sys, threading, time
os.nice(19)
sys.path[:0] = [{checkout!r}]
from tests.support.clients import RawClient
from tests.support.hostile import jpeg_scan_bomb, serpentine_png
from tests.support.pictures import data_url
frames = [data_url(jpeg_scan_bomb(6324, 6324, 48), "image/jpeg"), data_url(serpentine_png()),
          data_url(jpeg_scan_bomb(scans=9_900), "image/jpeg")]
attacker = RawClient({url!r})
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
print("attacking", flush=True)
while not stop.is_set() and attacker.send_frame(frames[attacker.seq % len(frames)]):
    time.sleep(0.01)
print(len(attacker.answered), len(attacker.errors), flush=True)
attacker.close()
"""


def start_attacker(url: str) -> subprocess.Popen:
    attacker = subprocess.Popen([sys.executable, "-c", ATTACKER.format(checkout=CHECKOUT, url=url)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert attacker.stdout.readline().strip() == "attacking"
    return attacker


def stop_attacker(attacker: subprocess.Popen) -> str:
    try:
        attacker.stdin.write("stop\n")
        attacker.stdin.flush()
        return attacker.stdout.readline().strip()
    except OSError:
        return ""
    finally:
        if attacker.poll() is None:
            try:
                attacker.wait(10)
            except subprocess.TimeoutExpired:
                attacker.kill()
                attacker.wait(5)


@pytest.mark.parametrize("async_mode", ["eventlet", "threading"])
def test_a_polite_client_is_not_held_behind_crafted_frames(async_mode):
    """Idle and attacked windows alternate (the attacker process stopped and continued), so that
    the machine's other load, which drifts, weighs on both alike."""
    with run_server(async_mode) as server:
        polite = Recorder(server.url).connect()
        attacker = None
        idle: list[float] = []
        during: list[float] = []
        try:
            polite.round_trips(POLITE, 5, 1)  # warm-up
            attacker = start_attacker(server.url)
            for window in range(3):
                attacker.send_signal(signal.SIGSTOP)
                time.sleep(1.5)  # its frame in a decoder finishes or runs out of time
                idle += polite.round_trips(POLITE, 12, 100 + 100 * window)
                attacker.send_signal(signal.SIGCONT)
                time.sleep(0.5)
                during += polite.round_trips(POLITE, 12, 150 + 100 * window)
            attacked = stop_attacker(attacker)
        finally:
            polite.close()
            if attacker is not None and attacker.poll() is None:
                attacker.send_signal(signal.SIGCONT)
                attacker.kill()
        assert not polite.errors, polite.errors[:3]
        wait_idle(server)
        seen = stats(server)
    p95_idle, p95_during = percentile(idle, 95), percentile(during, 95)
    report("polite-under-attack", async_mode=async_mode, p50_idle_ms=round(percentile(idle, 50), 1),
           p95_idle_ms=round(p95_idle, 1), p50_attack_ms=round(percentile(during, 50), 1),
           p95_attack_ms=round(p95_during, 1), attacker_answers_errors=attacked, stats=seen["scheduler"])
    assert sum(int(count) for count in attacked.split()) > 0  # the attack did reach the decoders
    assert p95_during <= max(2 * p95_idle, p95_idle + FLOOR_MS), (p95_idle, p95_during)


@pytest.mark.parametrize("async_mode", ["eventlet", "threading"])
def test_sigterm_stops_the_server_within_5_s_during_an_attack(async_mode):
    with run_server(async_mode) as server:
        attacker = start_attacker(server.url)
        uploads = ThreadPoolExecutor(6)
        try:
            for _ in range(6):
                uploads.submit(lambda: post(server.url, SLOW_JPEG, timeout=15))
            time.sleep(1.0)
            children = [child.pid for child in psutil.Process(server.process.pid).children(recursive=True)]
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            try:
                code = server.process.wait(10)
            except subprocess.TimeoutExpired:
                code = None
            stopped_s = time.monotonic() - started
        finally:
            stop_attacker(attacker)
            uploads.shutdown(wait=False, cancel_futures=True)
        report("sigterm-under-attack", async_mode=async_mode, stopped_s=round(stopped_s, 2), exit_code=code)
        assert code == 0, "".join(server.output[-30:])
        assert stopped_s < 5.0
        assert children and wait_until(lambda: not [pid for pid in children if psutil.pid_exists(pid)], 2)


def test_a_stopped_decoding_child_costs_one_time_limit_and_is_replaced():
    with run_server("eventlet", env={"DIGITS_DECODE_TIMEOUT_MS": "500"}) as server:
        polite = Recorder(server.url).connect()
        try:
            polite.round_trips(POLITE, 2, 1)
            children = sorted(psutil.Process(server.process.pid).children(), key=lambda c: (c.create_time(), c.pid))
            assert len(children) == 3  # two decoders, then the spare
            stopped = children[0]  # the first idle decoder: it gets the next frame
            stopped.send_signal(signal.SIGSTOP)
            answered_s = []
            for seq in range(10, 15):
                started = time.monotonic()
                polite.send(seq, POLITE[seq % len(POLITE)])
                assert polite.wait_answer(seq, 10)
                answered_s.append(round(time.monotonic() - started, 3))
            errors = [error["error"]["code"] for error in polite.errors]
            report("stopped-child", answered_s=answered_s, errors=errors)
            assert errors == ["image_too_complex"]  # the frame it held, after the 0.5 s limit (30 s before)
            assert answered_s[0] < 3.0
            assert all(seq in polite.predictions for seq in range(11, 15))  # the spare took over at once
            assert wait_until(lambda: not stopped.is_running() or stopped.status() == psutil.STATUS_ZOMBIE, 5)
            assert len(psutil.Process(server.process.pid).children()) == 3  # and a new spare started
        finally:
            for child in psutil.Process(server.process.pid).children():
                child.send_signal(signal.SIGCONT)
            polite.close()


def test_upload_hammering_gets_busy_not_an_unbounded_queue():
    # One address sends all 24: the per-client cap (429, tests/live/test_hostile_network.py) is lifted
    # so that this test sees the server-wide bound, which protects against many clients at once.
    with run_server("eventlet", env={"DIGITS_UPLOADS_IN_FLIGHT": "4", "DIGITS_UPLOAD_CONCURRENCY": "100"}) as server:
        polite = Recorder(server.url).connect()
        try:
            polite.round_trips(POLITE, 3, 1)
            rss_before = rss_mb(server)
            with ThreadPoolExecutor(24) as pool:
                futures = [pool.submit(post, server.url, SLOW_JPEG) for _ in range(24)]
                time.sleep(0.5)
                during = polite.round_trips(POLITE, 10, 100)  # while the uploads are being served
                answers = [future.result() for future in futures]
            rss_after = rss_mb(server)
            seen = wait_idle(server, 30)
        finally:
            polite.close()
    statuses = sorted(answer.status_code for answer in answers)
    report("upload-hammering", statuses=statuses, polite_max_ms=round(max(during), 1),
           rss_before_mb=round(rss_before), rss_after_mb=round(rss_after))
    assert all(answer.headers["Content-Type"].startswith("application/json") for answer in answers)
    busy = [answer for answer in answers if answer.status_code == 503]
    assert len(busy) >= 24 - 4 - 4 and all(answer.json()["error"]["code"] == "busy" for answer in busy)
    assert set(statuses) <= {200, 400, 503}
    assert seen["pending"] == 0
    assert max(during) < 3000  # 26 s before
    assert rss_after - rss_before < 300  # 2.4 GB before


def test_healthz_says_stalled_when_work_waits_without_progress():
    env = {"DIGITS_DECODE_TIMEOUT_MS": "60000", "DIGITS_STALL_S": "1"}
    with run_server("threading", env=env) as server:
        children = psutil.Process(server.process.pid).children()
        for child in children:
            child.send_signal(signal.SIGSTOP)
        polite = Recorder(server.url).connect()
        try:
            polite.send(1, POLITE[0])
            assert wait_until(lambda: requests.get(server.url + "/healthz", timeout=5).status_code == 503, 10, 0.2)
            health = requests.get(server.url + "/healthz", timeout=5).json()
            assert health["status"] == "stalled" and "waited" in health["reason"]
            for child in children:
                child.send_signal(signal.SIGCONT)
            assert polite.wait_answer(1, 10)
            assert requests.get(server.url + "/healthz", timeout=5).json() == {"status": "ok"}
        finally:
            for child in children:
                if child.is_running():
                    child.send_signal(signal.SIGCONT)
            polite.close()


def test_a_client_whose_picture_was_expensive_waits_as_long_before_its_next_decode(hand):
    scheduler, decoder = hand(slots=2)
    answers: list = []
    scheduler.submit(Job("heavy", collect(answers), seq=1, image=b"h1"))
    assert wait_until(lambda: decoder.images() == [b"h1"], 5)
    time.sleep(0.3)  # an expensive picture: 0.3 s in the decoder
    decoder.finish(b"h1", reads(1))
    finished = time.monotonic()
    scheduler.submit(Job("heavy", collect(answers), seq=2, image=b"h2"))
    assert wait_until(lambda: decoder.images() == [b"h2"], 5)
    assert time.monotonic() - finished >= 0.25  # it rested about as long as it took
    scheduler.submit(Job("light", collect(answers), seq=1, image=b"l1"))
    assert wait_until(lambda: b"l1" in decoder.images(), 5)
    decoder.finish(b"l1", reads(2))
    started = time.monotonic()
    scheduler.submit(Job("light", collect(answers), seq=2, image=b"l2"))  # a cheap one never waits
    assert wait_until(lambda: b"l2" in decoder.images(), 5)
    assert time.monotonic() - started < 0.25
