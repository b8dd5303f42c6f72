"""The edge's pure policies (token buckets, Host and Origin rules, packet checks) with made-up clocks
and names, and the WSGI middleware driven with hand-made environs (no server, no sockets)."""

from __future__ import annotations

import io
import json
import threading

import pytest

from realtime.serving.edge import EdgeGuard, EdgeSettings, HostList
from realtime.serving.guards import (
    KeyedLimiter,
    TokenBucket,
    default_allowed_hosts,
    host_allowed,
    host_name,
    origin_allowed,
)
from realtime.serving.packets import PacketGate, engineio_packet_problem, socketio_packet_problem

# --- token buckets ----------------------------------------------------------------------------


def test_bucket_gives_its_burst_then_paces_at_its_rate():
    bucket = TokenBucket(rate=10.0, burst=3.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.1)  # one token in debt: wait a tenth of a second
    assert bucket.take(0.0) == pytest.approx(0.2)
    assert bucket.take(10.0) == 0.0  # refilled, but never above the burst
    assert bucket.tokens == pytest.approx(2.0)


def test_try_take_refuses_without_spending():
    bucket = TokenBucket(rate=2.0, burst=2.0)
    assert bucket.try_take(0.0) == 0.0 and bucket.try_take(0.0) == 0.0
    assert bucket.try_take(0.0) == pytest.approx(0.5)
    assert bucket.try_take(0.1) == pytest.approx(0.4)  # refusals spent nothing: still 0.4 s to go
    assert bucket.try_take(0.5) == 0.0


def test_clock_going_backwards_adds_nothing():
    bucket = TokenBucket(rate=1.0, burst=1.0)
    bucket.take(100.0)
    assert bucket.try_take(50.0) > 0


def test_keyed_limiter_keeps_clients_apart_and_forgets_the_oldest():
    limiter = KeyedLimiter(rate=1.0, burst=1.0, max_keys=2)
    assert limiter.try_take("a", 0.0) == 0.0
    assert limiter.try_take("a", 0.0) > 0
    assert limiter.try_take("b", 0.0) == 0.0  # another client has its own bucket
    limiter.try_take("c", 0.0)  # a third pushes out the least recently used ("a")
    assert len(limiter) == 2
    assert limiter.try_take("a", 0.0) == 0.0  # forgotten: starts full again
    limiter.forget("a")
    assert len(limiter) == 1


# --- Host -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "name"), [
    ("localhost:5000", "localhost"), ("LocalHost.", "localhost"), ("[::1]:5000", "::1"), ("[::1]", "::1"),
    ("fe80::1", "fe80::1"), ("192.168.1.20", "192.168.1.20"), ("[broken", ""),
])
def test_host_name(header, name):
    assert host_name(header) == name


def test_default_hosts_on_loopback_are_this_machine_only():
    allowed = default_allowed_hosts("127.0.0.1", interface_addresses=["192.168.1.20"], hostname="laptop")
    assert host_allowed("127.0.0.1:5000", allowed) and host_allowed("localhost:5000", allowed)
    assert host_allowed("[::1]:5000", allowed) and host_allowed("127.0.0.2", allowed)  # any loopback address
    assert host_allowed("192.168.1.20:8080", allowed)  # a proxy on this machine passes the browser's Host on
    assert not host_allowed("10.0.0.9:5000", allowed)  # not this machine
    assert not host_allowed("evil.example", allowed)
    assert not host_allowed("localhost.evil.example", allowed)
    assert not host_allowed("127.0.0.1.evil.example:5000", allowed)


def test_every_local_address_and_the_machine_name_are_allowed():
    allowed = default_allowed_hosts("0.0.0.0", interface_addresses=["192.168.1.20", "fe80::1"],
                                    hostname="Laptop.lan")
    for header in ("192.168.1.20:5000", "[fe80::1]:5000", "laptop.lan", "laptop.local:5000", "localhost"):
        assert host_allowed(header, allowed), header
    assert not host_allowed("evil.example:5000", allowed)
    assert not host_allowed("10.0.0.9:5000", allowed)  # not an address of this machine


def test_configured_hosts_add_to_the_defaults_and_star_allows_any():
    allowed = default_allowed_hosts("127.0.0.1", extra=["digits.school.example"])
    assert host_allowed("digits.school.example:5000", allowed)
    assert host_allowed("localhost", allowed)
    assert host_allowed("anything.example", default_allowed_hosts("127.0.0.1", extra=["*"]))


