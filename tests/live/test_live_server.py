"""A real server (`python server.py`), both async modes, driven by the real python-socketio client.

Shutdown under load and flooding clients are in test_load_faults.py."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from tests.support.clients import Recorder
from tests.support.pictures import data_url, draw_digit, png_bytes
from tests.support.servers import ROOT, run_server

pytestmark = pytest.mark.slow

FRAME = png_bytes(draw_digit(7, size=128))
SLOW_FRAME = png_bytes(draw_digit(7, size=2000))  # still being decoded when the next frame arrives


@pytest.fixture(scope="module", params=["eventlet", "threading"])
def server(request):
    with run_server(request.param) as running:
        yield running


def test_ready_line_and_health(server):
    assert any("ready on http://127.0.0.1:" in line for line in server.output)
    assert requests.get(server.url + "/healthz", timeout=5).json() == {"status": "ok"}


def test_a_burst_of_50_frames_ends_with_the_answer_to_the_last_one(server):
    listener = Recorder(server.url).connect()
    try:
        for seq in range(1, 51):
            listener.send(seq, FRAME)
        assert listener.wait_answer(50)
        assert listener.order == sorted(set(listener.order)), "answer seqs to one client only increase"
        assert listener.order[-1] == 50 and listener.errors == []
        assert listener.predictions[50]["digit"] == 7
    finally:
        listener.close()


def test_twenty_concurrent_clients_each_get_their_newest_frame_answered(server):
    listeners = [Recorder(server.url).connect() for _ in range(20)]
    try:
        for round_ in range(1, 11):
            for listener in listeners:
                listener.send(round_, FRAME)
        for listener in listeners:
            assert listener.wait_answer(10), "every client's newest frame is answered"
            assert listener.order == sorted(set(listener.order))
    finally:
        for listener in listeners:
            listener.close()


@pytest.mark.parametrize("digit", [0, 1, 4, 7])
def test_a_drawn_digit_is_read_correctly_over_the_socket(server, digit):
    listener = Recorder(server.url).connect()
    try:
        drawing = draw_digit(digit, background=(0, 0, 0, 0))  # what canvas.toDataURL() gives
        listener.send(1, data_url(png_bytes(drawing)))
        assert listener.wait_answer(1)
        assert listener.predictions[1]["digit"] == digit
    finally:
        listener.close()


def test_bad_frames_get_prediction_error_and_the_connection_keeps_working(server):
    listener = Recorder(server.url).connect()
    try:
        listener.client.emit("snapshot", {"seq": 1, "image": b"not a png"})
        listener.client.emit("snapshot", {"image": FRAME})
        listener.client.emit("snapshot", 42)
        codes = sorted(error["error"]["code"] for error in listener.wait_errors(3, 10))
        assert codes == ["invalid_seq", "invalid_snapshot", "not_an_image"]
        listener.send(2, FRAME)
        assert listener.wait_answer(2)
    finally:
        listener.close()


def test_a_bad_frame_right_after_a_good_one_never_puts_answers_out_of_order(server):
    """The bad frame's error is emitted while the message is read; the older good frame's answer
    comes later, from the scheduler: it must be dropped, not sent after the newer seq's error."""
    listener = Recorder(server.url).connect()
    try:
        for round_ in range(10):
            good, bad = 2 * round_ + 1, 2 * round_ + 2
            listener.send(good, SLOW_FRAME)
            listener.client.emit("snapshot", {"seq": bad, "image": "data:,x"})
            assert listener.wait_answer(bad), f"the error of frame {bad} was received"
        deadline = time.monotonic() + 15
        while requests.get(server.url + "/api/stats", timeout=5).json()["pending"] and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # answers made but not delivered yet
        assert listener.order == sorted(set(listener.order)), f"answer seqs only increase: {listener.order}"
        assert listener.order[-1] == 20 and listener.errors[-1]["seq"] == 20
    finally:
        listener.close()


def test_http_and_socket_share_the_scheduler(server):
    response = requests.post(server.url + "/api/predict", data=FRAME, headers={"Content-Type": "image/png"},
                             timeout=10)
    assert response.json()["digit"] == 7
    stats = requests.get(server.url + "/api/stats", timeout=5).json()["scheduler"]
    assert stats["answered"] >= stats["batches"] > 0 and stats["largest_batch"] >= 1


def test_a_second_server_on_a_port_in_use_fails_with_a_clear_message(server):
    """Not a silent start: with SO_REUSEPORT it would bind too and take half the new connections."""
    port = server.url.rsplit(":", 1)[1]
    mode = server.process.args[server.process.args.index("--async-mode") + 1]
    second = subprocess.run([sys.executable, "server.py", "--port", port, "--async-mode", mode],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1
    assert "in use" in second.stderr
    assert "ready on" not in second.stdout
    assert requests.get(server.url + "/healthz", timeout=5).json()["status"] == "ok"  # the first one is untouched
