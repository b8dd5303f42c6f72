"""Class-room rules (pure functions, a fake clock) and both room stores (memory, and a real Redis)."""

from __future__ import annotations

import csv
import io
import random

import pytest
from PIL import Image

from realtime.serving.rooms import export
from realtime.serving.rooms.policy import (
    CODE_ALPHABET,
    CODE_LENGTH,
    Coalescer,
    RateLimit,
    add_pairs,
    clean_name,
    decide_join,
    empty_confusion,
    is_teacher,
    join_host,
    new_code,
    normalize_code,
    secret_hash,
    student_id,
    tally,
    wall_payload,
)
from realtime.serving.rooms.store import MemoryRoomStore, RedisRoomStore
from tests.support.redis_server import redis_server

# --- codes, names, secrets -----------------------------------------------------------------


def test_codes_are_short_unambiguous_and_avoid_taken_ones():
    assert not set("0O1IL5S8B") & set(CODE_ALPHABET)
    rng = random.Random(4)
    taken = {new_code(lambda _c: False, rng.choice) for _ in range(200)}
    assert all(len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET) for code in taken)
    assert len(taken) == 200
    first = new_code(lambda _c: False, random.Random(1).choice)
    again = new_code(lambda code: code == first, random.Random(1).choice)
    assert again != first


def test_codes_are_case_insensitive_and_anything_else_is_refused():
    assert normalize_code(" abc-d7 ") == "ABCD7"
    for bad in ("", "a/b", "x" * 40, None, 12345, "<script>"):
        assert normalize_code(bad) is None


def test_teacher_secret_is_checked_against_its_hash_only():
    stored = secret_hash("s3cret")
    assert stored != "s3cret"
    assert is_teacher("s3cret", stored)
    assert not is_teacher("guess", stored)
    assert not is_teacher(None, stored)
    assert not is_teacher("", stored)


def test_student_ids_are_stable_per_visit_and_not_the_visit_token():
    visit = "v" * 24
    assert student_id("ABCDE", visit) == student_id("ABCDE", visit)
    assert student_id("ABCDE", visit) != student_id("ABCDF", visit)
    assert visit not in student_id("ABCDE", visit)


@pytest.mark.parametrize(("raw", "expected"), [
    ("Ada", "Ada"), ("  Ada   Lovelace ", "Ada Lovelace"), ("", "Student 7"), (None, "Student 7"),
    ("\x00\x1b[31m", "[31m"), ("x" * 100, "x" * 24), (42, "Student 7"),
])
def test_names_are_tidied_or_anonymous(raw, expected):
    assert clean_name(raw, 7) == expected


# --- joining --------------------------------------------------------------------------------

@pytest.mark.parametrize(("room", "expected"), [
    ({}, ""),
    ({"exists": False}, "closed"),
    ({"locked": True}, "locked"),
    ({"members": 30}, "full"),
    ({"removed": True}, "removed"),
    ({"locked": True, "returning": True}, ""),  # a reconnect gets back in
    ({"members": 30, "returning": True}, ""),
    ({"removed": True, "returning": True}, "removed"),
])
def test_who_may_join(room, expected):
    facts = {"exists": True, "locked": False, "members": 3, "max_students": 30, "returning": False,
             "removed": False, **room}
    decision = decide_join(**facts)
    assert decision.ok == (expected == "")
    assert decision.reason == expected
    assert bool(decision.message) == (expected != "")


def test_join_rate_limit_refills_and_charges_unknown_codes_more():
    limit = RateLimit(rate=1.0, burst=10)
    assert all(limit.allow("phone", 0.0) for _ in range(10))
    assert not limit.allow("phone", 0.0)
    assert limit.allow("laptop", 0.0)  # per address
    assert limit.allow("phone", 1.0)  # one token back a second
    assert not limit.allow("phone", 1.5)
    assert not limit.allow("phone", 4.0, cost=5)  # three tokens is not enough for an unknown code
    assert limit.allow("phone", 6.0, cost=5)


def test_join_rate_limit_memory_is_bounded():
    limit = RateLimit(rate=1.0, burst=2, max_keys=100)
    for n in range(1000):
        limit.allow(n, float(n))
    assert len(limit._buckets) <= 101


# --- the wall's throttle ------------------------------------------------------------------

