"""Every platform a teacher has: the runtime set (and the training set) resolve from binary wheels, fully pinned.

`pip install --dry-run --only-binary=:all: --platform ...` against the registry, for each target,
so a dependency without a wheel for a Mac or a Windows laptop fails here and not in a classroom.
pip judges environment markers by the machine it runs on, not by `--platform`, so here they are
judged for the target: those of our requirement files before pip sees them (tensorflow or
tensorflow-cpu), and those of every resolved package after (colorama comes with click on Windows
only), what they add being resolved with the rest.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.servers import ROOT

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


def target_environment(environment: dict[str, str]) -> dict[str, str]:
    return {"python_version": PYTHON, "python_full_version": PYTHON + ".0", "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "extra": "", **environment}


def requirements_for(files: list[str], environment: dict[str, str]) -> list[str]:
    """The lines of our requirement files that apply to the target, markers judged for it."""
    wanted = []
    for name in files:
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(target_environment(environment)):
                requirement.marker = None
                wanted.append(str(requirement))
    return wanted


def resolve(platforms: list[str], requirements: list[str], work: Path) -> list[dict]:
    report = work / "report.json"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--disable-pip-version-check", "--only-binary=:all:", "--python-version", PYTHON,
               "--implementation", "cp", "--target", str(work / "target"), "--report", str(report),
               "-c", str(ROOT / "constraints.txt"), *requirements]
    for tag in platforms:
        command += ["--platform", tag]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(report.read_text())["install"]


def missed_by_markers(installs: list[dict], environment: dict[str, str]) -> list[str]:
    """Dependencies the target needs that pip, judging markers on this machine, left out."""
    resolved = {canonicalize_name(item["metadata"]["name"]) for item in installs}
    target = target_environment(environment)
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


def resolve_for(target: str, files: list[str], work: Path) -> dict[str, str]:
    """name -> version of everything `files` install on `target`, every one from a wheel."""
    platforms, environment = TARGETS[target]
    requirements = requirements_for(files, environment)
    installs = resolve(platforms, requirements, work)
    missed = missed_by_markers(installs, environment)
    if missed:
        installs = resolve(platforms, requirements + missed, work)
    wheels = [item["download_info"]["url"].rsplit("/", 1)[-1] for item in installs]
    assert all(name.endswith(".whl") for name in wheels), wheels
    return {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"] for item in installs}


def assert_pinned(resolved: dict[str, str], target: str) -> None:
    pinned = pins(ROOT / "constraints.txt")
    unpinned = {name: version for name, version in resolved.items() if pinned.get(name) != version}
    assert not unpinned, f"resolved for {target} but not pinned in constraints.txt: {unpinned}"


@pytest.mark.parametrize("target", list(TARGETS))
def test_runtime_set_installs_from_wheels_fully_pinned(target, tmp_path):
    resolved = resolve_for(target, ["requirements.txt"], tmp_path)
    assert "ai-edge-litert" in resolved and "flask-socketio" in resolved
    assert not {"tensorflow", "tensorflow-cpu", "keras"} & set(resolved), "the runtime set must not need TensorFlow"
    assert_pinned(resolved, target)


@pytest.mark.parametrize("target", list(TARGETS))
def test_training_set_gets_a_tensorflow_with_wheels_everywhere(target, tmp_path):
    resolved = resolve_for(target, ["requirements.txt", "requirements-train.txt"], tmp_path)
    assert {"tensorflow", "tensorflow-cpu"} & set(resolved) and "keras" in resolved
    assert_pinned(resolved, target)
