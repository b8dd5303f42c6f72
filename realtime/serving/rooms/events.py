"""Socket.IO events of class rooms: students join, the teacher's wall watches and controls.

Thin handlers: check, ask the store, tell the wall. Every control event is checked against the
teacher's cookie (sent with the Socket.IO handshake) on every call, not only once: a socket that
was not opened by the room's teacher can never act on it. Students are never put in a wall room,
so no student receives another student's drawing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import request
from flask_socketio import SocketIO, join_room, leave_room

from .feed import class_room, student_room, wall_room
from .policy import VISIT_PATTERN, is_teacher, normalize_code, student_id, valid_digit
from .store import Room

if TYPE_CHECKING:
    from . import Classrooms

TEACHER_COOKIE = "digits_teacher_{code}"

FORBIDDEN = {"ok": False, "error": {"code": "forbidden", "message": "Only the room's teacher can do this."}}


def teacher_cookie(code: str) -> str:
    return TEACHER_COOKIE.format(code=code)


def client_address() -> str:
    return request.remote_addr or "unknown"


def teacher_room(rooms: Classrooms, raw_code: Any) -> Room | None:
    """The room, when this connection's handshake carried its teacher's secret."""
    code = normalize_code(raw_code)
    if code is None:
        return None
    room = rooms.store.get(code)
    if room is None or not is_teacher(request.cookies.get(teacher_cookie(code)), room.teacher_hash):
        return None
    return room


def register(socketio: SocketIO, rooms: Classrooms) -> Callable[[str], None]:
    """The handlers; returns what a disconnect must call (the app's one disconnect handler calls it)."""
    store, feed = rooms.store, rooms.feed

    def publish_state(code: str) -> None:
        room = store.get(code)
        if room is not None:
            socketio.emit("wall_state", room.public(), to=wall_room(code))

    def student_left(sid: str) -> None:
        membership = feed.left(sid)
        if membership is not None:
            code, student = membership
            leave_room(class_room(code), sid=sid)
            leave_room(student_room(code, student), sid=sid)
            if store.disconnect(code, student, sid):
                publish_state(code)

    @socketio.on("room_join")
    def room_join(message: Any = None):
        """A student's page joins its room: {"code", "visit" (the page's token), "name" (optional)}."""
        if not isinstance(message, dict):
            return {"ok": False, "reason": "invalid", "message": "Send {code, visit, name}."}
        code, visit = normalize_code(message.get("code")), message.get("visit")
        if code is None or not isinstance(visit, str) or not VISIT_PATTERN.match(visit):
            return {"ok": False, "reason": "invalid", "message": "Not a class code."}
        if rooms.look_up(code, client_address()) == "refused":
            return {"ok": False, "reason": "busy", "message": "Too many tries: wait a minute and try again."}
        student = student_id(code, visit)
        decision, member = store.join(code, student, message.get("name"), rooms.max_students, request.sid)
        if not decision.ok or member is None:
            return {"ok": False, "reason": decision.reason, "message": decision.message}
        if feed.members.get(request.sid) != (code, student):
            student_left(request.sid)  # a page is in one room at a time
        feed.joined(request.sid, code, student)
        join_room(class_room(code))
        join_room(student_room(code, student))
        publish_state(code)
        return {"ok": True, "code": code, "student": student, "name": member.name, "number": member.number}

    @socketio.on("room_rename")
    def room_rename(message: Any = None):
        membership = feed.members.get(request.sid)
        if membership is None or not isinstance(message, dict):
            return {"ok": False}
        member = store.rename(*membership, message.get("name"))
        if member is None:
            return {"ok": False}
        publish_state(membership[0])
        return {"ok": True, "name": member.name}

    @socketio.on("room_leave")
    def room_leave(*_args: Any):
        student_left(request.sid)
        return {"ok": True}

    @socketio.on("wall_join")
    def wall_join(message: Any = None):
        """The teacher's wall: {"code"}; answers the room and every student's latest answer."""
        room = teacher_room(rooms, message.get("code") if isinstance(message, dict) else None)
        if room is None:
            return FORBIDDEN
        join_room(wall_room(room.code))
        return {"ok": True, "state": room.public(), "latest": store.latest(room.code)}

    @socketio.on("room_control")
    def room_control(message: Any = None):
        """{"code", "action", ...}: hide, show, remove (with "student"); lock, blank, names (with "value");
        challenge (with "digit"), close_challenge, reset, close."""
        if not isinstance(message, dict):
            return FORBIDDEN
        room = teacher_room(rooms, message.get("code"))
        if room is None:
            return FORBIDDEN
        code, action = room.code, message.get("action")
        student = message.get("student")
        if action in ("hide", "show") and isinstance(student, str):
            store.set_hidden(code, student, action == "hide")
        elif action == "remove" and isinstance(student, str):
            if store.remove(code, student):
                socketio.emit("room_left", {"reason": "removed", "message": "The teacher removed you from this class."},
                              to=student_room(code, student))
        elif action in ("lock", "blank", "names"):
            flag = {"lock": "locked", "blank": "blanked", "names": "names_hidden"}[action]
            store.set_flag(code, flag, bool(message.get("value")))
        elif action == "challenge" and valid_digit(message.get("digit")) is not None:
            store.open_challenge(code, message["digit"])
        elif action == "close_challenge":
            store.close_challenge(code)
        elif action == "reset":
            store.reset_confusion(code)
        elif action == "close":
            store.close(code)
            socketio.emit("room_left", {"reason": "closed", "message": "The class has ended."}, to=class_room(code))
            socketio.emit("room_closed", {"code": code}, to=wall_room(code))
            return {"ok": True}
        else:
            return {"ok": False, "error": {"code": "invalid_action", "message": "Unknown or incomplete action."}}
        publish_state(code)
        return {"ok": True}

    return student_left
