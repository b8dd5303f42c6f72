"""Where class rooms live: in this process's memory, or in Redis so that every server process shares them.

`RoomStore` is the interface; `MemoryRoomStore` serves one process, `RedisRoomStore` any number
given the same Redis (the one Flask-SocketIO's message queue uses). Both keep only what a lesson
needs while it runs (members, the teacher's secret as a hash, the challenge, the class matrix, each
student's latest answer) and forget a room when it is closed or idle for `idle_s` seconds.
Each operation is atomic (a lock here, a Lua script or one pipeline in Redis), so two processes
joining students at once cannot overfill a room.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from .policy import ChallengeResult, JoinDecision, add_pairs, clean_name, decide_join, empty_confusion, tally


@dataclass
class Member:
    student: str
    name: str
    number: int
    connected: bool = True
    hidden: bool = False
    sid: str = ""  # the socket it is connected on (a reconnect's new socket may join before the old one is gone)


@dataclass
class Room:
    code: str
    teacher_hash: str
    locked: bool = False
    blanked: bool = False
    names_hidden: bool = False
    challenge: int | None = None  # the digit asked for while a challenge is open
    result: dict[str, Any] | None = None  # the last closed challenge's ChallengeResult.as_dict()
    confusion: list[list[int]] = field(default_factory=empty_confusion)
    members: dict[str, Member] = field(default_factory=dict)

    def connected(self) -> list[Member]:
        """Connected students in the order they first joined: the wall's stable tile order."""
        return sorted((m for m in self.members.values() if m.connected), key=lambda m: m.number)

    def public(self) -> dict[str, Any]:
        """The room as the wall sees it (never the teacher's hash)."""
        return {"code": self.code, "locked": self.locked, "blanked": self.blanked, "names_hidden": self.names_hidden,
                "challenge": self.challenge, "result": self.result, "confusion": self.confusion,
                "students": [{k: v for k, v in asdict(m).items() if k != "sid"} for m in self.connected()]}


FLAGS = ("locked", "blanked", "names_hidden")


class RoomStore(Protocol):
    """Every room operation the app needs. Each one that changes a room counts as activity (idle expiry)."""

    def create(self, code: str, teacher_hash: str) -> bool: ...
    def exists(self, code: str) -> bool: ...
    def count(self) -> int: ...
    def get(self, code: str) -> Room | None: ...
    def set_flag(self, code: str, flag: str, value: bool) -> bool: ...
    def join(self, code: str, student: str, name: Any, max_students: int, sid: str = ""
             ) -> tuple[JoinDecision, Member | None]: ...
    def rename(self, code: str, student: str, name: Any) -> Member | None: ...
    def disconnect(self, code: str, student: str, sid: str) -> bool:
        """Mark the student gone, unless they are connected again on another socket already."""
        ...
    def set_hidden(self, code: str, student: str, hidden: bool) -> bool: ...
    def remove(self, code: str, student: str) -> bool: ...
    def record_answer(self, code: str, student: str, payload: dict[str, Any]) -> bool: ...
    def record_answers(self, code: str, updates: list[dict[str, Any]]) -> list[bool]:
        """Several students' answers (each with its "student") at once; for each, whether it was kept."""
        ...
    def latest(self, code: str) -> dict[str, dict[str, Any]]: ...
    def open_challenge(self, code: str, digit: int) -> bool: ...
    def close_challenge(self, code: str) -> ChallengeResult | None: ...
    def reset_confusion(self, code: str) -> bool: ...
    def close(self, code: str) -> None: ...


def make_store(url: str | None, idle_s: float) -> RoomStore:
    """Redis when a message queue URL is configured (rooms must be shared), memory otherwise."""
    if url:
        return RedisRoomStore.from_url(url, idle_s)
    return MemoryRoomStore(idle_s)


Clock = Callable[[], float]


# --- one process --------------------------------------------------------------------------


@dataclass
class _Held:
    room: Room
    last_active: float
    removed: set[str] = field(default_factory=set)
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, int | None] = field(default_factory=dict)
    numbers: int = 0


