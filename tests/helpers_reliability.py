"""Helpers shared by the reliability and security tests (bad input, fuzzing, load, exposure).

Pictures that are hard to get right (bombs, 16-bit, CMYK, EXIF, palette with
transparency, animated GIF), a Socket.IO client that records every answer with
its arrival time, and ways to look at a running server from outside (RSS,
/api/stats, its output).
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import engineio
import numpy as np
import psutil
import requests
import socketio
from conftest import ServerProcess, draw_digit, png_bytes
from PIL import Image

# The shipped model is what CI uses. When DIGITS_MODEL_PATH points elsewhere (an
# untrained smoke model while the real one trains) the tests still check every
# status, code and shape, but not which digit was read.
MODEL_OVERRIDE = os.environ.get("DIGITS_MODEL_PATH", "")
CHECK_DIGITS = not MODEL_OVERRIDE


def make_app(**config: Any):
    """A threading-mode app for the Flask test client, honouring DIGITS_* settings."""
    from realtime import create_app
    from realtime.serving.config import from_environment

    return create_app({**from_environment(), "ASYNC_MODE": "threading", "TESTING": True, **config})


def expect_digit(payload: dict, digit: int) -> None:
    """A well-formed, non-blank prediction; the right digit when the shipped model serves."""
    assert payload["blank"] is False, payload
    assert isinstance(payload["digit"], int) and 0 <= payload["digit"] <= 9
    assert len(payload["probabilities"]) == 10
    assert abs(sum(payload["probabilities"]) - 1.0) < 1e-3
    assert payload["top3"][0]["digit"] == payload["digit"]
    if CHECK_DIGITS:
        assert payload["digit"] == digit, (digit, payload["top3"])


def input28(payload: dict) -> np.ndarray:
    """The 28x28 model input a prediction reports, as floats in [0, 1]."""
    header, encoded = payload["input28"].split(",", 1)
    assert header == "data:image/png;base64"
    image = Image.open(io.BytesIO(base64.b64decode(encoded)))
    assert image.size == (28, 28)
    return np.asarray(image.convert("L"), np.float32) / 255.0


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


# --- hostile and unusual pictures ---------------------------------------------------

def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_of_zeros(width: int, height: int, bit_depth: int = 1) -> bytes:
    """A complete, valid greyscale PNG of zeros, built by hand (no pixel buffer in memory)."""
    row = b"\0" * (1 + (width * bit_depth + 7) // 8)  # filter byte + packed samples
    compressor = zlib.compressobj(9)
    rows_per_piece = max(1, (1 << 22) // len(row))
    piece = row * rows_per_piece
    parts, left = [], height
    while left > 0:
        take = min(left, rows_per_piece)
        parts.append(compressor.compress(piece if take == rows_per_piece else row * take))
        left -= take
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts))
            + _chunk(b"IEND", b""))


_BOMB: bytes | None = None


def png_bomb() -> bytes:
    """30000x30000 pixels (900 megapixels, ~110 MB of 1-bit samples) in about 110 KB."""
    global _BOMB
    if _BOMB is None:
        _BOMB = png_of_zeros(30_000, 30_000, bit_depth=1)
    return _BOMB


def png_header_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A few hundred bytes: a PNG header promising a huge image, with a token IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 4096, 9)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat)
            + _chunk(b"IEND", b""))


def gif_header_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A GIF whose logical screen is huge and whose only frame is 1x1."""
    screen = b"GIF89a" + struct.pack("<HH", width, height) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00" + b"\x02\x02\x44\x01\x00"
    return screen + frame + b"\x3b"


def bmp_header_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A 54-byte BMP header promising width x height 24-bit pixels, with almost no pixels."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    body = info + b"\0" * 64
    return b"BM" + struct.pack("<IHHI", 14 + len(body), 0, 0, 54) + body


