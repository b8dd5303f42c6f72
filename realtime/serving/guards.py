"""Pure policies of the network edge: token buckets, Host and Origin checks, local addresses.

No clocks, sockets or requests here (the callers pass `now` and the header values), so every
rule can be tested with made-up times and names; `edge.py` and `packets.py` apply them.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


@dataclass
class TokenBucket:
    """`rate` tokens a second up to `burst`; `take` says how long to wait before the next token."""

    rate: float
    burst: float
    tokens: float = field(default=-1.0)
    stamp: float | None = None

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if self.stamp is not None:
            self.tokens = min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, now: float) -> float:
        """Spend one token, going into debt if need be: the seconds to pause (0 when one was there).

        For readers that pause instead of refusing: the debt makes a flood wait its turn.
        """
        self._refill(now)
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def try_take(self, now: float) -> float:
        """Spend one token if there is one: 0.0 then, else the seconds until there is one (nothing spent).

        For requests that are refused (429 with Retry-After) instead of delayed.
        """
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class KeyedLimiter:
    """One `TokenBucket` per key (a client address, a connection), at most `max_keys` remembered.

    The least recently used key is forgotten first, so a flood of new addresses costs bounded
    memory; a forgotten key starts again with a full bucket. Reusable for any per-client rate
    (uploads, Socket.IO connects, class-room joins).
    """

    def __init__(self, rate: float, burst: float, max_keys: int = 10_000) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._buckets: OrderedDict[Hashable, TokenBucket] = OrderedDict()

    def _bucket(self, key: Hashable) -> TokenBucket:
        bucket = self._buckets.pop(key, None) or TokenBucket(self.rate, self.burst)
        self._buckets[key] = bucket
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return bucket

    def take(self, key: Hashable, now: float) -> float:
        return self._bucket(key).take(now)

    def try_take(self, key: Hashable, now: float) -> float:
        return self._bucket(key).try_take(now)

    def forget(self, key: Hashable) -> None:
        self._buckets.pop(key, None)

    def __len__(self) -> int:
        return len(self._buckets)


# --- Host and Origin ---------------------------------------------------------------------------

def host_name(header: str) -> str:
    """The name in a Host header, without port, brackets, case or trailing dot ("" when unreadable)."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else ""
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    elif value.count(":") > 1:  # a bare IPv6 address
        pass
    return value.rstrip(".")


def _is_loopback(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_allowed(header: str | None, allowed: frozenset[str] | set[str]) -> bool:
    """Whether a request's Host header names this server.

    A DNS-rebinding page reaches a LAN server under the attacker's own name, so the name the
    browser used is the tell. Loopback addresses always pass; "*" in `allowed` passes anything.
    A request without Host (HTTP/1.0, raw scripts) passes: browsers always send one.
    """
    if header is None:
        return True
    if "*" in allowed:
        return True
    name = host_name(header)
    if not name:
        return False
    return name in allowed or name in LOOPBACK_NAMES or _is_loopback(name)


def default_allowed_hosts(bind_host: str, extra: Iterable[str] = (),
                          interface_addresses: Iterable[str] = (), hostname: str = "") -> frozenset[str]:
    """The Host names served: loopback, the bound address, every address of this machine and its name.

    `--host 0.0.0.0` means "anyone on the LAN, by any of my addresses", so a classroom works with no
    setting; a server bound to loopback behind a proxy on the same machine (deploy/nginx.conf) gets
    the browser's Host, the machine's LAN address, passed on. Allowing this machine's own addresses
    and name (plain and `.local`) costs nothing against DNS rebinding, whose page can only use a name
    the attacker controls. `extra` (DIGITS_ALLOWED_HOSTS) adds names such as a DNS name for the laptop.
    """
    names = set(LOOPBACK_NAMES)
    names.update(host_name(name) for name in extra if name.strip())
    names.update(host_name(address) for address in interface_addresses)
    if hostname:
        names.update({hostname.lower(), hostname.lower().split(".")[0] + ".local"})
    bind = host_name(bind_host)
    if bind not in WILDCARD_HOSTS:
        names.add(bind)
    names.discard("")
    return frozenset(names)


def local_addresses() -> set[str]:
    """Every address of this machine's interfaces (IPv4 and IPv6, without a zone id).

    Without psutil (an install that skipped it), the addresses the machine's name resolves to.
    """
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is in requirements.txt
        try:
            infos = socket.getaddrinfo(socket.gethostname(), None)
        except OSError:
            return set()
        return {info[4][0].split("%", 1)[0].lower() for info in infos}
    found: set[str] = set()
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family in (socket.AF_INET, socket.AF_INET6):
                found.add(entry.address.split("%", 1)[0].lower())
    return found


def origin_allowed(origin: str | None, own_origin: str, allowed: Iterable[str]) -> bool:
    """Whether a request carrying this Origin header may act: none (curl, scripts), the page's
    own origin, or one configured in DIGITS_ALLOWED_ORIGINS ("*" for any). "null" never passes."""
    if origin is None:
        return True
    allowed = list(allowed)
    if "*" in allowed:
        return True
    origin = origin.strip().rstrip("/").lower()
    return origin == own_origin.lower() or origin in {entry.strip().rstrip("/").lower() for entry in allowed}