class MemoryRoomStore:
    """Rooms in a dict, for a single server process. `clock`: seconds, for idle expiry (a fake one in tests)."""

    def __init__(self, idle_s: float, clock: Clock = time.time) -> None:
        self.idle_s, self.clock = idle_s, clock
        self._rooms: dict[str, _Held] = {}
        self._lock = threading.Lock()

    def _sweep(self) -> None:
        now = self.clock()
        for code in [c for c, held in self._rooms.items() if now - held.last_active > self.idle_s]:
            del self._rooms[code]

    def _active(self, code: str) -> _Held | None:
        """The room, its idle time starting again; None when it is gone (closed, or idle too long)."""
        self._sweep()
        held = self._rooms.get(code)
        if held is not None:
            held.last_active = self.clock()
        return held

    def create(self, code: str, teacher_hash: str) -> bool:
        with self._lock:
            self._sweep()
            if code in self._rooms:
                return False
            self._rooms[code] = _Held(Room(code, teacher_hash), self.clock())
            return True

    def exists(self, code: str) -> bool:
        with self._lock:
            self._sweep()
            return code in self._rooms

    def count(self) -> int:
        with self._lock:
            self._sweep()
            return len(self._rooms)

    def get(self, code: str) -> Room | None:
        with self._lock:
            self._sweep()
            held = self._rooms.get(code)
            if held is None:
                return None
            room = held.room
            return Room(room.code, room.teacher_hash, room.locked, room.blanked, room.names_hidden, room.challenge,
                        room.result, [row[:] for row in room.confusion],
                        {k: Member(**asdict(m)) for k, m in room.members.items()})

    def set_flag(self, code: str, flag: str, value: bool) -> bool:
        assert flag in FLAGS
        with self._lock:
            held = self._active(code)
            if held is None:
                return False
            setattr(held.room, flag, bool(value))
            return True

    def join(self, code, student, name, max_students, sid=""):
        with self._lock:
            held = self._active(code)
            if held is None:
                return JoinDecision(False, "closed"), None
            existing = held.room.members.get(student)
            decision = decide_join(exists=True, locked=held.room.locked, returning=existing is not None,
                                   members=sum(m.connected for m in held.room.members.values()),
                                   max_students=max_students, removed=student in held.removed)
            if not decision.ok:
                return decision, None
            if existing is None:
                held.numbers += 1
                existing = held.room.members[student] = Member(student, clean_name(name, held.numbers), held.numbers)
            elif name:
                existing.name = clean_name(name, existing.number)
            existing.connected, existing.sid = True, sid
            return decision, Member(**asdict(existing))

    def rename(self, code, student, name):
        with self._lock:
            held = self._active(code)
            member = held and held.room.members.get(student)
            if not member:
                return None
            member.name = clean_name(name, member.number)
            return Member(**asdict(member))

    def disconnect(self, code, student, sid):
        with self._lock:
            held = self._active(code)
            member = held and held.room.members.get(student)
            if not member or member.sid != sid:
                return False
            member.connected = False
            return True

    def set_hidden(self, code, student, hidden):
        with self._lock:
            held = self._active(code)
            member = held and held.room.members.get(student)
            if not member:
                return False
            member.hidden = bool(hidden)
            return True

    def remove(self, code, student):
        with self._lock:
            held = self._active(code)
            if held is None or held.room.members.pop(student, None) is None:
                return False
            held.removed.add(student)
            held.latest.pop(student, None)
            held.answers.pop(student, None)
            return True

    def record_answer(self, code, student, payload):
        with self._lock:
            held = self._active(code)
            if held is None or student not in held.room.members:
                return False
            held.latest[student] = payload
            held.answers[student] = None if payload.get("blank") else payload.get("digit")
            return True

    def record_answers(self, code, updates):
        return [self.record_answer(code, update["student"], update) for update in updates]

    def latest(self, code):
        with self._lock:
            held = self._active(code)
            return dict(held.latest) if held else {}

    def open_challenge(self, code, digit):
        with self._lock:
            held = self._active(code)
            if held is None:
                return False
            held.room.challenge = digit
            held.answers.clear()
            return True

    def close_challenge(self, code):
        with self._lock:
            held = self._active(code)
            if held is None or held.room.challenge is None:
                return None
            result = tally(held.room.challenge, [m.student for m in held.room.connected()], held.answers)
            held.room.confusion = add_pairs(held.room.confusion, result.confusion_pairs())
            held.room.challenge = None
            held.room.result = result.as_dict()
            return result

    def reset_confusion(self, code):
        with self._lock:
            held = self._active(code)
            if held is None:
                return False
            held.room.confusion = empty_confusion()
            held.room.result = None
            return True

    def close(self, code):
        with self._lock:
            self._rooms.pop(code, None)


# --- several processes ----------------------------------------------------------------------

