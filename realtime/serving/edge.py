"""The network edge: one WSGI middleware around the whole app, Socket.IO endpoint included.

Everything a request must pass before Flask or Engine.IO sees it, in both async modes:
Host allow-list (DNS rebinding), Origin on uploads, body size before reading (Content-Length
and chunked), per-client limits (uploads, Socket.IO connects, open connections, polling
packets), and the security headers on every answer. The rules themselves are pure
functions in `guards.py`.
"""

from __future__ import annotations

import io
import json
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from .guards import KeyedLimiter, default_allowed_hosts, host_allowed, local_addresses, origin_allowed
from .packets import polling_payload_problem

log = logging.getLogger(__name__)

SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)
SOCKET_PATH = "/socket.io/"
HOSTS_REFRESH_S = 5.0  # a laptop's LAN address may change (DHCP): look again, at most this often
READ_CHUNK = 64 * 1024


@dataclass
class EdgeSettings:
    """What the edge enforces; `from_config` reads it from the app's settings."""

    bind_host: str = "127.0.0.1"
    allowed_hosts: list[str] = field(default_factory=list)
    allowed_origins: list[str] = field(default_factory=list)
    max_body_bytes: int = 16 * 1024 * 1024
    max_socket_body_bytes: int = 2 * 1024 * 1024
    upload_concurrency: int = 2
    upload_wait_s: float = 10.0
    upload_rate: float = 0.0
    upload_burst: float = 20.0
    connect_rate: float = 5.0
    connect_burst: float = 120.0
    max_connections_per_client: int = 128
    packet_rate: float = 120.0
    packet_burst: float = 60.0
    max_packets_per_post: int = 64
    content_security_policy: str = "default-src 'self'"

    @classmethod
    def from_config(cls, config: dict[str, Any], csp: str) -> EdgeSettings:
        return cls(bind_host=config["HOST"], allowed_hosts=config["ALLOWED_HOSTS"],
                   allowed_origins=config["ALLOWED_ORIGINS"], max_body_bytes=config["MAX_CONTENT_LENGTH"],
                   max_socket_body_bytes=config["SOCKET_MAX_MESSAGE_BYTES"],
                   upload_concurrency=config["UPLOAD_CONCURRENCY"], upload_wait_s=config["UPLOAD_WAIT_S"],
                   upload_rate=config["UPLOAD_RATE"],
                   upload_burst=config["UPLOAD_BURST"],
                   connect_rate=config["CONNECT_RATE"], connect_burst=config["CONNECT_BURST"],
                   max_connections_per_client=config["MAX_CONNECTIONS_PER_CLIENT"],
                   packet_rate=config["PACKET_RATE"], packet_burst=config["PACKET_BURST"],
                   content_security_policy=csp)


