"""Class-room routes through the Flask test client: who may see what, limits, the join URL, exports."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from realtime.serving.rooms import pages
from tests.support.apps import make_app


@pytest.fixture(scope="module")
def rooms_app():
    # 10.1.2.3 stands for this machine's LAN address (the edge answers only to this machine's names).
    application = make_app(ROOM_MAX_ROOMS=3, ROOM_JOIN_BURST=1000, HOST="0.0.0.0",
                           PREPROCESS_PROCESSES=0, ALLOWED_HOSTS=["10.1.2.3"])
    yield application
    application.extensions["digits"].scheduler.stop()


def start(client) -> str:
    answer = client.get("/class")
    assert answer.status_code == 303
    return answer.headers["Location"].rsplit("/", 1)[1]


def test_starting_a_class_marks_this_browser_as_its_teacher(rooms_app):
    teacher, other = rooms_app.test_client(), rooms_app.test_client()
    answer = teacher.get("/class")
    code = answer.headers["Location"].rsplit("/", 1)[1]
    cookie = answer.headers["Set-Cookie"]
    assert f"digits_teacher_{code}=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    wall = teacher.get(f"/class/{code.lower()}")  # codes are case-insensitive
    assert wall.status_code == 200 and wall.headers["Cache-Control"] == "no-store"
    page = wall.get_data(as_text=True)
    for hook in ("room-code", "join-url", "join-qr", "student-count", 'data-testid="wall"', "spotlight"):
        assert hook in page
    forbidden = other.get(f"/class/{code}")
    assert forbidden.status_code == 403 and "teacher" in forbidden.get_data(as_text=True)
    other.set_cookie(f"digits_teacher_{code}", "a-guess")
    assert other.get(f"/class/{code}").status_code == 403
    assert other.get(f"/class/{code}/confusion.csv").status_code == 403
    rooms_app.extensions["rooms"].store.close(code)


def test_the_join_url_is_one_phones_can_open(rooms_app, monkeypatch):
    monkeypatch.setattr(pages, "lan_address", lambda: "192.168.4.20")
    client = rooms_app.test_client()
    code = start(client)
    page = client.get(f"/class/{code}", headers={"Host": "localhost:5000"}).get_data(as_text=True)
    assert f"http://192.168.4.20:5000/join/{code}" in page
    assert re.search(r'data-testid="join-qr" src="data:image/svg\+xml', page)
    rooms_app.extensions["rooms"].store.close(code)
    lan = rooms_app.test_client()  # a teacher who opened the page at the LAN address
    started = lan.get("/class", headers={"Host": "10.1.2.3:5000"})
    code = started.headers["Location"].rsplit("/", 1)[1]
    page = lan.get(f"/class/{code}", headers={"Host": "10.1.2.3:5000"}).get_data(as_text=True)
    assert f"http://10.1.2.3:5000/join/{code}" in page
    rooms_app.extensions["rooms"].store.close(code)


def test_students_page_and_friendly_404s(rooms_app):
    client = rooms_app.test_client()
    code = start(client)
    student = rooms_app.test_client()
    page = student.get(f"/join/{code.lower()}?name=Ada")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f'data-room="{code}"' in text and 'data-name="Ada"' in text and 'data-testid="pad"' in text
    visits = {re.search(r'data-visit="([^"]+)"', student.get(f"/join/{code}").get_data(as_text=True))[1]
              for _ in range(3)}
    assert len(visits) == 3, "each visit is its own student"
    assert student.get(f"/join?code={code.lower()}&name=Bo").headers["Location"] == f"/join/{code}?name=Bo"
    for path in ("/join/ZZZZZ", "/class/ZZZZZ", "/join/no!such"):
        missing = student.get(path)
        assert missing.status_code == 404 and "No such class" in missing.get_data(as_text=True)
    rooms_app.extensions["rooms"].store.close(code)
    assert student.get(f"/join/{code}").status_code == 404
    assert client.get(f"/class/{code}").status_code == 404


def test_exports_are_the_teachers(rooms_app):
    client = rooms_app.test_client()
    code = start(client)
    store = rooms_app.extensions["rooms"].store
    store.join(code, "s1", "Ada", max_students=9)
    store.open_challenge(code, 3)
    store.record_answer(code, "s1", {"student": "s1", "digit": 5, "blank": False})
    store.close_challenge(code)
    csv_answer = client.get(f"/class/{code}/confusion.csv")
    assert csv_answer.status_code == 200 and csv_answer.mimetype == "text/csv"
    assert "attachment" in csv_answer.headers["Content-Disposition"]
    assert csv_answer.get_data(as_text=True).splitlines()[4].split(",")[6] == "1"  # asked 3, read 5
    png = client.get(f"/class/{code}/confusion.png")
    assert png.status_code == 200 and Image.open(io.BytesIO(png.data)).format == "PNG"
    assert client.get(f"/class/{code}/confusion.exe").status_code == 404
    store.close(code)


def test_rooms_per_server_and_join_tries_are_limited():
    application = make_app(ROOM_MAX_ROOMS=2, ROOM_JOIN_BURST=30, ROOM_JOIN_RATE=0.001, PREPROCESS_PROCESSES=0)
    try:
        client = application.test_client()
        start(client)
        start(client)
        full = client.get("/class")
        assert full.status_code == 503 and "ROOM_MAX_ROOMS" in full.get_data(as_text=True)
        guesser = application.test_client()
        statuses = [guesser.get(f"/join/ZZZZ{n}", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code
                    for n in range(8)]
        assert statuses[:2] == [404, 404] and statuses[-1] == 429, statuses  # 5 tries' worth per unknown code
        elsewhere = application.test_client().get("/join/ZZZZZ", environ_base={"REMOTE_ADDR": "10.0.0.10"})
        assert elsewhere.status_code == 404  # the limit is per address
    finally:
        application.extensions["digits"].scheduler.stop()


def test_a_right_code_is_never_refused_and_one_address_may_start_many_classes():
    """Only wrong codes are guesses: a class behind one address (a proxy, a NAT) joins at once, and a
    teacher (or a test suite) on one machine starts class after class."""
    application = make_app(ROOM_JOIN_BURST=60, ROOM_JOIN_RATE=0.001, PREPROCESS_PROCESSES=0)
    try:
        teacher = application.test_client()
        codes = [start(teacher) for _ in range(25)]  # 2 tokens each: 50 of 60
        guesser = {"REMOTE_ADDR": "127.0.0.1"}
        statuses = [teacher.get(f"/join/QQQQ{n}", environ_base=guesser).status_code for n in range(4)]
        assert statuses == [404, 404, 429, 429], statuses  # the 10 tokens left: two wrong codes
        joined = [teacher.get(f"/join/{code.lower()}", environ_base=guesser).status_code for code in codes * 3]
        assert joined == [200] * 75
    finally:
        application.extensions["digits"].scheduler.stop()