_JOIN = """
-- KEYS: meta members removed rooms; ARGV: student name max_students now code sid
if redis.call('EXISTS', KEYS[1]) == 0 then return {'closed'} end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return {'removed'} end
local existing = redis.call('HGET', KEYS[2], ARGV[1])
local member
if existing then
  member = cjson.decode(existing)
  if ARGV[2] ~= '' then member['name'] = ARGV[2] end
else
  if redis.call('HGET', KEYS[1], 'locked') == '1' then return {'locked'} end
  local connected = 0
  for _, value in ipairs(redis.call('HVALS', KEYS[2])) do
    if cjson.decode(value)['connected'] then connected = connected + 1 end
  end
  if connected >= tonumber(ARGV[3]) then return {'full'} end
  local number = redis.call('HINCRBY', KEYS[1], 'numbers', 1)
  local name = ARGV[2]
  if name == '' then name = 'Student ' .. number end
  member = {student = ARGV[1], name = name, number = number, hidden = false}
end
member['connected'] = true
member['sid'] = ARGV[6]
local encoded = cjson.encode(member)
redis.call('HSET', KEYS[2], ARGV[1], encoded)
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5])
return {'', encoded}
"""

_RECORD = """
-- KEYS: members latest answers rooms, then every part of the room; ARGV: student payload answer now code idle_s
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if ARGV[3] == '' then redis.call('HDEL', KEYS[3], ARGV[1]) else redis.call('HSET', KEYS[3], ARGV[1], ARGV[3]) end
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5])
for i = 5, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[6]) end
return 1
"""

_UPDATE_MEMBER = """
-- KEYS: members; ARGV: student field json-value
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if not existing then return nil end
local member = cjson.decode(existing)
member[ARGV[2]] = cjson.decode(ARGV[3])
local encoded = cjson.encode(member)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return encoded
"""

_DISCONNECT = """
-- KEYS: members; ARGV: student sid
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if not existing then return 0 end
local member = cjson.decode(existing)
if member['sid'] ~= ARGV[2] then return 0 end
member['connected'] = false
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(member))
return 1
"""

_PARTS = ("meta", "members", "removed", "latest", "answers", "confusion")