def test_wall_updates_are_throttled_per_student_latest_wins_and_the_last_is_kept():
    wall = Coalescer(interval=0.2)
    assert wall.offer("ada", 1, now=0.0) == 1  # the first goes at once
    assert wall.offer("bob", 1, now=0.01) == 1  # per student
    assert wall.offer("ada", 2, now=0.05) is None
    assert wall.offer("ada", 3, now=0.10) is None  # replaces 2
    assert wall.next_due() == pytest.approx(0.2)
    assert wall.due(0.15) == []
    assert wall.due(0.2) == [("ada", 3)]
    assert wall.due(10.0) == []
    assert wall.next_due() is None
    assert wall.offer("ada", 4, now=0.3) is None  # 0.1 s after the flushed one
    wall.forget("ada")
    assert wall.due(10.0) == []


def test_sixty_students_drawing_at_30_fps_cost_the_wall_at_most_five_updates_a_second_each():
    wall, sent = Coalescer(interval=0.2), 0
    for frame in range(300):  # ten seconds at 30 frames a second
        now = frame / 30
        sent += sum(wall.offer(s, frame, now) is not None for s in range(60))
        sent += len(wall.due(now))
    sent += len(wall.due(100.0))
    assert 60 * 10 * 5 * 0.9 <= sent <= 60 * 10 * 5 + 60


def test_the_wall_gets_the_answer_without_timings():
    answer = {"digit": 4, "confidence": 0.9, "top3": [], "probabilities": [0.1] * 10, "blank": False,
              "input28": "data:image/png;base64,AA", "inference_ms": 0.3, "seq": 9, "evidence": {}}
    update = wall_payload("s1", answer)
    assert update["student"] == "s1" and update["digit"] == 4 and update["input28"].startswith("data:")
    assert "seq" not in update and "inference_ms" not in update and "evidence" not in update


# --- challenges -----------------------------------------------------------------------------

def test_a_challenge_counts_each_student_once():
    result = tally(4, ["a", "b", "c", "d"], {"a": 4, "b": 9, "c": None, "x": 4})
    assert result.read_as_asked == ["a"]
    assert result.misread == {"b": 9}
    assert result.no_answer == ["c", "d"]
    assert result.answered == 2
    assert sorted(result.confusion_pairs()) == [(4, 4), (4, 9)]  # "x" left the class: not counted
    matrix = add_pairs(empty_confusion(), result.confusion_pairs())
    matrix = add_pairs(matrix, [(4, 9)])
    assert matrix[4][4] == 1 and matrix[4][9] == 2 and sum(map(sum, matrix)) == 3


# --- the join URL ---------------------------------------------------------------------------

@pytest.mark.parametrize(("host", "bind", "lan", "expected"), [
    ("192.168.1.20:5000", "0.0.0.0", "192.168.1.20", "192.168.1.20:5000"),  # opened via the LAN address
    ("127.0.0.1:5000", "0.0.0.0", "192.168.1.20", "192.168.1.20:5000"),  # opened on the laptop itself
    ("localhost:8080", "0.0.0.0", "10.0.0.5", "10.0.0.5:8080"),
    ("localhost", "0.0.0.0", "10.0.0.5", "10.0.0.5"),
    ("[::1]:5000", "::", "10.0.0.5", "10.0.0.5:5000"),
    ("127.0.0.1:5000", "127.0.0.1", "192.168.1.20", "127.0.0.1:5000"),  # phones cannot reach it anyway
    ("127.0.0.1:5000", "0.0.0.0", None, "127.0.0.1:5000"),  # no network
    ("digits.school.example", "0.0.0.0", "10.0.0.5", "digits.school.example"),  # behind a proxy
])
def test_join_url_host(host, bind, lan, expected):
    assert join_host(host, bind, lan) == expected


# --- exports ----------------------------------------------------------------------------------

def test_exports_hold_the_matrix():
    matrix = add_pairs(empty_confusion(), [(4, 4), (4, 9), (7, 1)])
    rows = list(csv.reader(io.StringIO(export.confusion_csv(matrix))))
    assert rows[0][0].startswith("asked") and rows[0][1:11] == [str(d) for d in range(10)]
    assert rows[5][5] == "1" and rows[5][10] == "1" and rows[5][11] == "2" and rows[8][2] == "1"
    picture = Image.open(io.BytesIO(export.confusion_png(matrix, "ABCDE")))
    assert picture.format == "PNG" and picture.width > 500


