"""Live handwritten-digit recogniser: Flask + Socket.IO serving a Keras CNN."""

from __future__ import annotations


def create_app(config=None):
    """The application factory (imported lazily: TensorFlow loads only when an app is made)."""
    from .app import create_app as factory

    return factory(config)