def test_a_request_without_host_passes_and_an_empty_one_does_not():
    allowed = default_allowed_hosts("127.0.0.1")
    assert host_allowed(None, allowed)
    assert not host_allowed("", allowed)


def test_host_list_looks_again_when_the_laptop_changes_network():
    addresses = [["192.168.1.20"]]
    now = [0.0]
    hosts = HostList(EdgeSettings(bind_host="0.0.0.0"), addresses=lambda: addresses[0], clock=lambda: now[0])
    assert hosts.allows("192.168.1.20:5000") and not hosts.allows("10.0.0.5:5000")
    addresses[0] = ["10.0.0.5"]
    assert not hosts.allows("10.0.0.5:5000")  # not looked up again this soon
    now[0] = 60.0
    assert hosts.allows("10.0.0.5:5000")


# --- Origin -----------------------------------------------------------------------------------

def test_origin_rules():
    own = "http://192.168.1.20:5000"
    assert origin_allowed(None, own, [])  # curl, scripts
    assert origin_allowed("http://192.168.1.20:5000", own, [])
    assert not origin_allowed("http://evil.example", own, [])
    assert not origin_allowed("null", own, [])
    assert not origin_allowed("https://192.168.1.20:5000", own, [])  # another scheme is another origin
    assert origin_allowed("http://friend.example", own, ["http://friend.example/"])
    assert origin_allowed("http://evil.example", own, ["*"])


# --- packets ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("packet", "bad"), [
    ("2", True), ("2probe", False), ("3", False), ('42["snapshot",{}]', False), ("5", False), ("6", False),
    ("1", False), ("", True), ("0", True), ("9", True), ("x", True), (b"\x89PNG", False),
])
def test_engineio_packets_a_client_may_send(packet, bad):
    assert (engineio_packet_problem(packet) is not None) == bad


@pytest.mark.parametrize(("packet", "bad"), [
    ('2["snapshot",{"seq":1}]', False), ('51-["snapshot",{"_placeholder":true,"num":0}]', False),
    ('52-["snapshot",{}]', True), ("5999999-[]", True), ('5["x"]', True), ('61-/ns,1["x"]', False),
    ("4" + "9" * 5000, False),  # not binary: left to python-socketio (whose error closes the connection)
])
def test_attachment_counts(packet, bad):
    assert (socketio_packet_problem(packet) is not None) == bad


def test_packet_gate_paces_a_flood_and_closes_on_a_bad_packet(caplog):
    pauses: list[float] = []
    gate = PacketGate(rate=100.0, burst=2.0, peer="10.0.0.7:4242", sleep=pauses.append, clock=lambda: 0.0)
    assert all(gate.admit("3") for _ in range(4))
    assert pauses == [0.0, 0.0, pytest.approx(0.01), pytest.approx(0.02)]
    with caplog.at_level("WARNING"):
        assert not gate.admit("2")
        assert not gate.admit('42["snapshot"')  # once closed, it stays closed: no second log line
    assert len([r for r in caplog.records if "10.0.0.7" in r.getMessage()]) == 1
    assert not PacketGate(1.0, 1.0, "x", sleep=pauses.append).admit(None)  # the end of the connection


# --- the middleware, with hand-made requests ----------------------------------------------------

def _inner(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Server", "Werkzeug/3 Python/3")])
    return [b"ok:%d" % len(body)]


def _call(guard: EdgeGuard, path="/", method="GET", host="127.0.0.1:5000", body=b"", headers=None,
          addr="127.0.0.1", query=""):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "wsgi.url_scheme": "http",
               "REMOTE_ADDR": addr, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
               **({"HTTP_HOST": host} if host is not None else {}), **(headers or {})}
    seen = {}

    def start_response(status, response_headers, exc_info=None):
        seen["status"], seen["headers"] = status, dict(response_headers)

    result = guard(environ, start_response)
    data = b"".join(result)
    if hasattr(result, "close"):
        result.close()
    return int(seen["status"].split()[0]), seen["headers"], data


def _guard(**settings) -> EdgeGuard:
    now = [0.0]
    guard = EdgeGuard(_inner, EdgeSettings(**settings), clock=lambda: now[0], sleep=lambda _s: None,
                      hosts=HostList(EdgeSettings(**settings), addresses=lambda: ["192.168.1.20"]))
    guard.now = now
    return guard