# --- the stores -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as url:
        yield url


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def store(request):
    if request.param == "memory":
        yield MemoryRoomStore(idle_s=60, clock=FakeClock())
        return
    import redis

    client = redis.Redis.from_url(request.getfixturevalue("redis_url"), decode_responses=True)
    client.flushdb()
    yield RedisRoomStore(client, idle_s=60, clock=FakeClock())
    client.close()


def test_store_room_life(store):
    assert store.create("ABCDE", secret_hash("t"))
    assert not store.create("ABCDE", secret_hash("other"))  # a code is never handed out twice
    assert store.exists("ABCDE") and not store.exists("ZZZZZ")
    assert store.count() == 1
    room = store.get("ABCDE")
    assert is_teacher("t", room.teacher_hash) and room.members == {} and room.challenge is None
    assert "teacher_hash" not in room.public()
    for flag in ("locked", "blanked", "names_hidden"):
        assert store.set_flag("ABCDE", flag, True)
        assert getattr(store.get("ABCDE"), flag) is True
    store.close("ABCDE")
    assert store.get("ABCDE") is None and not store.exists("ABCDE") and store.count() == 0
    assert not store.set_flag("ABCDE", "locked", True)


def test_store_join_numbers_names_limits_and_returning(store):
    store.create("ABCDE", secret_hash("t"))
    ok, ada = store.join("ABCDE", "s1", "Ada", max_students=2)
    assert ok.ok and ada.name == "Ada" and ada.number == 1
    ok, anon = store.join("ABCDE", "s2", "", max_students=2, sid="sid-1")
    assert ok.ok and anon.name == "Student 2"
    refused, none = store.join("ABCDE", "s3", "", max_students=2)
    assert refused.reason == "full" and none is None
    assert not store.disconnect("ABCDE", "s2", "sid-0")  # an older socket of theirs going: still here
    assert store.disconnect("ABCDE", "s2", "sid-1")
    assert [m.student for m in store.get("ABCDE").connected()] == ["s1"]
    assert "sid" not in store.get("ABCDE").public()["students"][0]
    store.set_flag("ABCDE", "locked", True)
    assert store.join("ABCDE", "s3", "", max_students=2)[0].reason == "locked"
    back, anon = store.join("ABCDE", "s2", "", max_students=2, sid="sid-2")  # a reconnect, locked or not
    assert back.ok and anon.number == 2 and anon.connected
    assert not store.disconnect("ABCDE", "s2", "sid-1")  # the socket before, noticed late
    assert store.get("ABCDE").members["s2"].connected
    assert store.rename("ABCDE", "s2", "  Bo ").name == "Bo"
    assert store.set_hidden("ABCDE", "s2", True) and store.get("ABCDE").members["s2"].hidden
    assert store.remove("ABCDE", "s2")
    assert store.join("ABCDE", "s2", "", max_students=9)[0].reason == "removed"
    assert store.join("NOPE1", "s9", "", max_students=9)[0].reason == "closed"
    assert [m.student for m in store.get("ABCDE").connected()] == ["s1"]


def test_store_answers_challenge_and_confusion(store):
    store.create("ABCDE", secret_hash("t"))
    for student in ("a", "b", "c"):
        store.join("ABCDE", student, "", max_students=9)
    assert not store.record_answer("ABCDE", "stranger", {"digit": 4})  # not a member: nothing kept
    store.record_answer("ABCDE", "a", {"student": "a", "digit": 9, "blank": False})
    assert store.open_challenge("ABCDE", 4)  # answers before the challenge do not count
    assert store.get("ABCDE").challenge == 4
    store.record_answer("ABCDE", "a", {"student": "a", "digit": 9, "blank": False})
    store.record_answer("ABCDE", "a", {"student": "a", "digit": 4, "blank": False})  # latest counts
    store.record_answer("ABCDE", "b", {"student": "b", "digit": 9, "blank": False})
    store.record_answer("ABCDE", "c", {"student": "c", "digit": 1, "blank": False})
    store.record_answer("ABCDE", "c", {"student": "c", "digit": None, "blank": True})  # cleared
    assert store.latest("ABCDE")["a"]["digit"] == 4
    result = store.close_challenge("ABCDE")
    assert result.read_as_asked == ["a"] and result.misread == {"b": 9} and result.no_answer == ["c"]
    assert store.close_challenge("ABCDE") is None  # closing twice counts once
    room = store.get("ABCDE")
    assert room.challenge is None and room.result["misread"] == {"b": 9}
    assert room.confusion[4][4] == 1 and room.confusion[4][9] == 1 and sum(map(sum, room.confusion)) == 2
    store.open_challenge("ABCDE", 4)
    store.record_answer("ABCDE", "b", {"student": "b", "digit": 9, "blank": False})
    store.close_challenge("ABCDE")
    assert store.get("ABCDE").confusion[4][9] == 2
    assert store.reset_confusion("ABCDE")
    assert store.get("ABCDE").confusion == empty_confusion() and store.get("ABCDE").result is None


