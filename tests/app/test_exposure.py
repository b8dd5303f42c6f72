"""Exposure: who may connect, what the page may load, and what the server listens on.

- cross-origin Socket.IO connections are refused by default; DIGITS_ALLOWED_ORIGINS and
  --allowed-origins let the named origins in (and no others);
- the page is served with a Content-Security-Policy that allows only its own origin, and
  every answer carries `X-Content-Type-Options: nosniff`; the page needs nothing the policy blocks;
- no debug mode, no debugger, no reloader; no stack trace even for an unexpected error;
- the server binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path

import psutil
import pytest
import requests
import socketio

from realtime.serving.config import DEFAULTS
from tests.support.answers import CHECK_DIGITS
from tests.support.apps import make_app
from tests.support.clients import Recorder
from tests.support.pictures import data_url, good_png
from tests.support.servers import ROOT, run_server

EVIL = "http://evil.example"
FRIEND = "http://friend.example"


def can_connect(url: str, origin: str | None, exact: bool = True) -> bool:
    """Whether a Socket.IO websocket connection with this Origin header is accepted (and answers).

    websocket-client adds an Origin of its own (the server's URL) next to one given in `headers`;
    `exact` suppresses it, so the server sees exactly `origin` (or none), as from a browser.
    """
    options = {"websocket_extra_options": {"suppress_origin": True}} if exact else {}
    recorder = Recorder(url, headers={"Origin": origin} if origin else {}, client_options=options)
    try:
        recorder.connect(timeout=10)
    except socketio.exceptions.ConnectionError:
        return False
    try:
        recorder.send(1, data_url(good_png(7)))
        assert recorder.wait_answer(1, 30), "connected but got no answer"
        return True
    finally:
        recorder.close()


def polling_handshake(url: str, origin: str) -> requests.Response:
    return requests.get(url + "/socket.io/?EIO=4&transport=polling", headers={"Origin": origin}, timeout=10)


def listening_addresses(pid: int) -> set[str]:
    return {conn.laddr.ip for conn in psutil.Process(pid).net_connections(kind="inet")
            if conn.status == psutil.CONN_LISTEN}


@pytest.fixture(scope="module")
def web(request):
    if CHECK_DIGITS:
        yield request.getfixturevalue("app")
        return
    application = make_app()
    yield application
    application.extensions["digits"].scheduler.stop()


# --- cross-origin Socket.IO ----------------------------------------------------------------

@pytest.mark.slow
def test_cross_origin_socketio_is_refused_by_default(live_server):
    own = live_server.url
    port = own.rsplit(":", 1)[1]
    assert can_connect(own, own), "the page's own origin must connect"
    assert can_connect(own, None), "a client without an Origin header (a script) must connect"
    for origin in (EVIL, "null", f"http://127.0.0.1.evil.example:{port}", f"https://127.0.0.1:{port}",
                   f"http://127.0.0.1:{int(port) + 1}", f"http://localhost.evil.example:{port}"):
        assert not can_connect(own, origin), f"{origin} could open a Socket.IO connection"
    # As a plain python-socketio client would try it (its own Origin header is then sent as well).
    assert not can_connect(own, EVIL, exact=False)
    # The polling transport is refused too, and no CORS header invites the other origin in.
    refused = polling_handshake(own, EVIL)
    assert refused.status_code in {400, 403}
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert polling_handshake(own, own).status_code == 200


def test_cross_origin_socketio_is_refused_in_the_test_client_too(web):
    """Same check without a live server: the Engine.IO handshake through the WSGI app."""
    client = web.test_client()
    path = "/socket.io/?EIO=4&transport=polling"
    refused = client.get(path, headers={"Origin": EVIL})
    assert refused.status_code in {400, 403}
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert client.get(path, headers={"Origin": "http://localhost"}).status_code == 200  # its own host


@pytest.fixture(scope="module")
def server_allowing_by_env():
    """A threading-mode server allowing two extra origins through DIGITS_ALLOWED_ORIGINS."""
    with run_server("threading", env={"DIGITS_ALLOWED_ORIGINS": f"{EVIL}, {FRIEND}"}) as running:
        yield running


@pytest.mark.slow
def test_allowed_origins_from_the_environment(server_allowing_by_env):
    url = server_allowing_by_env.url
    assert can_connect(url, EVIL)
    assert can_connect(url, FRIEND)
    assert not can_connect(url, "http://other.example")
    answer = polling_handshake(url, EVIL)
    assert answer.status_code == 200 and answer.headers.get("Access-Control-Allow-Origin") == EVIL


@pytest.mark.slow
def test_allowed_origins_keep_the_page_own_origin(server_allowing_by_env):
    url = server_allowing_by_env.url
    assert can_connect(url, url), "with extra origins configured, the page itself can no longer connect"


@pytest.mark.slow
def test_allowed_origins_from_the_flag():
    with run_server("eventlet", "--allowed-origins", EVIL) as running:
        assert can_connect(running.url, EVIL)
        assert not can_connect(running.url, FRIEND)
        assert listening_addresses(running.process.pid) == {"127.0.0.1"}


# --- headers and the page --------------------------------------------------------------------

def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def test_page_has_a_same_origin_content_security_policy(web):
    page = web.test_client().get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    policy = csp_directives(page.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    for directive in ("script-src", "connect-src", "style-src"):  # explicit or inherited from default-src
        assert policy.get(directive, policy["default-src"]) == ["'self'"], directive
    assert policy.get("object-src") == ["'none'"]
    assert policy.get("base-uri") in (["'self'"], ["'none'"])
    assert policy.get("frame-ancestors") in (["'self'"], ["'none'"])
    for directive, sources in policy.items():
        for source in sources:
            # Only the page's own origin: no host, scheme-wide (https:, ws:), wildcard or unsafe source.
            allowed = {"'self'", "'none'"} | ({"data:", "blob:"} if directive == "img-src" else set())
            assert source in allowed, f"{directive} allows {source}"


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/model", "/api/stats", "/api/nope", "/nope",
                                  "/static/js/main.js", "/static/css/app.css"])
def test_every_answer_says_nosniff(web, path):
    answer = web.test_client().get(path)
    assert answer.headers.get("X-Content-Type-Options") == "nosniff", path
    assert "Content-Security-Policy" in answer.headers, path


def test_error_answers_say_nosniff(web):
    answer = web.test_client().post("/api/predict", data=b"x", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415
    assert answer.headers.get("X-Content-Type-Options") == "nosniff"


def test_page_needs_nothing_its_policy_blocks(web):
    """Under script-src/style-src 'self', inline code would silently not run: there must be none."""
    html = web.test_client().get("/").get_data(as_text=True)
    for script in re.finditer(r"<script\b([^>]*)>(.*?)</script>", html, re.S | re.I):
        assert "src=" in script.group(1) and not script.group(2).strip(), script.group(0)[:200]
    assert not re.search(r"<style\b", html, re.I), "inline <style> block"
    assert not re.search(r"\sstyle\s*=", html, re.I), "inline style attribute"
    assert not re.search(r"\son[a-z]+\s*=", html, re.I), "inline event handler"
    assert not re.search(r"javascript:", html, re.I)
    assert not re.search(r"""(src|href|action)\s*=\s*["']?(https?:)?//""", html, re.I), "a resource from elsewhere"
    for script in (ROOT / "static" / "js").glob("*.js"):
        code = script.read_text()
        assert not re.search(r"\beval\s*\(|new\s+Function\s*\(", code), f"{script.name} evaluates strings"
        assert not re.search(r"""["'`](https?|wss?):\/\/""", code), f"{script.name} reaches another origin"


# --- debug mode, stack traces, binding ------------------------------------------------------------

def test_no_debug_mode_by_default(web):
    assert web.debug is False
    assert not web.config.get("DEBUG")
    assert web.test_client().get("/console").status_code == 404  # no Werkzeug debugger console


def test_unexpected_error_gives_json_without_a_stack_trace(web, monkeypatch):
    import realtime.serving.routes

    def explode(*_args, **_kwargs):
        raise RuntimeError("secret internal detail /work/main/realtime")

    monkeypatch.setattr(realtime.serving.routes, "answer_one", explode)
    answer = web.test_client().post("/api/predict", data=good_png(7), headers={"Content-Type": "image/png"})
    assert answer.status_code == 500
    assert answer.get_json() == {"error": {"code": "internal_error",
                                           "message": "Something went wrong on the server."}}
    body = answer.get_data(as_text=True)
    assert "secret" not in body and "Traceback" not in body and "/work/" not in body


@pytest.mark.slow
def test_live_server_has_no_debugger_no_reloader_and_binds_loopback(live_server):
    process = psutil.Process(live_server.process.pid)
    children = process.children(recursive=True)
    others = [child for child in children if "realtime.serving.prep_pool" not in child.cmdline()]
    assert others == [], "a reloader (or anything else besides the preprocessing worker) runs as a child"
    assert len(children) == DEFAULTS["PREPROCESS_PROCESSES"] + 1  # the preprocessing workers and their spare
    assert listening_addresses(process.pid) == {"127.0.0.1"}
    output = "".join(live_server.output).lower()
    assert "debugger is active" not in output and "restarting with" not in output
    assert "debug mode: on" not in output
    assert requests.get(live_server.url + "/console", timeout=10).status_code == 404
    assert "Werkzeug" not in requests.get(live_server.url + "/nope", timeout=10).text


def test_command_line_defaults_are_loopback_and_no_debug(monkeypatch):
    from realtime.serving import cli as server

    for name in ("DIGITS_HOST", "DIGITS_ALLOWED_ORIGINS", "DIGITS_PORT"):
        monkeypatch.delenv(name, raising=False)
    args = server.parse_args([])
    assert args.host == "127.0.0.1" and args.port == 5000 and args.allowed_origins == ""
    assert not any("debug" in name or "reload" in name for name in vars(args))
    monkeypatch.setenv("DIGITS_HOST", "0.0.0.0")
    assert server.parse_args([]).host == "0.0.0.0"  # told otherwise, by the environment
    assert server.parse_args(["--host", "127.0.0.2"]).host == "127.0.0.2"  # the flag wins

    from realtime.serving.config import DEFAULTS, from_environment

    assert DEFAULTS["HOST"] == "127.0.0.1" and DEFAULTS["ALLOWED_ORIGINS"] == []
    assert from_environment({"DIGITS_ALLOWED_ORIGINS": f"{EVIL}, {FRIEND},"})["ALLOWED_ORIGINS"] == [EVIL, FRIEND]


def test_server_source_never_turns_debug_on():
    source = Path(ROOT / "realtime" / "serving" / "cli.py").read_text()
    assert not re.search(r"debug\s*=\s*True|use_reloader\s*=\s*True|use_debugger\s*=\s*True", source)
