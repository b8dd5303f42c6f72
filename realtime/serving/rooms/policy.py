"""Class-room rules as pure functions: codes, names, join limits, wall throttling, challenge tallies.

Nothing here touches a clock, a socket or a store: time comes in as an argument, so every rule
is tested without threads or sleeps (tests/unit/test_rooms.py).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Easy to read aloud and to type on a phone: no 0/O, 1/I/L, and no 5/S or 8/B either.
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY234679"
CODE_LENGTH = 5  # 26**5 = 11.9 million codes; with the join rate limit, guessing one takes weeks
NAME_MAX = 24
VISIT_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_CODE_PATTERN = re.compile(r"^[A-Za-z0-9]{1,16}$")


def new_code(taken: Callable[[str], bool], choice: Callable[[str], str] = secrets.choice,
             attempts: int = 100) -> str:
    """A random room code not `taken`. Random (not counted up) so a code says nothing about the others."""
    for _ in range(attempts):
        code = "".join(choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if not taken(code):
            return code
    raise RuntimeError("no free room code found")


def normalize_code(text: Any) -> str | None:
    """The canonical (upper-case) code, or None when `text` cannot be a code. Case-insensitive, spaces ignored."""
    if not isinstance(text, str):
        return None
    code = re.sub(r"[\s-]", "", text).upper()
    return code if _CODE_PATTERN.match(code) else None


def secret_hash(secret: str) -> str:
    """What the store keeps of the teacher's secret: a leaked store does not let anyone act as a teacher."""
    return hashlib.sha256(secret.encode()).hexdigest()


def is_teacher(secret: str | None, stored_hash: str | None) -> bool:
    if not secret or not stored_hash:
        return False
    return secrets.compare_digest(secret_hash(secret), stored_hash)


def student_id(code: str, visit: str) -> str:
    """The wall's id of a student: stable for their visit (the page's `visit` token), and not the token itself,
    so the id shown on the wall cannot be used to act as that student."""
    return hashlib.sha256(f"{code}:{visit}".encode()).hexdigest()[:12]


def clean_name(raw: Any, number: int) -> str:
    """A student's display name: their nickname, tidied and shortened, or an anonymous "Student N"."""
    if isinstance(raw, str):
        name = " ".join("".join(ch for ch in raw if ch.isprintable()).split())[:NAME_MAX]
        if name:
            return name
    return f"Student {number}"


# --- joining ---------------------------------------------------------------------------


@dataclass(frozen=True)
class JoinDecision:
    ok: bool
    reason: str = ""  # "", "closed", "locked", "full", "removed"

    @property
    def message(self) -> str:
        return JOIN_MESSAGES.get(self.reason, "")


JOIN_MESSAGES = {
    "closed": "This class has ended.",
    "locked": "The teacher has locked this class: no new students can join.",
    "full": "This class is full.",
    "removed": "The teacher has removed you from this class.",
}


def decide_join(*, exists: bool, locked: bool, members: int, max_students: int, returning: bool,
                removed: bool) -> JoinDecision:
    """May this visit join? A returning student (a reconnect) gets back in even when the room is locked or full."""
    if not exists:
        return JoinDecision(False, "closed")
    if removed:
        return JoinDecision(False, "removed")
    if returning:
        return JoinDecision(True)
    if locked:
        return JoinDecision(False, "locked")
    if members >= max_students:
        return JoinDecision(False, "full")
    return JoinDecision(True)


