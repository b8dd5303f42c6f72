"""Class rooms: a teacher's wall on the projector, students drawing on their phones.

- `policy`: pure rules (codes, names, join limits, wall throttling, challenge tallies)
- `store`: the `RoomStore` interface, in memory (one process) or in Redis (several)
- `feed`: this process's students and their answers on the way to the wall (throttled)
- `pages`: the HTTP routes (/class, /class/<CODE>, /join/<CODE>, exports); `export`: CSV and PNG
- `events`: the Socket.IO events of students joining and of the teacher's wall and controls

Only what the wall needs crosses processes (through Flask-SocketIO's message queue); a student's
own answers are emitted by the process they are connected to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask
from flask_socketio import SocketIO

from .feed import WallFeed
from .policy import RateLimit
from .store import RoomStore, make_store

UNKNOWN_CODE_COST = 5.0  # tokens a try with a wrong code takes from its address's RateLimit


@dataclass
class Classrooms:
    """What the room routes and events share (in app.extensions["rooms"])."""

    store: RoomStore
    feed: WallFeed
    joins: RateLimit
    max_students: int
    max_rooms: int
    on_disconnect: Callable[[str], None] | None = None

    def look_up(self, code: str | None, address: str) -> str:
        """"room" when `code` is a running room; else "missing", or "refused" once `address` has used
        up its tries. Only a wrong code is a guess and costs (UNKNOWN_CODE_COST); a right one never."""
        if code is not None and self.store.exists(code):
            return "room"
        return "missing" if self.joins.allow(address, time.monotonic(), UNKNOWN_CODE_COST) else "refused"


def setup(app: Flask, socketio: SocketIO) -> Classrooms:
    """Build the store and the wall feed, register the blueprint and the events."""
    from . import events, pages

    config = app.config
    store = make_store(config["MESSAGE_QUEUE"] or None, config["ROOM_IDLE_S"])
    feed = WallFeed(store, socketio, 1.0 / config["ROOM_WALL_RATE"], clock=time.monotonic)
    rooms = Classrooms(store, feed, RateLimit(config["ROOM_JOIN_RATE"], config["ROOM_JOIN_BURST"]),
                       config["ROOM_MAX_STUDENTS"], config["ROOM_MAX_ROOMS"])
    app.extensions["rooms"] = rooms
    app.register_blueprint(pages.bp)
    rooms.on_disconnect = events.register(socketio, rooms)
    return rooms