def test_foreign_host_gets_421_json_on_api_and_plain_text_elsewhere():
    guard = _guard()
    status, headers, body = _call(guard, "/api/model", host="evil.example")
    assert status == 421 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "host_not_allowed"
    status, headers, body = _call(guard, "/", host="evil.example")
    assert status == 421 and headers["Content-Type"].startswith("text/plain") and len(body) < 200
    assert _call(guard, "/socket.io/", host="evil.example:5000")[0] == 421
    assert _call(guard, "/", host="localhost:5000")[0] == 200


def test_foreign_origin_cannot_post_but_a_script_can():
    guard = _guard()
    status, _, body = _call(guard, "/api/predict", "POST", body=b"x", headers={"HTTP_ORIGIN": "http://evil.example"})
    assert status == 403 and json.loads(body)["error"]["code"] == "origin_not_allowed"
    assert _call(guard, "/api/predict", "POST", body=b"x", headers={"HTTP_ORIGIN": "http://127.0.0.1:5000"})[0] == 200
    assert _call(guard, "/api/predict", "POST", body=b"x")[0] == 200


def test_every_answer_gets_the_security_headers_and_no_server_banner():
    guard = _guard(content_security_policy="default-src 'self'")
    for path, host in (("/", "127.0.0.1"), ("/socket.io/", "127.0.0.1"), ("/api/x", "evil.example")):
        _, headers, _ = _call(guard, path, host=host)
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Content-Security-Policy"] == "default-src 'self'"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert "Server" not in headers


def test_body_over_the_limit_is_refused_before_reading():
    guard = _guard(max_body_bytes=100, max_socket_body_bytes=10)

    class Untouchable(io.BytesIO):
        def read(self, *args):
            raise AssertionError("the body was read")

    environ_body = {"wsgi.input": Untouchable(), "CONTENT_LENGTH": "1000000"}
    status, headers, _ = _call(guard, "/api/predict", "POST", headers=environ_body)
    assert status == 413 and headers["Connection"] == "close"
    status, _, _ = _call(guard, "/socket.io/", "POST", query="EIO=4&transport=polling&sid=abc",
                         headers={"wsgi.input": Untouchable(), "CONTENT_LENGTH": "11"})
    assert status == 413


def test_chunked_body_is_read_up_to_the_limit():
    guard = _guard(max_body_bytes=100)
    chunked = {"HTTP_TRANSFER_ENCODING": "chunked", "CONTENT_LENGTH": ""}
    status, _, body = _call(guard, "/api/predict", "POST", body=b"a" * 100, headers=chunked)
    assert (status, body) == (200, b"ok:100")
    status, headers, _ = _call(guard, "/api/predict", "POST", body=b"a" * 10_000, headers=chunked)
    assert status == 413 and headers["Connection"] == "close"