class RateLimit:
    """A token bucket per key (a client's address): `allow(key, now, cost)` says whether to let it through.

    Used for joining, so that room codes cannot be guessed by trying: each try costs a token, an
    unknown code costs several, tokens come back at `rate` a second up to `burst`.
    """

    def __init__(self, rate: float, burst: float, max_keys: int = 10_000) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._buckets: dict[Hashable, tuple[float, float]] = {}

    def allow(self, key: Hashable, now: float, cost: float = 1.0) -> bool:
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - then) * self.rate)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._forget_full(now)
        self._buckets[key] = (tokens, now)
        return allowed

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (they hold nothing a new bucket would not)."""
        for key, (tokens, then) in list(self._buckets.items()):
            if tokens + (now - then) * self.rate >= self.burst:
                del self._buckets[key]


# --- the wall ----------------------------------------------------------------------------


@dataclass
class Coalescer:
    """At most one wall update per student every `interval` seconds, latest wins.

    `offer` returns the payload to send now, or None when it is held; a held payload replaces
    any older held one, and `due` hands out the held payloads whose time has come. So a student
    drawing at 30 frames a second costs the wall 1/interval updates, and the last answer (the
    one after the pen lifts) is never lost, only delayed by at most `interval`.
    """

    interval: float
    _last: dict[Hashable, float] = field(default_factory=dict)
    _held: dict[Hashable, Any] = field(default_factory=dict)

    def offer(self, key: Hashable, payload: Any, now: float) -> Any | None:
        last = self._last.get(key)
        if last is None or now - last >= self.interval:
            self._last[key] = now
            self._held.pop(key, None)
            return payload
        self._held[key] = payload
        return None

    def due(self, now: float) -> list[tuple[Hashable, Any]]:
        ready = [key for key in self._held if now - self._last[key] >= self.interval]
        out = []
        for key in ready:
            self._last[key] = now
            out.append((key, self._held.pop(key)))
        return out

    def next_due(self) -> float | None:
        """When the earliest held payload may go (None when nothing is held)."""
        if not self._held:
            return None
        return min(self._last[key] for key in self._held) + self.interval

    def forget(self, key: Hashable) -> None:
        self._last.pop(key, None)
        self._held.pop(key, None)


def wall_payload(student: str, answer: Mapping[str, Any]) -> dict[str, Any]:
    """What the wall needs of one answer (not the timings, not the evidence map)."""
    keep = ("digit", "confidence", "top3", "probabilities", "blank", "unsure", "input28")
    return {"student": student, **{key: answer[key] for key in keep if key in answer}}


# --- challenges ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChallengeResult:
    """How a class answered "everyone draw a `asked`".

    A student's answer is the latest non-blank answer of theirs since the challenge opened, as it
    stands when the teacher closes it: one answer per student per challenge, however often they drew.
    """

    asked: int
    read_as_asked: list[str]
    misread: dict[str, int]  # student -> what the network read
    no_answer: list[str]

    @property
    def answered(self) -> int:
        return len(self.read_as_asked) + len(self.misread)

    def confusion_pairs(self) -> list[tuple[int, int]]:
        """(asked, predicted) once per answering student: what the class matrix adds up."""
        return [(self.asked, self.asked)] * len(self.read_as_asked) + [(self.asked, d) for d in self.misread.values()]

    def as_dict(self) -> dict[str, Any]:
        return {"asked": self.asked, "answered": self.answered, "read_as_asked": self.read_as_asked,
                "misread": self.misread, "no_answer": self.no_answer}


def tally(asked: int, members: Iterable[str], answers: Mapping[str, int | None]) -> ChallengeResult:
    """The result of a challenge from each member's answer (None or missing: no answer)."""
    right, wrong, none = [], {}, []
    for student in members:
        digit = answers.get(student)
        if digit is None:
            none.append(student)
        elif digit == asked:
            right.append(student)
        else:
            wrong[student] = digit
    return ChallengeResult(asked, right, wrong, none)


def empty_confusion() -> list[list[int]]:
    return [[0] * 10 for _ in range(10)]


def add_pairs(matrix: list[list[int]], pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """A new matrix with each (asked, predicted) pair counted once more; rows are asked, columns predicted."""
    out = [row[:] for row in matrix]
    for asked, predicted in pairs:
        out[asked][predicted] += 1
    return out


def valid_digit(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9:
        return value
    return None


# --- the join URL ----------------------------------------------------------------------------


def join_host(request_host: str, bind_host: str, lan_address: str | None) -> str:
    """The host[:port] students should open.

    The Host the teacher used is right when it is an address the room can reach. When the teacher
    opened the page on this machine (localhost, 127.0.0.1) and the server listens on the network,
    the phones need the machine's LAN address instead, with the same port.
    """
    hostname, _, port = request_host.rpartition(":") if _has_port(request_host) else (request_host, "", "")
    if not _is_loopback(hostname) or not lan_address or _is_loopback(bind_host):
        return request_host
    return f"{lan_address}:{port}" if port else lan_address


def _has_port(host: str) -> bool:
    if host.startswith("["):
        return "]:" in host
    return host.count(":") == 1


def _is_loopback(hostname: str) -> bool:
    hostname = hostname.strip("[]").lower()
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False
