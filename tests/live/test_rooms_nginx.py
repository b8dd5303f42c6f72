"""deploy/nginx.conf in front of two server processes sharing a real Redis: a class works through it."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.answers import CHECK_DIGITS
from tests.support.redis_server import redis_server
from tests.support.rooms import Student, Wall, start_class
from tests.support.servers import ROOT, ServerProcess, free_port, run_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory) -> Iterator[tuple[ServerProcess, ServerProcess, str]]:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (bash scripts/ensure-services.sh)")
    with redis_server() as url, run_server("eventlet", "--message-queue", url) as one, \
            run_server("eventlet", "--message-queue", url) as two:
        work = tmp_path_factory.mktemp("nginx")
        port = free_port()
        config = (ROOT / "deploy" / "nginx.conf").read_text()
        # The shipped file with this test's ports, and its scratch files in a temporary folder.
        config = config.replace("server 127.0.0.1:5001;", f"server {one.url.removeprefix('http://')};")
        config = config.replace("server 127.0.0.1:5002;", f"server {two.url.removeprefix('http://')};")
        config = config.replace("listen 8080;", f"listen 127.0.0.1:{port};")
        temp = "".join(f"    {name}_temp_path {work}/{name};\n"
                       for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        config = config.replace("http {\n", "http {\n" + temp, 1)
        (work / "nginx.conf").write_text(config)
        command = [binary, "-p", str(work), "-c", str(work / "nginx.conf"),
                   "-g", f"daemon off; pid {work}/nginx.pid; error_log {work}/error.log;"]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        proxy = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if requests.get(proxy + "/healthz", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                assert process.poll() is None and time.monotonic() < deadline, (work / "error.log").read_text()
                time.sleep(0.1)
            yield one, two, proxy
        finally:
            process.terminate()
            process.wait(10)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_class_through_nginx(proxied, transport) -> None:
    _one, two, proxy = proxied
    code, cookie = start_class(proxy)
    wall_page = requests.get(f"{proxy}/class/{code}", headers={"Cookie": cookie}, timeout=10).text
    assert re.search(rf"{re.escape(proxy)}/join/{code}", wall_page), "the join URL is the proxy's address"
    wall = Wall(proxy, code, cookie)
    # One student through the proxy (long-polling needs the sticky upstream), one straight to a process.
    through = Student(proxy)
    through.client.connect(proxy, transports=[transport], wait_timeout=10)
    direct = Student(two.url).connect()
    try:
        assert wall.client.call("wall_join", {"code": code}, timeout=10)["ok"]
        first = through.join(code, "visit-token-through-0001", "Ada")
        second = direct.join(code, "visit-token-direct-00002", "Bo")
        assert first["ok"] and second["ok"]
        assert wall.wait(lambda: len(wall.students()) == 2)
        for student, joined, digit in ((through, first, 7), (direct, second, 4)):
            answer = student.draw(1, digit)
            if CHECK_DIGITS:
                assert answer["digit"] == digit
            assert wall.wait(lambda s=joined["student"], d=answer["digit"]: wall.latest_digit(s) == d)
        assert wall.control("close")["ok"]
        assert wall.wait(lambda: wall.closed)
    finally:
        wall.client.disconnect()
        through.close()
        direct.close()
