"""The baseline: a digit server the way typical tutorials write one.

Flask route and a Flask-SocketIO handler in threading mode, both calling
`model.predict` on every request and every frame (no batching, no compiled
call, no latest-wins: every frame is answered, in whatever order the threads
finish), with the usual preprocessing (resize to 28x28, invert). It answers the
same `snapshot` -> `prediction` events (with `seq`) and the same multipart
`POST /api/predict` as the real server, so the harness can load both alike.

    python -m bench.baseline_server --port 5001 [--model realtime/model/digits.keras]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import os
import sys
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from realtime.paths import KERAS_MODEL
from realtime.pipeline.naive import naive_input


def preprocess(data: bytes) -> np.ndarray:
    """Tutorial preprocessing: grayscale, squash to 28x28, invert (MNIST is white on black)."""
    return naive_input(Image.open(io.BytesIO(data))).reshape(1, 28, 28, 1)


def answer(probabilities: np.ndarray) -> dict:
    digit = int(np.argmax(probabilities))
    return {"digit": digit, "confidence": float(probabilities[digit]),
            "probabilities": [float(p) for p in probabilities]}


def create_app(model_path: str | Path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    from flask import Flask, jsonify, request
    from flask_socketio import SocketIO, emit

    model = keras.models.load_model(model_path, compile=False)
    app = Flask(__name__)
    socketio = SocketIO(app, async_mode="threading", max_http_buffer_size=2 * 1024 * 1024)
    counts = {"received": 0, "answered": 0}
    lock = threading.Lock()

    def predict(data: bytes) -> dict:
        probabilities = model.predict(preprocess(data), verbose=0)[0][:10]  # the ten digits (the 11th: not a digit)
        return answer(probabilities)

    @app.route("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.route("/api/stats")
    def stats():
        with lock:
            return jsonify(scheduler=dict(counts))

    @app.route("/api/predict", methods=["POST"])
    def predict_route():
        data = request.files["image"].read() if "image" in request.files else request.get_data()
        return jsonify(predict(data))

    @socketio.on("snapshot")
    def snapshot(message):
        with lock:
            counts["received"] += 1
        image = message["image"]
        if isinstance(image, str):
            image = base64.b64decode(image.split(",", 1)[-1])
        emit("prediction", {**predict(image), "seq": message["seq"]})
        with lock:
            counts["answered"] += 1

    return app, socketio


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--model", default=str(KERAS_MODEL))
    args = parser.parse_args(argv)
    app, socketio = create_app(args.model)
    print(f"Baseline ready on http://{args.host}:{args.port}/", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        socketio.run(app, host=args.host, port=args.port, allow_unsafe_werkzeug=True, log_output=False)
    sys.exit(0)


if __name__ == "__main__":
    main()
