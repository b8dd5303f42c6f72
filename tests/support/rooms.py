"""A class room from outside: the teacher's wall and students as python-socketio clients."""

from __future__ import annotations

import threading

import requests

from .clients import InOrderClient, Recorder
from .pictures import data_url, good_png


class Wall:
    """The teacher's wall as a python-socketio client, with the teacher's cookie, recording what it is sent."""

    def __init__(self, url: str, code: str, cookie: str) -> None:
        self.client = InOrderClient(reconnection=False, request_timeout=10)
        self.changed = threading.Condition()
        self.updates: list[dict] = []
        self.states: list[dict] = []
        self.closed = False
        self.client.on("wall_updates", self._record_all("updates"))
        self.client.on("wall_state", self._record("states"))
        self.client.on("room_closed", lambda _data: self._set_closed())
        self.client.connect(url, transports=["websocket"], headers={"Cookie": cookie}, wait_timeout=10)
        self.code = code

    def _record(self, name: str):
        def record(data: dict) -> None:
            with self.changed:
                getattr(self, name).append(data)
                self.changed.notify_all()
        return record

    def _record_all(self, name: str):
        def record(data: list) -> None:
            with self.changed:
                getattr(self, name).extend(data)
                self.changed.notify_all()
        return record

    def _set_closed(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    def wait(self, predicate, timeout: float = 15.0) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    def control(self, action: str, **extra) -> dict:
        return self.client.call("room_control", {"code": self.code, "action": action, **extra}, timeout=10)

    def students(self) -> list[str]:
        return [s["student"] for s in self.states[-1]["students"]] if self.states else []

    def latest_digit(self, student: str) -> int | None:
        for update in reversed(self.updates):
            if update["student"] == student:
                return update.get("digit")
        return None


class Student(Recorder):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.left: list[dict] = []
        self.client.on("room_left", self._on_left)
        self.client.on("wall_updates", lambda data: self.left.append({"leak": data}))  # must never come

    def _on_left(self, data: dict) -> None:
        with self.changed:
            self.left.append(data)
            self.changed.notify_all()

    def join(self, code: str, visit: str, name: str = "") -> dict:
        return self.client.call("room_join", {"code": code, "visit": visit, "name": name}, timeout=10)

    def draw(self, seq: int, digit: int) -> dict:
        self.send(seq, data_url(good_png(digit)))
        assert self.wait_answer(seq, 30), "no answer"
        return self.predictions[seq]


def start_class(url: str) -> tuple[str, str]:
    """GET /class as a browser would: the room's code and the teacher's cookie."""
    answer = requests.get(url + "/class", allow_redirects=False, timeout=10)
    assert answer.status_code == 303
    code = answer.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return code, cookie.split(";", 1)[0]