class RedisRoomStore:
    """Rooms in Redis: one hash or set per part of a room, all expiring together after `idle_s` idle."""

    def __init__(self, client: Any, idle_s: float, prefix: str = "digits:room", clock: Clock = time.time) -> None:
        self.redis, self.idle_s, self.prefix, self.clock = client, idle_s, prefix, clock
        self.rooms_key = f"{prefix}s"  # sorted set: code -> last activity
        self._join = client.register_script(_JOIN)
        self._record = client.register_script(_RECORD)
        self._update_member = client.register_script(_UPDATE_MEMBER)
        self._disconnect = client.register_script(_DISCONNECT)

    @classmethod
    def from_url(cls, url: str, idle_s: float) -> RedisRoomStore:
        """A client of its own (not the message queue's), answering str."""
        import redis

        return cls(redis.Redis.from_url(url, decode_responses=True), idle_s)

    def _key(self, code: str, part: str) -> str:
        return f"{self.prefix}:{code}:{part}"

    def _keys(self, code: str) -> list[str]:
        return [self._key(code, part) for part in _PARTS]

    def _touch(self, code: str) -> None:
        """Push the room's expiry back: every part lives `idle_s` past the last activity."""
        pipe = self.redis.pipeline(transaction=False)
        for key in self._keys(code):
            pipe.expire(key, int(self.idle_s))
        pipe.zadd(self.rooms_key, {code: self.clock()})
        pipe.execute()

    def create(self, code, teacher_hash):
        if not self.redis.hsetnx(self._key(code, "meta"), "teacher", teacher_hash):
            return False
        self._touch(code)
        return True

    def exists(self, code):
        return bool(self.redis.exists(self._key(code, "meta")))

    def count(self):
        self.redis.zremrangebyscore(self.rooms_key, "-inf", self.clock() - self.idle_s)
        return int(self.redis.zcard(self.rooms_key))

    def get(self, code):
        pipe = self.redis.pipeline(transaction=True)
        pipe.hgetall(self._key(code, "meta"))
        pipe.hgetall(self._key(code, "members"))
        pipe.hgetall(self._key(code, "confusion"))
        meta, members, confusion = pipe.execute()
        if not meta.get("teacher"):
            return None
        matrix = empty_confusion()
        for cell, count in confusion.items():
            asked, predicted = (int(x) for x in cell.split(","))
            matrix[asked][predicted] = int(count)
        challenge = meta.get("challenge", "")
        return Room(code, meta["teacher"], meta.get("locked") == "1", meta.get("blanked") == "1",
                    meta.get("names_hidden") == "1", int(challenge) if challenge else None,
                    json.loads(meta["result"]) if meta.get("result") else None, matrix,
                    {student: Member(**json.loads(value)) for student, value in members.items()})

    def set_flag(self, code, flag, value):
        assert flag in FLAGS
        if not self.exists(code):
            return False
        self.redis.hset(self._key(code, "meta"), flag, "1" if value else "0")
        self._touch(code)
        return True

    def join(self, code, student, name, max_students, sid=""):
        cleaned = clean_name(name, 0) if isinstance(name, str) and name.strip() else ""
        keys = [self._key(code, "meta"), self._key(code, "members"), self._key(code, "removed"), self.rooms_key]
        reason, *rest = self._join(keys=keys, args=[student, cleaned, max_students, self.clock(), code, sid])
        if reason:
            return JoinDecision(False, reason), None
        self._touch(code)
        return JoinDecision(True), Member(**json.loads(rest[0]))

    def _update(self, code: str, student: str, name: str, value: Any) -> Member | None:
        encoded = self._update_member(keys=[self._key(code, "members")], args=[student, name, json.dumps(value)])
        if not encoded:
            return None
        self._touch(code)
        return Member(**json.loads(encoded))

    def rename(self, code, student, name):
        existing = self.redis.hget(self._key(code, "members"), student)
        if existing is None:
            return None
        return self._update(code, student, "name", clean_name(name, json.loads(existing)["number"]))

    def disconnect(self, code, student, sid):
        gone = bool(self._disconnect(keys=[self._key(code, "members")], args=[student, sid]))
        if gone:
            self._touch(code)
        return gone

    def set_hidden(self, code, student, hidden):
        return self._update(code, student, "hidden", bool(hidden)) is not None

    def remove(self, code, student):
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(self._key(code, "members"), student)
        pipe.sadd(self._key(code, "removed"), student)
        pipe.hdel(self._key(code, "latest"), student)
        pipe.hdel(self._key(code, "answers"), student)
        removed, *_ = pipe.execute()
        self._touch(code)
        return bool(removed)

    def record_answer(self, code, student, payload):
        return self.record_answers(code, [{**payload, "student": student}])[0]

    def record_answers(self, code, updates):
        """One round trip for them all: the wall feed records a tick's updates together."""
        keys = [self._key(code, "members"), self._key(code, "latest"), self._key(code, "answers"), self.rooms_key,
                *self._keys(code)]
        pipe = self.redis.pipeline(transaction=False)
        for update in updates:
            answer = "" if update.get("blank") or update.get("digit") is None else str(update["digit"])
            args = [update["student"], json.dumps(update), answer, self.clock(), code, int(self.idle_s)]
            self._record(keys=keys, args=args, client=pipe)
        return [bool(kept) for kept in pipe.execute()]

    def latest(self, code):
        return {student: json.loads(value) for student, value in self.redis.hgetall(self._key(code, "latest")).items()}

    def open_challenge(self, code, digit):
        if not self.exists(code):
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self._key(code, "meta"), "challenge", str(digit))
        pipe.delete(self._key(code, "answers"))
        pipe.execute()
        self._touch(code)
        return True

    def close_challenge(self, code):
        meta = self._key(code, "meta")
        # GETDEL-like: only the process that takes the challenge away tallies it (a double click counts once).
        pipe = self.redis.pipeline(transaction=True)
        pipe.hget(meta, "challenge")
        pipe.hdel(meta, "challenge")
        pipe.hgetall(self._key(code, "answers"))
        pipe.delete(self._key(code, "answers"))
        challenge, taken, answers, _ = pipe.execute()
        if not challenge or not taken:
            return None
        room = self.get(code)
        if room is None:
            return None
        result = tally(int(challenge), [m.student for m in room.connected()],
                       {student: int(digit) for student, digit in answers.items()})
        pipe = self.redis.pipeline(transaction=True)
        for asked, predicted in result.confusion_pairs():
            pipe.hincrby(self._key(code, "confusion"), f"{asked},{predicted}", 1)
        pipe.hset(meta, "result", json.dumps(result.as_dict()))
        pipe.execute()
        self._touch(code)
        return result

    def reset_confusion(self, code):
        if not self.exists(code):
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self._key(code, "confusion"))
        pipe.hdel(self._key(code, "meta"), "result")
        pipe.execute()
        self._touch(code)
        return True

    def close(self, code):
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(*self._keys(code))
        pipe.zrem(self.rooms_key, code)
        pipe.execute()