class Refusal(Exception):
    """A request refused at the edge: status, short code, sentence, extra headers."""

    def __init__(self, status: str, code: str, message: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, list(headers)


class HostList:
    """The allowed Host names, looked up again (at most every few seconds) when an unknown name
    comes, so a laptop that changes network keeps working."""

    def __init__(self, settings: EdgeSettings, addresses: Callable[[], Iterable[str]] = local_addresses,
                 clock: Callable[[], float] = time.monotonic) -> None:
        import socket

        self._settings, self._addresses, self._clock = settings, addresses, clock
        self._hostname = socket.gethostname()
        self._names = self._compute()
        self._stamp = clock()

    def _compute(self) -> frozenset[str]:
        return default_allowed_hosts(self._settings.bind_host, self._settings.allowed_hosts,
                                     self._addresses(), self._hostname)

    def allows(self, header: str | None) -> bool:
        if host_allowed(header, self._names):
            return True
        if self._clock() - self._stamp > HOSTS_REFRESH_S:
            self._names, self._stamp = self._compute(), self._clock()
            return host_allowed(header, self._names)
        return False


class EdgeGuard:
    """The WSGI middleware: `app.wsgi_app = EdgeGuard(app.wsgi_app, settings)`."""

    def __init__(self, app: Callable, settings: EdgeSettings, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, hosts: HostList | None = None,
                 on_bad_packet: Callable[[str, str], None] | None = None) -> None:
        """`on_bad_packet(sid, reason)` closes the Engine.IO session that sent a malformed polling packet."""
        self.app, self.settings, self.clock, self.sleep = app, settings, clock, sleep
        self.on_bad_packet = on_bad_packet
        self.hosts = hosts or HostList(settings)
        self.uploads = KeyedLimiter(settings.upload_rate, settings.upload_burst) if settings.upload_rate > 0 else None
        self.connects = KeyedLimiter(settings.connect_rate, settings.connect_burst)
        self.polling_packets = KeyedLimiter(settings.packet_rate, settings.packet_burst)
        self.open_connections: Counter[str] = Counter()
        self.open_uploads: Counter[str] = Counter()
        self._lock = threading.Lock()  # green under eventlet, a real one under threading: both right
        self._freed = threading.Condition(self._lock)  # a slot was given back
        self.headers = (*SECURITY_HEADERS, ("Content-Security-Policy", settings.content_security_policy))

    # --- the WSGI call ---------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        start_response = self._with_headers(start_response)
        client = environ.get("REMOTE_ADDR", "")
        try:
            self._check(environ, client)
        except Refusal as refusal:
            return self._refuse(environ, start_response, refusal)
        counters = [(self.open_connections, self.settings.max_connections_per_client, 0.0, "too_many_connections",
                     "open connections")]
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == "/api/predict":
            # An upload over its client's share waits its turn (a burst is served, one at most
            # `upload_concurrency` at a time); only one that waited `upload_wait_s` in vain is refused.
            counters.append((self.open_uploads, self.settings.upload_concurrency, self.settings.upload_wait_s,
                             "too_many_uploads", "uploads at once"))
        held = []
        for counter, limit, wait_s, code, what in counters:
            if not self._enter(counter, client, limit, wait_s):
                for taken in held:
                    self._leave(taken, client)
                refusal = Refusal("429 Too Many Requests", code, f"At most {limit} {what} per client; wait a moment.",
                                  [("Retry-After", "1")])
                return self._refuse(environ, start_response, refusal)
            held.append(counter)
        # Released when the app returns: Engine.IO holds a websocket or a long poll, and Flask computes
        # a prediction, inside the call itself (what follows is only the writing of a finished body).
        try:
            self._read_body(environ, client)  # inside the slots: a slow body holds one of its client's
            return self.app(environ, start_response)
        except Refusal as refusal:
            return self._refuse(environ, start_response, refusal)
        finally:
            for counter in held:
                self._leave(counter, client)

    def _check(self, environ: dict, client: str) -> None:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if not self.hosts.allows(environ.get("HTTP_HOST")):
            raise Refusal("421 Misdirected Request", "host_not_allowed",
                          "This server does not answer to that host name (see DIGITS_ALLOWED_HOSTS).")
        socket_path = path.startswith(SOCKET_PATH)
        if method == "POST" and path.startswith("/api/"):
            own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
            if not origin_allowed(environ.get("HTTP_ORIGIN"), own, self.settings.allowed_origins):
                raise Refusal("403 Forbidden", "origin_not_allowed",
                              "Requests from pages of other origins are refused (see DIGITS_ALLOWED_ORIGINS).")
        self._check_length(environ)
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if socket_path and "sid" not in query:  # a new Engine.IO session: a Socket.IO connect
            self._rate(self.connects, client, "too_many_connects", "Too many connections opened; wait a moment.")
        if method == "POST" and path == "/api/predict" and self.uploads is not None:
            self._rate(self.uploads, client, "too_many_uploads", "Too many uploads; wait a moment.")

    def _read_body(self, environ: dict, client: str) -> None:
        """Chunked bodies and long-polling packets, read here (see `_read_chunked`, `_pace_polling`)."""
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            self._read_chunked(environ)
        if environ.get("PATH_INFO", "").startswith(SOCKET_PATH) and environ.get("REQUEST_METHOD") == "POST":
            sid = parse_qs(environ.get("QUERY_STRING", "")).get("sid")
            if sid:
                self._pace_polling(environ, sid[0], client)

    def _rate(self, limiter: KeyedLimiter, client: str, code: str, message: str) -> None:
        wait = limiter.try_take(client, self.clock())
        if wait > 0:
            raise Refusal("429 Too Many Requests", code, message, [("Retry-After", str(max(1, math.ceil(wait))))])

    def _limit(self, environ: dict) -> int:
        return (self.settings.max_socket_body_bytes if environ.get("PATH_INFO", "").startswith(SOCKET_PATH)
                else self.settings.max_body_bytes)

    @staticmethod
    def _too_large(limit: int) -> Refusal:
        return Refusal("413 Content Too Large", "body_too_large",
                       f"The request body is over the limit of {limit:,} bytes.", [("Connection", "close")])

    def _check_length(self, environ: dict) -> None:
        """Refuse a body whose Content-Length is over the limit, before reading any of it."""
        limit = self._limit(environ)
        length = environ.get("CONTENT_LENGTH") or ""
        if length.strip():
            try:
                declared = int(length)
            except ValueError:
                raise Refusal("400 Bad Request", "bad_content_length", "Content-Length is not a number.",
                              [("Connection", "close")]) from None
            if declared > limit:
                raise self._too_large(limit)

    def _read_chunked(self, environ: dict) -> None:
        """Servers differ on chunked bodies (eventlet left Flask reading nothing, Werkzeug read on
        past the limit): read it once here, at most limit + 1 bytes, and hand on a plain body."""
        limit = self._limit(environ)
        stream, parts, size = environ["wsgi.input"], [], 0
        while size <= limit:
            part = stream.read(min(READ_CHUNK, limit + 1 - size))
            if not part:
                break
            parts.append(part)
            size += len(part)
        if size > limit:
            raise self._too_large(limit)
        body = b"".join(parts)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input_terminated"] = False

    def _pace_polling(self, environ: dict, sid: str, client: str) -> None:
        """Long-polling POSTs carry several packets: each is checked and costs a token, as over
        websocket (python-engineio would log a stack trace for every malformed one)."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        packets = body.count(b"\x1e") + 1
        problem = polling_payload_problem(body, self.settings.max_packets_per_post)
        if problem is not None:
            if self.on_bad_packet is not None:
                self.on_bad_packet(sid, f"{client}: {problem}")
            raise Refusal("400 Bad Request", "bad_packet", f"Refused: {problem}.", [("Connection", "close")])
        now, wait = self.clock(), 0.0
        for _ in range(packets):
            wait = self.polling_packets.take(sid, now)
        self.sleep(min(wait, 5.0))

    # --- open connections and uploads per client ---------------------------------------------

    def _enter(self, counter: Counter[str], client: str, limit: int, wait_s: float = 0.0) -> bool:
        with self._freed:
            deadline = time.monotonic() + wait_s  # real time: what Condition.wait counts in
            while counter[client] >= limit:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._freed.wait(remaining)
            counter[client] += 1
            return True

    def _leave(self, counter: Counter[str], client: str) -> None:
        with self._freed:
            counter[client] -= 1
            if counter[client] <= 0:
                del counter[client]
            self._freed.notify_all()

    # --- answers ---------------------------------------------------------------------------

    def _with_headers(self, start_response: Callable) -> Callable:
        headers = self.headers

        def start(status: str, response_headers: list, exc_info=None):
            present = {name.lower() for name, _ in response_headers}
            response_headers = [(n, v) for n, v in response_headers if n.lower() != "server"]
            response_headers.extend((name, value) for name, value in headers if name.lower() not in present)
            return start_response(status, response_headers, exc_info)

        return start

    def _refuse(self, environ: dict, start_response: Callable, refusal: Refusal) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(("/api/", SOCKET_PATH)):
            body = json.dumps({"error": {"code": refusal.code, "message": refusal.message}}).encode()
            content_type = "application/json"
        else:
            body = f"{refusal.status}\n{refusal.message}\n".encode()
            content_type = "text/plain; charset=utf-8"
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *refusal.headers]
        start_response(refusal.status, headers)
        return [body]
