"""The documented production command (docs/install.md), started as an operator would, checked live.

`gunicorn -w 1 --threads 100 'realtime.serving.wsgi:create_app()'`: the threaded worker with the app in
threading mode, since gunicorn 26 has no eventlet worker. `make test` installs gunicorn
(requirements-production.txt).
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import requests
import socketio

from tests.support.pictures import draw_digit, png_bytes
from tests.support.servers import ROOT, free_port

pytest.importorskip("gunicorn", reason="the production server is an extra: pip install .[production]")
pytestmark = pytest.mark.slow

COMMAND = ["-m", "gunicorn", "-w", "1", "--threads", "100", "realtime.serving.wsgi:create_app()"]


@pytest.fixture(scope="module")
def production() -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, *COMMAND, "--bind", f"127.0.0.1:{port}"], cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, process)
        yield url, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """gunicorn listens before its worker has loaded the model: wait for /healthz, not the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited:\n" + process.stdout.read())
        try:
            if requests.get(url + "/healthz", timeout=5).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or busy loading the model
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn not healthy in time")


def test_health_and_page(production):
    url, _ = production
    assert requests.get(url + "/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.get(url + "/", timeout=5).status_code == 200
    assert requests.get(url + "/static/js/main.js", timeout=5).status_code == 200


def test_http_prediction_reads_a_digit(production):
    url, _ = production
    answer = requests.post(url + "/api/predict", files={"image": ("four.png", png_bytes(draw_digit(4)))}, timeout=30)
    assert answer.status_code == 200
    assert answer.json()["digit"] == 4


def test_a_socketio_client_gets_a_prediction_over_a_websocket(production):
    url, _ = production
    answers: list[dict] = []
    arrived = threading.Event()
    client = socketio.Client(reconnection=False)

    @client.on("prediction")
    def on_prediction(message: dict) -> None:
        answers.append(message)
        arrived.set()

    client.connect(url, transports=["websocket"], wait_timeout=10)
    try:
        assert client.transport() == "websocket"
        image = "data:image/png;base64," + base64.b64encode(png_bytes(draw_digit(7))).decode()
        client.emit("snapshot", {"seq": 1, "image": image})
        assert arrived.wait(30), "no prediction"
    finally:
        client.disconnect()
    assert answers[0]["seq"] == 1
    assert answers[0]["digit"] == 7


def test_sigterm_stops_gunicorn_and_the_app_children(production):
    """Last in this file: it stops the shared server. Its preprocessing children must go with it."""
    import psutil

    _, process = production
    family = psutil.Process(process.pid).children(recursive=True)
    assert family, "no worker"
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    _, alive = psutil.wait_procs(family, timeout=30)
    assert not alive, f"left running: {[p.pid for p in alive]}"