def jpeg_header_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A real small JPEG with its frame header (SOF0) rewritten to claim width x height."""
    data = bytearray(png_bytes(Image.new("L", (16, 16), 255), "JPEG"))
    at = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, height, width)
    return bytes(data)


def animated_gif(first: int = 7, second: int = 1) -> bytes:
    frames = [draw_digit(d, mode="RGB").convert("P") for d in (first, second)]
    return png_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)


def png_16bit(digit: int = 7) -> bytes:
    gray = np.asarray(draw_digit(digit, mode="L"), np.uint16) * 257  # 0..65535
    image = Image.fromarray(gray.astype(np.uint16))
    data = png_bytes(image)
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16") or Image.open(io.BytesIO(data)).mode == "I"
    return data


def cmyk_jpeg(digit: int = 7) -> bytes:
    data = png_bytes(draw_digit(digit, mode="RGB").convert("CMYK"), "JPEG", quality=92)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    return data


def palette_png_with_transparency(digit: int = 7) -> bytes:
    """Black ink on fully transparent background, stored as a palette PNG with tRNS."""
    rgba = draw_digit(digit, ink=(0, 0, 0, 255), background=(255, 255, 255, 0))
    image = rgba.convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    alpha = np.asarray(rgba)[..., 3]
    indices = np.asarray(image)
    transparent = {int(i) for i in np.unique(indices[alpha == 0])}
    assert len(transparent) == 1
    data = png_bytes(image, transparency=transparent.pop())
    reopened = Image.open(io.BytesIO(data))
    assert reopened.mode == "P" and "transparency" in reopened.info
    return data


def canvas_png(digit: int = 7, ink=(0, 0, 0, 255)) -> bytes:
    """What canvas.toDataURL() gives: ink strokes on a fully transparent background."""
    return png_bytes(draw_digit(digit, ink=ink, background=(0, 0, 0, 0)))


def exif_rotated_jpeg(digit: int = 7, orientation: int = 6) -> tuple[bytes, bytes]:
    """(JPEG stored sideways with an EXIF Orientation tag that makes it upright, the same without the tag)."""
    upright = draw_digit(digit, mode="RGB")
    # Orientation 6: the viewer turns the stored pixels 90 degrees clockwise, so they are stored
    # turned the other way (and 8 the reverse, 3 upside down).
    turn = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
            8: Image.Transpose.ROTATE_270}[orientation]
    stored = upright.transpose(turn)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return (png_bytes(stored, "JPEG", quality=92, exif=exif.tobytes()),
            png_bytes(stored, "JPEG", quality=92))


def colour_photo(digit: int = 4, size: int = 480, seed: int = 3) -> bytes:
    """Blue ballpoint on cream paper under uneven light, with sensor noise, as a JPEG."""
    rng = np.random.default_rng(seed)
    ink = draw_digit(digit, size=size, width=0.05, ink=(30, 40, 150, 255), background=(0, 0, 0, 0))
    paper = np.empty((size, size, 3), np.float32)
    paper[...] = (236, 226, 200)
    ys, xs = np.mgrid[0:size, 0:size] / size
    light = 0.75 + 0.25 * (1 - (xs - 0.2) ** 2 - (ys - 0.3) ** 2)  # a lamp up left
    photo = paper * light[..., None]
    rgba = np.asarray(ink, np.float32)
    alpha = rgba[..., 3:4] / 255.0
    photo = photo * (1 - alpha) + rgba[..., :3] * light[..., None] * alpha
    photo += rng.normal(0, 6, photo.shape)
    return png_bytes(Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)), "JPEG", quality=85)


def good_png(digit: int = 7, size: int = 140) -> bytes:
    return png_bytes(draw_digit(digit, size=size))


# --- a Socket.IO client that keeps every answer -----------------------------------------

class _InOrderEngineIO(engineio.Client):
    def _trigger_event(self, event, *args, run_async=False, **kwargs):
        return super()._trigger_event(event, *args, run_async=False, **kwargs)


class InOrderClient(socketio.Client):
    """socketio.Client whose handlers run in its reading thread, in the order answers arrived.

    python-engineio's client starts a new thread per incoming message, so two answers arriving
    back to back could be recorded in either order: order checks would test the client's race.
    """

    def _engineio_client_class(self):
        return _InOrderEngineIO


@dataclass
class Recorder:
    """A python-socketio client (websocket only) that records answers by seq, with timings."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    handle: bool = True
    client_options: dict[str, Any] = field(default_factory=dict)
    sent: dict[int, float] = field(default_factory=dict)
    answered: dict[int, float] = field(default_factory=dict)
    predictions: dict[int, dict] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    order: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = InOrderClient(reconnection=False, request_timeout=10, **self.client_options)
        self.changed = threading.Condition()
        self.disconnects = 0
        if self.handle:
            self.client.on("prediction", self._on_prediction)
            self.client.on("prediction_error", self._on_error)
        self.client.on("disconnect", self._on_disconnect)

    def connect(self, timeout: float = 10.0) -> Recorder:
        self.client.connect(self.url, transports=["websocket"], headers=self.headers, wait_timeout=timeout)
        return self

    def _on_prediction(self, payload: dict) -> None:
        now = time.perf_counter()
        with self.changed:
            seq = payload.get("seq")
            self.predictions[seq] = payload
            self.answered.setdefault(seq, now)
            self.order.append(seq)
            self.changed.notify_all()

    def _on_error(self, payload: dict) -> None:
        now = time.perf_counter()
        with self.changed:
            self.errors.append(payload)
            if isinstance(payload.get("seq"), int):
                self.answered.setdefault(payload["seq"], now)
                self.order.append(payload["seq"])
            self.changed.notify_all()

    def _on_disconnect(self, *_reason: Any) -> None:
        with self.changed:
            self.disconnects += 1
            self.changed.notify_all()

    def send(self, seq: int, image: Any) -> None:
        with self.changed:
            self.sent[seq] = time.perf_counter()
        self.client.emit("snapshot", {"seq": seq, "image": image})

    def wait(self, predicate, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    def wait_answer(self, seq: int, timeout: float = 15.0) -> bool:
        return self.wait(lambda: seq in self.answered, timeout)

    def wait_errors(self, count: int, timeout: float = 15.0) -> list[dict]:
        self.wait(lambda: len(self.errors) >= count, timeout)
        return list(self.errors)

    def latency_ms(self, seq: int) -> float:
        return (self.answered[seq] - self.sent[seq]) * 1000

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already gone
            self.client.disconnect()


class RawClient:
    """A Socket.IO client on a bare websocket: `send_frame` blocks while the server is not reading.

    python-socketio's `emit` only appends to an unbounded client-side queue, so "as fast as it can"
    would measure that queue, not the server; this client writes to the socket itself, as a
    hostile client would. With `read=False` it never reads a byte after connecting (answers and
    pings pile up on the server's side); otherwise a reader thread answers pings and counts answers.
    """

    def __init__(self, url: str, read: bool = True, receive_buffer: int | None = None) -> None:
        import socket as socket_module

        import websocket

        address = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        options = [(socket_module.SOL_SOCKET, socket_module.SO_RCVBUF, receive_buffer)] if receive_buffer else []
        self.ws = websocket.create_connection(address, timeout=10, sockopt=options, enable_multithread=True)
        assert self.ws.recv().startswith("0")  # Engine.IO open
        self.ws.send("40")  # Socket.IO connect to the default namespace
        assert self.ws.recv().startswith("40")
        self.seq = 0
        self.answered: list[int] = []
        self.errors: list[dict] = []
        self.closed = False
        self.answer_event = threading.Event()
        if read:
            self.ws.settimeout(None)
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        import json

        while not self.closed:
            try:
                message = self.ws.recv()
            except Exception:
                self.closed = True
                return
            if message == "2":
                with contextlib.suppress(Exception):
                    self.ws.send("3")
            elif isinstance(message, str) and message.startswith("42"):
                event, payload = json.loads(message[2:])[:2]
                if event == "prediction":
                    self.answered.append(payload["seq"])
                else:
                    self.errors.append(payload)
                self.answer_event.set()

    def send_frame(self, image: Any) -> bool:
        """Send the next snapshot (a data URL); False once the server has closed the connection."""
        import json

        self.seq += 1
        try:
            self.ws.send("42" + json.dumps(["snapshot", {"seq": self.seq, "image": image}]))
            return True
        except Exception:
            self.closed = True
            return False

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            self.ws.close(timeout=1)


def percentile(values: Iterable[float], q: float) -> float:
    return float(np.percentile(np.asarray(list(values), np.float64), q))


# --- looking at a running server from outside -------------------------------------------

def rss_mb(server: ServerProcess) -> float:
    return psutil.Process(server.process.pid).memory_info().rss / 2**20


def stats(server: ServerProcess) -> dict:
    answer = requests.get(server.url + "/api/stats", timeout=10)
    assert answer.status_code == 200
    return answer.json()


def wait_idle(server: ServerProcess, timeout: float = 20.0) -> dict:
    """Wait until the scheduler holds no frame; the last /api/stats seen."""
    deadline = time.monotonic() + timeout
    while True:
        seen = stats(server)
        if seen["pending"] == 0 or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def assert_healthy(server: ServerProcess, digit: int = 7) -> None:
    """/healthz ok, and a good picture still gets read, over HTTP and over Socket.IO."""
    assert server.process.poll() is None, "".join(server.output[-40:])
    health = requests.get(server.url + "/healthz", timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    answer = requests.post(server.url + "/api/predict", data=good_png(digit),
                           headers={"Content-Type": "image/png"}, timeout=30)
    assert answer.status_code == 200, answer.text
    expect_digit(answer.json(), digit)
    recorder = Recorder(server.url).connect()
    try:
        recorder.send(1, data_url(good_png(digit)))
        assert recorder.wait_answer(1, 30), "a good frame got no answer"
        assert not recorder.errors, recorder.errors
        expect_digit(recorder.predictions[1], digit)
    finally:
        recorder.close()


def tracebacks(server: ServerProcess) -> list[str]:
    """Lines of the server's output that show a stack trace."""
    return [line for line in list(server.output) if "Traceback (most recent call last)" in line]
