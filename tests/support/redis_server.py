"""A real Redis server for the class-room tests: Debian's redis-server on a free port, nothing saved."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from .servers import free_port


@contextmanager
def redis_server() -> Iterator[str]:
    """Start `redis-server` (installed by scripts/ensure-services.sh); yields its URL, stops it after."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (bash scripts/ensure-services.sh)")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        import redis

        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start:\n" + (process.stdout.read() or "")) from None
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)
