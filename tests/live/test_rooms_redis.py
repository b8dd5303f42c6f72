"""A class served by two server processes sharing a real Redis: the teacher on one, the students on the other."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
import requests

from tests.support.answers import CHECK_DIGITS
from tests.support.redis_server import redis_server
from tests.support.rooms import Student, Wall, start_class
from tests.support.servers import ServerProcess, run_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, ServerProcess, ServerProcess]]:
    with redis_server() as url, run_server("eventlet", "--message-queue", url) as one, \
            run_server("threading", env={"DIGITS_MESSAGE_QUEUE": url}) as two:
        yield url, one, two


def test_teacher_on_one_process_sees_students_on_the_other(cluster) -> None:
    url, one, two = cluster
    code, cookie = start_class(one.url)
    # The room is in Redis: the other process knows it, and its teacher, too.
    assert requests.get(f"{two.url}/class/{code}", headers={"Cookie": cookie}, timeout=10).status_code == 200
    assert requests.get(f"{two.url}/class/{code}", timeout=10).status_code == 403
    assert requests.get(f"{two.url}/join/{code}", timeout=10).status_code == 200

    queue = redis.Redis.from_url(url).pubsub()
    queue.subscribe("flask-socketio")
    wall = Wall(one.url, code, cookie)
    students = [Student(two.url).connect() for _ in range(3)]
    try:
        opened = wall.client.call("wall_join", {"code": code}, timeout=10)
        assert opened["ok"] and opened["state"]["students"] == []
        joined = [s.join(code.lower(), f"visit-token-number-{n:04d}", name) for n, (s, name)
                  in enumerate(zip(students, ["Ada", "", "Grace"], strict=True))]
        assert all(j["ok"] for j in joined), joined
        assert [j["name"] for j in joined] == ["Ada", "Student 2", "Grace"]
        ids = [j["student"] for j in joined]
        assert wall.wait(lambda: wall.students() == ids), wall.states[-1:]

        # Each student's frames are answered by their own process; the wall (elsewhere) follows.
        for n, (student, digit) in enumerate(zip(students, (7, 1, 4), strict=True), start=1):
            answer = student.draw(n, digit)
            if CHECK_DIGITS:
                assert answer["digit"] == digit
            assert wall.wait(lambda sid=ids[n - 1], d=answer["digit"]: wall.latest_digit(sid) == d)
        update = wall.updates[-1]
        assert update["input28"].startswith("data:image/png;base64,") and len(update["probabilities"]) == 10
        assert "seq" not in update and "inference_ms" not in update

        # A challenge, run from the teacher's process, counts answers made on the other one.
        assert wall.control("challenge", digit=4)["ok"]
        before = len(wall.updates)
        for seq, (student, digit) in enumerate(zip(students, (4, 7, 4), strict=True), start=10):
            student.draw(seq, digit)
        # A wall update is sent once its answer is in the store: when the wall has all three, they count.
        assert wall.wait(lambda: len({u["student"] for u in wall.updates[before:]}) == 3)
        assert wall.control("close_challenge")["ok"]
        assert wall.wait(lambda: wall.states[-1]["result"] is not None)
        result = wall.states[-1]["result"]
        if CHECK_DIGITS:
            assert sorted(result["read_as_asked"]) == sorted([ids[0], ids[2]]) and result["misread"] == {ids[1]: 7}
            assert wall.states[-1]["confusion"][4][4] == 2 and wall.states[-1]["confusion"][4][7] == 1

        # Only the teacher controls; a student's socket gets "forbidden", whatever it claims.
        refused = students[0].client.call("room_control", {"code": code, "action": "close"}, timeout=10)
        assert refused["ok"] is False and refused["error"]["code"] == "forbidden"
        assert students[0].client.call("wall_join", {"code": code}, timeout=10)["ok"] is False

        # Removing a student reaches them on their process; their drawings stop reaching the wall.
        assert wall.control("remove", student=ids[2])["ok"]
        assert students[2].wait(lambda: any(e.get("reason") == "removed" for e in students[2].left), 15)
        assert wall.wait(lambda: wall.students() == ids[:2])
        seen = len(wall.updates)
        students[2].draw(30, 7)
        students[0].draw(31, 1)
        assert wall.wait(lambda: any(u["student"] == ids[0] for u in wall.updates[seen:]))
        assert all(u["student"] != ids[2] for u in wall.updates[seen:])
        assert students[2].join(code, "visit-token-number-0002")["reason"] == "removed"

        # Locking keeps new students out (on any process); ending the class tells everyone.
        assert wall.control("lock", value=True)["ok"]
        late = Student(one.url).connect()
        try:
            assert late.join(code, "visit-token-number-late")["reason"] == "locked"
        finally:
            late.close()
        assert wall.control("close")["ok"]
        assert wall.wait(lambda: wall.closed)
        assert students[0].wait(lambda: any(e.get("reason") == "closed" for e in students[0].left), 15)
        assert requests.get(f"{two.url}/join/{code}", timeout=10).status_code == 404
        assert requests.get(f"{one.url}/class/{code}", headers={"Cookie": cookie}, timeout=10).status_code == 404

        # Nothing of a student's own went through the queue: only what the wall needs.
        events = []
        while (message := queue.get_message(timeout=0.2)) is not None:
            if message["type"] == "message":
                events.append(_event_name(message["data"]))
        assert "wall_updates" in events and "wall_state" in events
        assert "prediction" not in events and "prediction_error" not in events
        assert not any("leak" in e for s in students for e in s.left), "a student received a wall update"
    finally:
        queue.close()
        wall.client.disconnect()
        for student in students:
            student.close()


def _event_name(data: bytes) -> str:
    """The event of a message Flask-SocketIO's Redis queue published (pickled by default, JSON if so set)."""
    import pickle

    try:
        message = pickle.loads(data)  # the message queue's own format, from our own servers
    except Exception:
        message = json.loads(data)
    return message.get("event") or message.get("method", "")
