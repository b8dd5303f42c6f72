"""A real server (`python server.py`), both async modes, driven by the real python-socketio client."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import requests
import socketio
from conftest import ROOT, draw_digit, png_bytes, run_server

pytestmark = pytest.mark.slow

FRAME = png_bytes(draw_digit(7, size=128))


@pytest.fixture(scope="module", params=["eventlet", "threading"])
def server(request):
    with run_server(request.param) as running:
        yield running


class Listener:
    """A socket.io client that records every answer it gets."""

    def __init__(self, url: str, **connect_args) -> None:
        self.answers: list[dict] = []
        self.errors: list[dict] = []
        self.arrived = threading.Condition()
        self.client = socketio.Client(reconnection=False)
        self.client.on("prediction", self._on_prediction)
        self.client.on("prediction_error", self._on_error)
        self.client.connect(url, transports=["websocket"], wait_timeout=10, **connect_args)

    def _on_prediction(self, message: dict) -> None:
        with self.arrived:
            self.answers.append(message)
            self.arrived.notify_all()

    def _on_error(self, message: dict) -> None:
        with self.arrived:
            self.errors.append(message)
            self.arrived.notify_all()

    def send(self, seq: int, image=FRAME) -> None:
        self.client.emit("snapshot", {"seq": seq, "image": image})

    def wait_for_seq(self, seq: int, timeout: float = 15.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: any(a["seq"] == seq for a in self.answers), timeout)

    def close(self) -> None:
        self.client.disconnect()


def test_ready_line_and_health(server):
    assert any("ready on http://127.0.0.1:" in line for line in server.output)
    assert requests.get(server.url + "/healthz", timeout=5).json() == {"status": "ok"}


def test_a_burst_of_50_frames_ends_with_the_answer_to_the_last_one(server):
    listener = Listener(server.url)
    try:
        for seq in range(1, 51):
            listener.send(seq)
        assert listener.wait_for_seq(50)
        seqs = [answer["seq"] for answer in listener.answers]
        assert seqs == sorted(set(seqs)), "answer seqs to one client only increase"
        assert seqs[-1] == 50 and listener.errors == []
        assert listener.answers[-1]["digit"] == 7
    finally:
        listener.close()


def test_twenty_concurrent_clients_each_get_their_newest_frame_answered(server):
    listeners = [Listener(server.url) for _ in range(20)]
    try:
        for round_ in range(1, 11):
            for listener in listeners:
                listener.send(round_)
        for listener in listeners:
            assert listener.wait_for_seq(10), "every client's newest frame is answered"
            seqs = [answer["seq"] for answer in listener.answers]
            assert seqs == sorted(set(seqs))
    finally:
        for listener in listeners:
            listener.close()


@pytest.mark.parametrize("digit", [0, 1, 4, 7])
def test_a_drawn_digit_is_read_correctly_over_the_socket(server, digit):
    listener = Listener(server.url)
    try:
        drawing = draw_digit(digit, background=(0, 0, 0, 0))  # what canvas.toDataURL() gives
        import base64

        listener.send(1, "data:image/png;base64," + base64.b64encode(png_bytes(drawing)).decode())
        assert listener.wait_for_seq(1)
        assert listener.answers[-1]["digit"] == digit
    finally:
        listener.close()


def test_bad_frames_get_prediction_error_and_the_connection_keeps_working(server):
    listener = Listener(server.url)
    try:
        listener.client.emit("snapshot", {"seq": 1, "image": b"not a png"})
        listener.client.emit("snapshot", {"image": FRAME})
        listener.client.emit("snapshot", 42)
        with listener.arrived:
            assert listener.arrived.wait_for(lambda: len(listener.errors) == 3, 10)
        codes = sorted(error["error"]["code"] for error in listener.errors)
        assert codes == ["invalid_seq", "invalid_snapshot", "not_an_image"]
        listener.send(2)
        assert listener.wait_for_seq(2)
    finally:
        listener.close()


FLOODER = """
import sys, time, socketio
frame = open(sys.argv[2], "rb").read()
client = socketio.Client(reconnection=False)
client.connect(sys.argv[1], transports=["websocket"])
print("connected", flush=True)
seq, deadline = 0, time.monotonic() + float(sys.argv[3])
while time.monotonic() < deadline and client.connected:
    seq += 1
    client.emit("snapshot", {"seq": seq, "image": frame})
print("sent", seq, "connected", client.connected, flush=True)
client.disconnect()
"""


def test_the_loop_keeps_serving_others_while_one_client_floods(server, tmp_path):
    """Inference runs off the event loop and the loop is shared fairly: while another process
    floods the server as fast as it can, a second client's answers and pings keep flowing."""
    frame_path = tmp_path / "frame.png"
    frame_path.write_bytes(FRAME)
    flooder = subprocess.Popen([sys.executable, "-c", FLOODER, server.url, str(frame_path), "8"],
                               stdout=subprocess.PIPE, text=True)
    other = None
    try:
        assert flooder.stdout.readline().strip() == "connected"
        other = Listener(server.url)
        answered = 0
        for seq in range(1, 21):
            other.send(seq)
            answered += other.wait_for_seq(seq, timeout=5)
            time.sleep(0.05)
        assert answered == 20
        assert other.client.connected
        assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
        assert flooder.poll() is None, "the flood was still going on while the other client was served"
    finally:
        if other:
            other.close()
        flooder.kill()
        flooder.wait(10)


def test_http_and_socket_share_the_scheduler(server):
    response = requests.post(server.url + "/api/predict", data=FRAME, headers={"Content-Type": "image/png"},
                             timeout=10)
    assert response.json()["digit"] == 7
    stats = requests.get(server.url + "/api/stats", timeout=5).json()["scheduler"]
    assert stats["answered"] >= stats["batches"] > 0 and stats["largest_batch"] >= 1


def test_sigterm_stops_the_server_cleanly():
    with run_server("eventlet") as running:
        started = time.monotonic()
        assert running.stop() == 0
        assert time.monotonic() - started < 10
        time.sleep(0.2)
        assert any("server stopped" in line for line in running.output)


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