def test_uploads_over_the_rate_get_429_with_retry_after_per_client():
    guard = _guard(upload_rate=1.0, upload_burst=2.0)
    statuses = [_call(guard, "/api/predict", "POST", body=b"x")[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    status, headers, body = _call(guard, "/api/predict", "POST", body=b"x")
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert json.loads(body)["error"]["code"] == "too_many_uploads"
    assert _call(guard, "/api/predict", "POST", body=b"x", addr="127.0.0.2")[0] == 200  # someone else
    guard.now[0] = 1.0
    assert _call(guard, "/api/predict", "POST", body=b"x")[0] == 200


def test_socketio_connects_are_limited_but_packets_of_a_session_are_not_refused():
    guard = _guard(connect_rate=1.0, connect_burst=1.0)
    assert _call(guard, "/socket.io/", query="EIO=4&transport=polling")[0] == 200
    assert _call(guard, "/socket.io/", query="EIO=4&transport=websocket")[0] == 429
    assert _call(guard, "/socket.io/", query="EIO=4&transport=polling&sid=abc")[0] == 200


@pytest.mark.parametrize(("body", "bad"), [
    (b"3", False), (b'42["snapshot",{}]\x1e3\x1ebAQID', False), (b"3\x1e" * 5 + b"3", True), (b"2", True),
    (b"x", True), (b"", True), (b"4\xff", True), (b"3\x1e9", True),
])
def test_polling_payloads(body, bad):
    from realtime.serving.packets import polling_payload_problem

    assert (polling_payload_problem(body, max_packets=5) is not None) == bad


def test_polling_post_with_bad_packets_is_refused_and_packets_are_paced():
    pauses: list[float] = []
    closed: list[tuple[str, str]] = []
    guard = EdgeGuard(_inner, EdgeSettings(packet_rate=10.0, packet_burst=2.0, max_packets_per_post=5),
                      clock=lambda: 0.0, sleep=pauses.append, hosts=HostList(EdgeSettings(), addresses=lambda: []),
                      on_bad_packet=lambda sid, reason: closed.append((sid, reason)))
    query = "EIO=4&transport=polling&sid=abc"
    status, _, body = _call(guard, "/socket.io/", "POST", query=query, body=b"\x1e".join([b"3"] * 6))
    assert status == 400 and json.loads(body)["error"]["code"] == "bad_packet"
    assert _call(guard, "/socket.io/", "POST", query=query, body=b"42[")[0] == 200  # Socket.IO's own check
    assert _call(guard, "/socket.io/", "POST", query=query, body=b"9")[0] == 400
    assert [sid for sid, _ in closed] == ["abc", "abc"]
    assert _call(guard, "/socket.io/", "POST", query=query, body=b"\x1e".join([b"3"] * 4))[0] == 200
    assert pauses[-1] == pytest.approx(0.3)  # 1 + 4 packets, burst 2: three over, 0.3 s at 10 a second


def test_open_connections_per_client_are_capped_and_released():
    guard = _guard(max_connections_per_client=1)
    seen = []

    def inner(environ, start_response):  # a websocket or a long poll: held inside the app call
        if environ["PATH_INFO"] == "/socket.io/":
            seen.append(_call(guard, "/", addr="10.0.0.9")[0])
            seen.append(_call(guard, "/", addr="10.0.0.8")[0])
        return _inner(environ, start_response)

    guard.app = inner
    _call(guard, "/socket.io/", addr="10.0.0.9")
    assert seen == [429, 200]
    assert _call(guard, "/", addr="10.0.0.9")[0] == 200
    assert not guard.open_connections


def test_uploads_at_once_per_client_are_capped_and_one_at_a_time_never_is():
    guard = _guard(upload_concurrency=2, upload_wait_s=0.05)  # the third waits 50 ms in vain (same thread)
    seen = []

    def inner(environ, start_response):  # while two uploads of 10.0.0.9 are being answered...
        if environ["PATH_INFO"] == "/api/predict" and len(seen) == 0:
            seen.append(None)
            _call(guard, "/api/predict", "POST", body=b"x", addr="10.0.0.9")
        elif environ["PATH_INFO"] == "/api/predict" and len(seen) == 1:
            seen.append(_call(guard, "/api/predict", "POST", body=b"x", addr="10.0.0.9"))
            seen.append(_call(guard, "/", addr="10.0.0.9")[0])
        return _inner(environ, start_response)

    guard.app = inner
    _call(guard, "/api/predict", "POST", body=b"x", addr="10.0.0.9")
    (status, headers, body), other = seen[1], seen[2]
    assert status == 429 and headers["Retry-After"] == "1"
    assert json.loads(body)["error"]["code"] == "too_many_uploads"
    assert other == 200  # other requests are not uploads
    guard.app = _inner
    assert [_call(guard, "/api/predict", "POST", body=b"x", addr="10.0.0.9")[0] for _ in range(300)] == [200] * 300
    assert not guard.open_uploads and not guard.open_connections


def test_an_upload_over_its_clients_share_waits_for_a_turn_and_is_then_answered():
    guard = _guard(upload_concurrency=2, upload_wait_s=10.0)
    release, entered = threading.Event(), threading.Semaphore(0)

    def slow(environ, start_response):  # holds its slot until released
        entered.release()
        release.wait(10)
        return _inner(environ, start_response)

    guard.app = slow
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(
        _call(guard, "/api/predict", "POST", body=b"x", addr="10.0.0.9")[0])) for _ in range(5)]
    for thread in threads:
        thread.start()
    assert entered.acquire(timeout=5) and entered.acquire(timeout=5)
    assert not entered.acquire(timeout=0.3)  # two are answered at once, three wait
    assert guard.open_uploads["10.0.0.9"] == 2 and results == []
    release.set()
    for thread in threads:
        thread.join(10)
    assert results == [200] * 5
    assert not guard.open_uploads and not guard.open_connections
