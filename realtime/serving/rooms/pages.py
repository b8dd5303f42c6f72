"""HTTP routes of class rooms: start one, the teacher's wall, the student's page, the exports.

The browser that starts a room gets its teacher secret as an HttpOnly, SameSite=Strict cookie;
the store keeps only its hash. Unknown or closed rooms get a friendly 404 page, other browsers
a 403 on the wall.
"""

from __future__ import annotations

import functools
import secrets
import socket
import time

import segno
from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from . import export
from .events import teacher_cookie
from .policy import is_teacher, join_host, new_code, normalize_code, secret_hash
from .store import Room

bp = Blueprint("rooms", __name__)
START_COST = 2.0


def _rooms():
    return current_app.extensions["rooms"]


def _problem(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("room_problem.html", title=title, message=message, status=status), status


def _missing(code: str | None) -> tuple[str, int]:
    shown = f"“{code}”" if code else "that code"
    return _problem(404, "No such class",
                    f"There is no class {shown} running now. Check the code on the projector, or the class has ended.")


def _teacher_of(code: str | None) -> Room | bool | None:
    """The room for its teacher; None when there is no such room; False for anyone else."""
    if code is None:
        return None
    room = _rooms().store.get(code)
    if room is None:
        return None
    return room if is_teacher(request.cookies.get(teacher_cookie(code)), room.teacher_hash) else False


@bp.get("/class")
def start_class():
    rooms = _rooms()
    # Starting rooms costs the same budget as guessing codes: one browser cannot use up ROOM_MAX_ROOMS.
    if not rooms.joins.allow(request.remote_addr or "unknown", time.monotonic(), START_COST):
        return _problem(429, "Too many classes started", "Wait a minute and try again.")
    if rooms.store.count() >= rooms.max_rooms:
        return _problem(503, "Too many classes", "This server runs as many classes as it is set up for. "
                        "Close a class that has ended, or ask whoever runs the server to raise ROOM_MAX_ROOMS.")
    secret = secrets.token_urlsafe(32)
    code = new_code(rooms.store.exists)
    while not rooms.store.create(code, secret_hash(secret)):  # another process took it just now
        code = new_code(rooms.store.exists)
    response = redirect(url_for("rooms.wall", code=code), 303)
    response.set_cookie(teacher_cookie(code), secret, httponly=True, samesite="Strict", secure=request.is_secure,
                        max_age=int(current_app.config["ROOM_IDLE_S"]) + 86400)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/class/<code>")
def wall(code: str):
    code = normalize_code(code)
    room = _teacher_of(code)
    if room is None:
        return _missing(code)
    if room is False:
        return _problem(403, "Only the teacher sees the wall",
                        "This class's wall is open only in the browser that started it. "
                        "To draw in the class, open the join link instead.")
    url = f"{request.scheme}://{join_host(request.host, current_app.config['HOST'], lan_address())}/join/{room.code}"
    # Error correction M and a 4-module quiet zone: scannable from the back of a room when shown large.
    qr_svg = segno.make(url, error="m").svg_data_uri(scale=1, border=4, dark="#000", light="#fff")
    body = render_template("wall.html", room=room, join_url=url, qr_svg=qr_svg,
                           max_students=_rooms().max_students, loopback_only=_loopback_bind())
    return Response(body, headers={"Cache-Control": "no-store"})


@bp.get("/join")
def join_form():
    """The main page's "join a class" form: ?code=...&name=..."""
    code = normalize_code(request.args.get("code", ""))
    if code is None:
        return _missing(None)
    name = request.args.get("name", "").strip()
    return redirect(url_for("rooms.join", code=code, **({"name": name} if name else {})), 303)


@bp.get("/join/<code>")
def join(code: str):
    code = normalize_code(code)
    rooms = _rooms()
    found = rooms.look_up(code, request.remote_addr or "unknown")
    if found == "refused":
        return _problem(429, "Too many tries",
                        "Too many class codes were tried from here. Wait a minute and try again.")
    if found == "missing":
        return _missing(code)
    room = {"code": code, "visit": secrets.token_urlsafe(18), "name": request.args.get("name", "")[:40]}
    body = render_template("index.html", model=current_app.extensions["digits"].model_info, room=room)
    return Response(body, headers={"Cache-Control": "no-store"})


@bp.get("/class/<code>/confusion.<fmt>")
def confusion_export(code: str, fmt: str):
    """The class confusion matrix, as a download: the only copy of a lesson that is ever made."""
    code = normalize_code(code)
    room = _teacher_of(code)
    if room is None:
        return _missing(code)
    if room is False or fmt not in ("csv", "png"):
        return _problem(403 if room is False else 404, "Not available", "Only the class's teacher can export it.")
    stamp = time.strftime("%Y%m%d-%H%M")
    if fmt == "csv":
        data, mimetype = export.confusion_csv(room.confusion).encode(), "text/csv"
    else:
        data, mimetype = export.confusion_png(room.confusion, room.code), "image/png"
    return Response(data, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="class-{room.code}-{stamp}.{fmt}"',
        "Cache-Control": "no-store"})


def _loopback_bind() -> bool:
    return current_app.config["HOST"] in ("127.0.0.1", "localhost", "::1")


@functools.cache
def lan_address() -> str | None:
    """This machine's IPv4 address on the network its default route uses (no packet is sent), if any."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed, only selects the interface
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address

