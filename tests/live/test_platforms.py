"""Every platform a teacher has: the runtime set resolves from binary wheels, fully pinned.

`pip install --dry-run --only-binary=:all: --platform ...` against the registry, for each target,
so a dependency without a wheel for a Mac or a Windows laptop fails here and not in a classroom.
pip judges environment markers by the machine it runs on, not by `--platform`, so the markers of
every resolved package are also judged for the target (colorama comes with click on Windows only)
and what they add is resolved with the rest.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from conftest import ROOT
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.slow

PYTHON = "3.11"
_GLIBC = range(17, 40)  # manylinux_2_17 (CentOS 7) to 2_39 (Ubuntu 24.04)
TARGETS = {
    "linux-x86_64": (["manylinux2014_x86_64", *(f"manylinux_2_{v}_x86_64" for v in _GLIBC)],
                     {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
                      "os_name": "posix"}),
    "linux-aarch64": (["manylinux2014_aarch64", *(f"manylinux_2_{v}_aarch64" for v in _GLIBC)],
                      {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64",
                       "os_name": "posix"}),
    "macos-arm64": ([f"macosx_{v}_0_{arch}" for v in range(11, 15) for arch in ("arm64", "universal2")],
                    {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64",
                     "os_name": "posix"}),
    "windows-amd64": (["win_amd64"],
                      {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64",
                       "os_name": "nt"}),
}


def pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` line (markers aside)."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)", line)
        if match:
            found[canonicalize_name(match[1])] = match[2]
    return found


@pytest.fixture(scope="module", autouse=True)
def registry_reachable() -> None:
    try:
        requests.head("https://pypi.org/simple/", timeout=15)
    except requests.RequestException as exc:
        pytest.skip(f"the package registry cannot be reached: {exc}")


def resolve(platforms: list[str], extra: list[str], work: Path) -> list[dict]:
    report = work / "report.json"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--disable-pip-version-check", "--only-binary=:all:", "--python-version", PYTHON,
               "--implementation", "cp", "--target", str(work / "target"), "--report", str(report),
               "-r", str(ROOT / "requirements.txt"), "-c", str(ROOT / "constraints.txt"), *extra]
    for tag in platforms:
        command += ["--platform", tag]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(report.read_text())["install"]


def missed_by_markers(installs: list[dict], environment: dict[str, str]) -> list[str]:
    """Dependencies the target needs that pip, judging markers on this machine, left out."""
    resolved = {canonicalize_name(item["metadata"]["name"]) for item in installs}
    target = {"python_version": PYTHON, "python_full_version": PYTHON + ".0", "implementation_name": "cpython",
              "platform_python_implementation": "CPython", "extra": "", **environment}
    missed = []
    for item in installs:
        for line in item["metadata"].get("requires_dist", []):
            requirement = Requirement(line)
            if requirement.marker and "extra" in str(requirement.marker):
                continue  # an extra nobody asked for
            if requirement.marker and not Marker(str(requirement.marker)).evaluate(target):
                continue
            if canonicalize_name(requirement.name) not in resolved:
                missed.append(str(Requirement(f"{requirement.name}{requirement.specifier}")))
    return sorted(set(missed))


@pytest.mark.parametrize("target", list(TARGETS))
def test_runtime_set_installs_from_wheels_fully_pinned(target, tmp_path):
    platforms, environment = TARGETS[target]
    installs = resolve(platforms, [], tmp_path)
    missed = missed_by_markers(installs, environment)
    if missed:
        installs = resolve(platforms, missed, tmp_path)
    resolved = {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"] for item in installs}
    wheels = [item["download_info"]["url"].rsplit("/", 1)[-1] for item in installs]

    assert "ai-edge-litert" in resolved and "flask-socketio" in resolved
    assert not {"tensorflow", "tensorflow-cpu", "keras"} & set(resolved), "the runtime set must not need TensorFlow"
    assert all(name.endswith(".whl") for name in wheels), wheels
    pinned = pins(ROOT / "constraints.txt")
    unpinned = {name: version for name, version in resolved.items() if pinned.get(name) != version}
    assert not unpinned, f"resolved for {target} but not pinned in constraints.txt: {unpinned}"
