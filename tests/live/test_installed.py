"""Installed use (CONTRACT.md): the wheel in a fresh venv outside the checkout serves the shipped model.

Builds the wheel, installs it with the runtime set only (constraints.txt pins), and starts the
`realtime-digits` console script from a directory that is not the checkout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from realtime.paths import DEFAULT_MODEL, file_sha256
from tests.support.pictures import draw_digit, png_bytes
from tests.support.servers import READY_MARK, ROOT, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The venv's bin (Scripts) folder, the package installed there from a freshly built wheel."""
    try:
        requests.head("https://pypi.org/simple/", timeout=15)
    except requests.RequestException as exc:
        pytest.skip(f"the package registry cannot be reached: {exc}")
    work = tmp_path_factory.mktemp("installed")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--quiet", "-w", str(work / "dist"), str(ROOT)],
                   check=True, timeout=600)
    (wheel,) = (work / "dist").glob("realtime_digits-*.whl")
    venv.create(work / "venv", with_pip=True)
    bin_dir = work / "venv" / ("Scripts" if os.name == "nt" else "bin")
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-c", str(ROOT / "constraints.txt"), str(wheel)], check=True, timeout=900)
    return bin_dir


@pytest.fixture(scope="module")
def served(installed: Path, tmp_path_factory) -> Iterator[str]:
    port = free_port()
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # not the checkout: nothing to find templates in
    process = subprocess.Popen([str(installed / "realtime-digits"), "--port", str(port)], cwd=elsewhere,
                               env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": ""},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output = []
        for line in process.stdout:
            output.append(line)
            if READY_MARK in line:
                break
        else:
            raise RuntimeError("realtime-digits exited before it was ready:\n" + "".join(output))
        yield f"http://127.0.0.1:{port}"
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def test_the_runtime_set_has_no_tensorflow(installed):
    listed = subprocess.run([str(installed / "python"), "-m", "pip", "list", "--format", "json"],
                            capture_output=True, text=True, check=True).stdout
    names = {entry["name"].lower() for entry in json.loads(listed)}
    assert {"realtime-digits", "ai-edge-litert", "flask-socketio"} <= names
    assert not {name for name in names if name.startswith(("tensorflow", "keras"))}


def test_the_page_and_its_files_come_from_the_installed_package(served):
    page = requests.get(served + "/", timeout=10)
    assert page.status_code == 200 and 'data-testid="pad"' in page.text
    for path in ("/static/js/main.js", "/static/css/app.css", "/static/vendor/socket.io/socket.io.min.js"):
        assert requests.get(served + path, timeout=10).status_code == 200, path


def test_it_serves_the_shipped_model_and_reads_a_drawn_digit(served):
    assert requests.get(served + "/api/model", timeout=10).json()["sha256"] == file_sha256(DEFAULT_MODEL)
    answer = requests.post(served + "/api/predict", files={"image": ("seven.png", png_bytes(draw_digit(7)))},
                           timeout=30)
    assert answer.status_code == 200 and answer.json()["digit"] == 7


def test_python_m_realtime_is_the_same_command(installed, tmp_path):
    shown = subprocess.run([str(installed / "python"), "-m", "realtime", "--help"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "--async-mode" in shown.stdout and "--model" in shown.stdout
