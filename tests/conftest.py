"""Shared fixtures: the app for the Flask test client, and a real server started as users start it.

Helpers (pictures, servers, Socket.IO clients, checks on answers) live in `tests/support`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.answers import CHECK_DIGITS
from tests.support.apps import make_app
from tests.support.servers import ServerProcess, run_server


@pytest.fixture(scope="session")
def live_server() -> Iterator[ServerProcess]:
    """One eventlet server (the default mode) shared by the tests that only need a running app."""
    with run_server("eventlet") as server:
        yield server


@pytest.fixture(scope="session")
def app():
    application = make_app()
    yield application
    application.extensions["digits"].scheduler.stop()


@pytest.fixture(scope="module")
def web(request):
    """The Flask test client for the reliability tests: the shared `app`, or a fresh app honouring
    DIGITS_MODEL_PATH (when the tests run against another model)."""
    if CHECK_DIGITS:
        yield request.getfixturevalue("app").test_client()
        return
    application = make_app()
    yield application.test_client()
    application.extensions["digits"].scheduler.stop()


@pytest.fixture()
def client(app):
    return app.test_client()
