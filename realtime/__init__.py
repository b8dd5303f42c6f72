"""Live handwritten-digit recogniser: Flask + Socket.IO serving a small CNN with LiteRT.

Three rooms, each with one import rule (see their docstrings): `pipeline` (picture to
28x28: NumPy and Pillow only), `serving` (the app: never TensorFlow) and `training` (the
only home of TensorFlow and Keras).
"""

from __future__ import annotations


def create_app(config=None):
    """The application factory (imported lazily, so that `python -m realtime` can set eventlet up first)."""
    from .serving.app import create_app as factory

    return factory(config)