def test_memory_rooms_are_forgotten_when_idle():
    clock = FakeClock()
    store = MemoryRoomStore(idle_s=60, clock=clock)
    store.create("ABCDE", secret_hash("t"))
    store.create("FGHJK", secret_hash("t"))
    clock.now += 50
    store.join("FGHJK", "s", "", max_students=9)  # activity keeps a room alive
    clock.now += 50
    assert store.count() == 1
    assert not store.exists("ABCDE") and store.get("ABCDE") is None and store.exists("FGHJK")
    assert not store.record_answer("ABCDE", "s", {"digit": 1})


def test_redis_rooms_expire_when_idle(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    clock = FakeClock()
    store = RedisRoomStore(client, idle_s=60, clock=clock)
    store.create("ABCDE", secret_hash("t"))
    store.join("ABCDE", "s", "", max_students=9)
    client.expire("digits:room:ABCDE:meta", 5)  # as if 55 idle seconds had gone by...
    store.record_answer("ABCDE", "s", {"digit": 1, "blank": False})  # ...then a student drew
    keys = client.keys("digits:room:ABCDE:*")
    assert keys and all(55 < client.ttl(key) <= 60 for key in keys), "drawing is activity: every part lives on"
    clock.now += 30
    assert store.count() == 1
    clock.now += 31
    assert store.count() == 0
    client.close()


# --- the wall feed (this process's students on the way to the wall), with fakes -------------------

class FakeSocketIO:
    """Records emits; background tasks are kept, not run (the test runs them); sleeping moves the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.emitted: list[tuple[str, dict, str]] = []
        self.tasks: list = []

    def emit(self, event, data, to=None, **_options):
        self.emitted.append((event, data, to))

    def start_background_task(self, task, *args):
        self.tasks.append(task)

    def sleep(self, seconds):
        self.clock.now += seconds


def answer(digit: int) -> dict:
    return {"digit": digit, "confidence": 0.9, "top3": [], "probabilities": [0.1] * 10, "blank": False,
            "input28": f"data:image/png;base64,{digit}"}


def test_the_wall_feed_forwards_members_answers_throttled_and_stops_for_removed_students():
    from realtime.serving.rooms.feed import WallFeed

    clock = FakeClock()
    store = MemoryRoomStore(idle_s=60, clock=clock)
    store.create("ABCDE", secret_hash("t"))
    store.join("ABCDE", "ada", "Ada", max_students=9)
    socketio = FakeSocketIO(clock)
    feed = WallFeed(store, socketio, interval=0.2, clock=clock)
    feed.answered("stranger-sid", answer(1))  # not in a room: nothing
    assert socketio.tasks == []
    feed.joined("sid-ada", "ABCDE", "ada")
    feed.answered("sid-ada", answer(7))
    assert socketio.emitted == [] and len(socketio.tasks) == 1  # not in the loop that delivers answers
    socketio.tasks[0]()
    assert socketio.emitted == [("wall_updates", [{"student": "ada", **answer(7)}], "wall:ABCDE")]
    sent_at = clock.now
    clock.now += 0.05
    feed.answered("sid-ada", answer(1))
    clock.now += 0.05
    feed.answered("sid-ada", answer(4))  # held, replacing the 1
    assert len(socketio.tasks) == 2, "one task while updates are waiting, not one per answer"
    socketio.tasks[1]()
    assert [update["digit"] for _, data, _ in socketio.emitted for update in data] == [7, 4]
    assert 0.2 <= clock.now - sent_at <= 0.2 + 0.02  # on time
    assert store.latest("ABCDE")["ada"]["digit"] == 4
    store.remove("ABCDE", "ada")  # by the teacher, perhaps on another process
    clock.now += 1
    feed.answered("sid-ada", answer(9))
    socketio.tasks[-1]()
    assert len(socketio.emitted) == 2 and "sid-ada" not in feed.members
