"""Hostile traffic at the network edge, against real `server.py` processes in both async modes.

The traffic is made here (raw sockets, websocket-client, python-socketio): packet floods and
malformed packets, attachment-count abuse, oversize frames and bodies (refused before they are
read), DNS rebinding (foreign Host and Origin), upload hammering, slow headers, connection caps,
chunked uploads, the headers of every answer, and the default LAN allow-list. Each flood is
bounded in count and time; each test runs well under 30 s on 2 busy cores.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time

import psutil
import pytest
import requests
import websocket

from tests.support.answers import expect_digit, percentile
from tests.support.clients import Recorder
from tests.support.pictures import data_url, good_png
from tests.support.servers import rss_mb, run_server, tracebacks

pytestmark = pytest.mark.slow

MODES = ["eventlet", "threading"]
EVIL = "evil.example"
CLOSE_LINE = "closing Socket.IO connection"
PNG = good_png(7)


@pytest.fixture(scope="module", params=MODES)
def server(request):
    """One server per async mode, with short read timeouts so that slow clients are dropped quickly."""
    with run_server(request.param, env={"DIGITS_HEADER_TIMEOUT_S": "2"}) as running:
        running.mode = request.param
        yield running


def address(server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def ws_url(server) -> str:
    return server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"


def raw_socketio(server, **options) -> websocket.WebSocket:
    """A connected Socket.IO client on a bare websocket (no reader thread)."""
    ws = websocket.create_connection(ws_url(server), timeout=10, **options)
    assert ws.recv().startswith("0")
    ws.send("40")
    assert ws.recv().startswith("40")
    return ws


def closed_by_server(ws: websocket.WebSocket, timeout: float = 10.0) -> bool:
    """Whether the server ends this websocket within `timeout` (pings and other packets skipped)."""
    deadline = time.monotonic() + timeout
    ws.settimeout(1.0)
    while time.monotonic() < deadline:
        try:
            opcode, _ = ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            continue
        except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
            return True
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return True
    return False


def polite_latencies(server, count: int, stop: threading.Event | None = None) -> list[float]:
    """A client that sends a frame, waits for its answer, pauses 50 ms: its latencies (ms)."""
    recorder = Recorder(server.url).connect()
    try:
        latencies = recorder.round_trips([data_url(PNG)], count, 1)
        assert not recorder.errors, recorder.errors
        return latencies
    finally:
        recorder.close()


def new_lines(server, since: int, closes: int = 0) -> list[str]:
    """The server's output since line `since`, once it shows `closes` closing lines (or after 3 s:
    the lines come through a pipe and a reader thread, a moment after the server wrote them)."""
    deadline = time.monotonic() + 3
    while True:
        lines = list(server.output)[since:]
        if len([line for line in lines if CLOSE_LINE in line]) >= closes or time.monotonic() > deadline:
            time.sleep(0.3)  # and anything written just after
            return list(server.output)[since:]
        time.sleep(0.05)


# --- packets ------------------------------------------------------------------------------------

def test_malformed_packet_floods_close_the_connection_with_one_log_line(server):
    """`2` (a client ping) and `42[` (broken JSON), 20 connections of 200 packets each: every flooder
    is disconnected, the log grows by about a line a connection, no stack trace, others served."""
    seen = len(server.output)
    closed = 0
    for flood in ("2", "42["):
        for _ in range(10):
            ws = raw_socketio(server)
            with contextlib.suppress(Exception):
                for _ in range(200):
                    ws.send(flood)
            closed += closed_by_server(ws, 5)
            ws.close()
    assert closed == 20
    lines = new_lines(server, seen, closes=20)
    assert not [line for line in lines if "Traceback" in line]
    assert len([line for line in lines if CLOSE_LINE in line]) == 20  # one a connection
    assert len([line for line in lines if "/socket.io/" not in line]) <= 2 * 20, lines[:40]
    polite_latencies(server, 5)


def test_valid_packet_flood_is_paced_and_others_keep_their_answers(server):
    """A client sending pongs (valid, cheap) as fast as it can for 4 s: it is read at PACKET_RATE,
    /healthz and a polite client are answered promptly."""
    before = polite_latencies(server, 20)
    stop = threading.Event()
    sent = [0]

    def flood() -> None:
        ws = raw_socketio(server)
        ws.settimeout(5)
        try:
            while not stop.is_set() and sent[0] < 100_000:
                ws.send("3")
                sent[0] += 1
        except Exception:
            pass
        finally:
            ws.close()

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    try:
        time.sleep(0.5)
        started = time.monotonic()
        assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
        health_s = time.monotonic() - started
        during = polite_latencies(server, 20)
    finally:
        stop.set()
        flooder.join(10)
    print(f"\n[{server.mode}] pong flood: {sent[0]} sent in ~4 s; /healthz {health_s * 1000:.0f} ms; polite p95 "
          f"{percentile(before, 95):.0f} ms before, {percentile(during, 95):.0f} ms during")
    assert health_s < 2.0
    assert percentile(during, 95) < max(3 * percentile(before, 95), 500)


def test_malformed_polling_packets_close_the_session_with_one_log_line(server):
    """Over long-polling too: 50 POSTs of packets python-engineio cannot decode get a JSON 400, the
    session is closed, one line is logged and no stack trace (engineio logs one per POST)."""
    seen = len(server.output)
    base = server.url + "/socket.io/?EIO=4&transport=polling"
    sid = json.loads(requests.get(base, timeout=5).text[1:])["sid"]
    session = requests.Session()
    answers = [session.post(f"{base}&sid={sid}", data=b"x\x1e9", timeout=5) for _ in range(50)]
    assert {answer.status_code for answer in answers} == {400}
    assert answers[0].json()["error"]["code"] == "bad_packet"
    assert requests.get(f"{base}&sid={sid}", timeout=15).status_code == 400  # the session is gone
    lines = new_lines(server, seen, closes=1)
    assert not [line for line in lines if "Traceback" in line]
    assert len([line for line in lines if CLOSE_LINE in line]) == 1


@pytest.mark.parametrize("packet", [
    '452-["snapshot",{"seq":1,"image":{"_placeholder":true,"num":0}}]',
    "4599999-[]",
    '451-["snapshot",{"seq":1,"image":{"_placeholder":true,"num":5}}]',
], ids=["two-declared", "huge-count", "placeholder-out-of-range"])
def test_attachment_abuse_closes_the_connection(server, packet):
    seen = len(server.output)
    ws = raw_socketio(server)
    ws.send(packet)
    if "num\":5" in packet:
        ws.send_binary(PNG)  # one attachment, pointing at the fifth
    assert closed_by_server(ws, 5)
    ws.close()
    lines = new_lines(server, seen, closes=1)
    assert not [line for line in lines if "Traceback" in line]
    assert len([line for line in lines if CLOSE_LINE in line]) == 1


def test_one_binary_attachment_still_works(server):
    recorder = Recorder(server.url).connect()
    try:
        recorder.client.emit("snapshot", {"seq": 1, "image": PNG})
        assert recorder.wait_answer(1, 15) and not recorder.errors
        expect_digit(recorder.predictions[1], 7)
    finally:
        recorder.close()


# --- sizes: refused before reading --------------------------------------------------------------

@pytest.mark.parametrize("fragments", [1, 200], ids=["one-frame", "2-MiB-fragments"])
def test_oversize_websocket_message_is_refused_before_it_is_read(server, fragments):
    """A 400 MiB message, as one frame (its header declares the size) or as 2 MiB fragments: the
    server closes the connection after at most a few MiB, and its memory does not follow."""
    base = rss_mb(server)
    ws = websocket.create_connection(ws_url(server), timeout=10)
    assert ws.recv().startswith("0")
    sock = ws.sock
    total, sent = 400 * 2**20, 0
    frame = total // fragments
    chunk = b"4" * 2**20
    with contextlib.suppress(OSError):
        for index in range(fragments):
            opcode = 0x1 if index == 0 else 0x0  # text, then continuation frames
            final = 0x80 if index == fragments - 1 else 0x00
            sock.sendall(bytes([final | opcode, 0x80 | 127]) + frame.to_bytes(8, "big") + b"\x00" * 4)  # zero mask
            for _ in range(frame // len(chunk)):
                sock.sendall(chunk)
                sent += len(chunk)
                if sent >= 64 * 2**20:
                    raise OSError("gave up: the server kept reading")
    sock.close()
    grown = rss_mb(server) - base
    print(f"\n[{server.mode}] 400 MiB message in {fragments} frame(s): {sent / 2**20:.0f} MiB accepted before the "
          f"server closed; RSS +{grown:.0f} MB")
    assert sent < 32 * 2**20, "the server kept reading an over-limit message"
    assert grown < 40


def test_oversize_polling_post_is_refused_from_its_content_length(server):
    host, port = address(server)
    handshake = requests.get(server.url + "/socket.io/?EIO=4&transport=polling", timeout=5)
    sid = json.loads(handshake.text[1:])["sid"]
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall((f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                      f"Content-Type: text/plain\r\nContent-Length: {400 * 2**20}\r\n\r\n").encode())
        with contextlib.suppress(OSError):
            sock.sendall(b"4" * 2**20)
        started = time.monotonic()
        answer = ""
        with contextlib.suppress(OSError):
            while '"body_too_large"' not in answer and time.monotonic() - started < 5:
                part = sock.recv(4096).decode("latin-1")
                if not part:
                    break
                answer += part
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert '"body_too_large"' in answer and time.monotonic() - started < 2


def chunked_post(server, body_parts, timeout: float = 20.0) -> tuple[int, bytes, float]:
    host, port = address(server)
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    started = time.monotonic()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # answered and closed while we sent
        connection.request("POST", "/api/predict", body=body_parts, headers={"Content-Type": "image/png"},
                           encode_chunked=True)
    answer = connection.getresponse()
    data = answer.read()
    connection.close()
    return answer.status, data, time.monotonic() - started


def test_chunked_upload_is_read(server):
    parts = [PNG[i:i + 1000] for i in range(0, len(PNG), 1000)]
    status, data, _ = chunked_post(server, iter(parts))
    assert status == 200, data[:300]
    expect_digit(json.loads(data), 7)


def test_chunked_upload_over_the_limit_gets_413_quickly(server):
    def endless():  # 200 MiB, at most
        for _ in range(200):
            yield b"\x00" * 2**20

    status, data, seconds = chunked_post(server, endless())
    print(f"\n[{server.mode}] 200 MiB chunked upload: {status} in {seconds:.1f} s")
    assert status == 413 and json.loads(data)["error"]["code"] == "body_too_large"
    assert seconds < 10


# --- Host and Origin (DNS rebinding) ------------------------------------------------------------

def test_dns_rebinding_host_is_refused_everywhere(server):
    _, port = address(server)
    foreign = {"Host": f"{EVIL}:{port}", "Origin": f"http://{EVIL}:{port}"}
    handshake = requests.get(server.url + "/socket.io/?EIO=4&transport=polling", headers=foreign, timeout=5)
    assert handshake.status_code == 421 and handshake.json()["error"]["code"] == "host_not_allowed"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(ws_url(server), timeout=5, host=f"{EVIL}:{port}", origin=f"http://{EVIL}:{port}")
    assert refused.value.status_code == 421
    upload = requests.post(server.url + "/api/predict", data=PNG, headers={**foreign, "Content-Type": "image/png"},
                           timeout=10)
    assert upload.status_code == 421 and upload.headers["Content-Type"] == "application/json"
    page = requests.get(server.url + "/", headers=foreign, timeout=5)
    assert page.status_code == 421 and page.headers["Content-Type"].startswith("text/plain") and len(page.text) < 300


def test_foreign_origin_cannot_upload_but_scripts_and_the_page_can(server):
    png = {"Content-Type": "image/png"}
    refused = requests.post(server.url + "/api/predict", data=PNG, timeout=10,
                            headers={**png, "Origin": f"http://{EVIL}"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "origin_not_allowed"
    assert requests.post(server.url + "/api/predict", data=PNG, headers=png, timeout=10).status_code == 200
    own = requests.post(server.url + "/api/predict", data=PNG, headers={**png, "Origin": server.url}, timeout=10)
    assert own.status_code == 200


# --- per-client rate and connection limits ------------------------------------------------------

def test_upload_hammering_waits_its_turn_while_a_polite_client_is_served(server):
    """16 threads uploading as fast as they can from 127.0.0.2 for 3 s; one polite client from
    127.0.0.1 uploading twice a second. The hammer's uploads are answered two at a time, the rest
    wait their turn (UPLOAD_WAIT_S) instead of being refused."""
    host, port = address(server)
    statuses: list[int] = []
    retry_after: set[str] = set()
    stop = threading.Event()

    def hammer() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=10, source_address=("127.0.0.2", 0))
        while not stop.is_set():
            try:
                connection.request("POST", "/api/predict", body=PNG, headers={"Content-Type": "image/png"})
                answer = connection.getresponse()
                answer.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=10, source_address=("127.0.0.2", 0))
                continue
            statuses.append(answer.status)
            if answer.status == 429:
                retry_after.add(answer.getheader("Retry-After") or "")
                assert answer.getheader("Content-Type") == "application/json"
        connection.close()

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(16)]
    for thread in threads:
        thread.start()
    polite: list[int] = []
    try:
        for _ in range(6):
            polite.append(requests.post(server.url + "/api/predict", data=PNG,
                                        headers={"Content-Type": "image/png"}, timeout=10).status_code)
            time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    print(f"\n[{server.mode}] upload hammering: {statuses.count(200)} served, {statuses.count(429)} refused")
    assert polite == [200] * 6
    assert statuses.count(200) > 16 and set(statuses) <= {200, 429}, sorted(set(statuses))
    assert all(value.isdigit() and int(value) >= 1 for value in retry_after)


def test_slow_header_connections_are_timed_out(server):
    """50 connections that send half a request line and stop: all dropped after the 2 s read timeout."""
    host, port = address(server)
    sockets = []
    for _ in range(50):
        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        sockets.append(sock)
    started = time.monotonic()
    dropped = 0
    for sock in sockets:
        sock.settimeout(max(0.1, 10 - (time.monotonic() - started)))
        with contextlib.suppress(OSError):
            sock.recv(4096)  # b"" (closed) or a short error answer
            dropped += 1
        sock.close()
    seconds = time.monotonic() - started
    assert dropped == 50 and seconds < 10, (dropped, seconds)
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200


def test_security_headers_on_socketio_answers_and_no_server_banner(server):
    host, port = address(server)
    answers = [
        requests.get(server.url + "/socket.io/?EIO=4&transport=polling", timeout=5),
        requests.get(server.url + "/socket.io/?EIO=4&transport=polling&sid=nope", timeout=5),
        requests.get(server.url + "/", timeout=5),
        requests.get(server.url + "/nowhere", timeout=5),
        requests.get(server.url + "/api/model", timeout=5),
    ]
    for answer in answers:
        assert answer.headers.get("X-Content-Type-Options") == "nosniff", answer.url
        assert "default-src 'self'" in answer.headers.get("Content-Security-Policy", ""), answer.url
        assert answer.headers.get("Referrer-Policy") == "no-referrer", answer.url
        assert "Server" not in answer.headers, (answer.url, answer.headers.get("Server"))
    for request in (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n",
                    b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n"):
        with socket.create_connection((host, port), timeout=5) as sock:  # errors of the WSGI server itself
            sock.sendall(request)
            raw = sock.recv(4096).decode("latin-1")
        assert raw.startswith("HTTP/1.") and raw.split()[1].startswith("4"), raw[:300]
        assert "server:" not in raw.lower() and "<html" not in raw.lower(), raw[:300]
    assert not tracebacks(server)


# --- caps, on servers of their own ----------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_connections_per_client_are_capped(mode):
    env = {"DIGITS_MAX_CONNECTIONS_PER_CLIENT": "4"}
    with run_server(mode, env=env) as running:
        held = [websocket.create_connection(ws_url(running), timeout=5) for _ in range(4)]
        try:
            with pytest.raises(websocket.WebSocketBadStatusException) as refused:
                websocket.create_connection(ws_url(running), timeout=5)
            assert refused.value.status_code == 429
            host, port = address(running)
            other = http.client.HTTPConnection(host, port, timeout=5, source_address=("127.0.0.2", 0))
            other.request("GET", "/healthz")
            assert other.getresponse().status == 200  # another client is not affected
            other.close()
        finally:
            for ws in held:
                ws.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the slots are given back once the sockets are gone
            if requests.get(running.url + "/healthz", timeout=5).status_code == 200:
                break
            time.sleep(0.2)
        assert requests.get(running.url + "/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("mode", MODES)
def test_total_connections_are_capped(mode):
    """MAX_CONNECTIONS=20 and 120 idle sockets: threads stay bounded, and once the idle ones time
    out (2 s) a real request is served."""
    env = {"DIGITS_MAX_CONNECTIONS": "20", "DIGITS_HEADER_TIMEOUT_S": "2"}
    with run_server(mode, env=env) as running:
        process = psutil.Process(running.process.pid)
        threads_before = process.num_threads()
        host, port = address(running)
        idle = [socket.create_connection((host, port), timeout=5) for _ in range(120)]
        time.sleep(1.0)
        threads_during = process.num_threads()
        for sock in idle:
            sock.close()
        started = time.monotonic()
        while True:  # a full server refuses (threading) or queues (eventlet) until the slots are back
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(running.url + "/healthz", timeout=15).status_code == 200:
                    break
            assert time.monotonic() - started < 15, "not served again after the idle sockets left"
            time.sleep(0.2)
        print(f"\n[{mode}] 120 idle sockets, cap 20: threads {threads_before} -> {threads_during}; "
              f"next request served after {time.monotonic() - started:.1f} s")
        assert threads_during <= threads_before + 25


# --- the LAN default ------------------------------------------------------------------------------

def lan_address() -> str | None:
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family == socket.AF_INET and not entry.address.startswith("127."):
                return entry.address
    return None


@contextlib.contextmanager
def wildcard_server(mode: str):
    """`--host 0.0.0.0` on a port free on loopback, tried again if another interface has it in use."""
    for attempt in range(3):
        try:
            with run_server(mode, "--host", "0.0.0.0") as running:
                yield running
                return
        except RuntimeError as failed:
            if "Address already in use" not in str(failed) or attempt == 2:
                raise


@pytest.mark.parametrize("mode", MODES)
def test_wildcard_bind_serves_the_lan_out_of_the_box(mode):
    """`--host 0.0.0.0` with no setting: a student's browser, which names the laptop by its LAN
    address, is served over HTTP and Socket.IO; a rebinding name still is not."""
    lan = lan_address()
    with wildcard_server(mode) as running:
        port = running.url.rsplit(":", 1)[1]
        target = f"http://{lan}:{port}" if lan else running.url
        headers = {"Host": f"{lan or socket.gethostname()}:{port}"}
        assert requests.get(target + "/", headers=headers, timeout=5).status_code == 200
        assert requests.get(target + "/socket.io/?EIO=4&transport=polling", timeout=5,
                            headers={**headers, "Origin": f"http://{headers['Host']}"}).status_code == 200
        if lan:
            recorder = Recorder(target).connect()  # websocket-client sends Origin: <target> itself
            try:
                recorder.send(1, data_url(PNG))
                assert recorder.wait_answer(1, 15) and not recorder.errors
            finally:
                recorder.close()
        refused = requests.get(target + "/", headers={"Host": f"{EVIL}:{port}"}, timeout=5)
        assert refused.status_code == 421
