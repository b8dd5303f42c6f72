"""The package's three rooms keep their import rules (see each room's __init__ docstring)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from realtime.paths import CHECKOUT_DIR, PACKAGE_DIR

STDLIB = set(sys.stdlib_module_names)
HEAVY = {"tensorflow", "keras"}
WEB = {"flask", "flask_socketio", "socketio", "engineio", "eventlet", "werkzeug"}


def imports(room: str) -> dict[str, set[str]]:
    """Every module each file of `room` imports, at any depth (lazy imports included), as absolute names."""
    found: dict[str, set[str]] = {}
    for path in sorted((PACKAGE_DIR / room).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    names.add(node.module or "")
                else:  # relative: resolve against the file's package
                    package = path.relative_to(CHECKOUT_DIR).with_suffix("").parts[:-1]
                    base = package[: len(package) - node.level + 1]
                    names.add(".".join([*base, node.module] if node.module else base))
        found[path.name] = names
    return found


def test_the_pipeline_imports_numpy_pillow_scipy_zlib_ng_and_the_standard_library_only():
    allowed_roots = STDLIB | {"numpy", "PIL", "scipy", "zlib_ng", "__future__"}
    for name, modules in imports("pipeline").items():
        foreign = {m for m in modules if m.split(".")[0] not in allowed_roots and not m.startswith("realtime.pipeline")}
        assert not foreign, f"realtime/pipeline/{name} imports {sorted(foreign)}"


def test_serving_never_imports_tensorflow_or_keras():
    for name, modules in imports("serving").items():
        heavy = {m for m in modules if m.split(".")[0] in HEAVY}
        assert not heavy, f"realtime/serving/{name} imports {sorted(heavy)}"
        training = {m for m in modules if m.startswith("realtime.training")}
        # The one way in: a .keras model given on the command line, converted where TensorFlow is installed.
        assert not training or name == "predictor.py", f"realtime/serving/{name} imports {sorted(training)}"


def test_only_training_imports_tensorflow_or_keras():
    for room in ("pipeline", "serving"):
        for name, modules in imports(room).items():
            assert not {m for m in modules if m.split(".")[0] in HEAVY}, f"realtime/{room}/{name}"


PROBE = """
import importlib, json, pkgutil, sys
import realtime.{room} as room
for module in pkgutil.iter_modules(room.__path__):
    importlib.import_module("realtime.{room}." + module.name)
print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}})))
"""


@pytest.mark.parametrize(("room", "absent"), [("pipeline", HEAVY | WEB), ("serving", HEAVY)])
def test_importing_a_room_loads_nothing_it_must_not(room, absent):
    """Every module of the room imported in a fresh interpreter: what ends up in sys.modules."""
    done = subprocess.run([sys.executable, "-c", PROBE.format(room=room)], cwd=CHECKOUT_DIR, capture_output=True,
                          text=True, timeout=120, check=True)
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert not loaded & absent, f"importing realtime.{room} loaded {sorted(loaded & absent)}"
    assert "numpy" in loaded  # the probe did import the room


def test_model_paths_import_nothing():
    source = Path(PACKAGE_DIR / "paths.py").read_text()
    modules = {node.names[0].name if isinstance(node, ast.Import) else node.module
               for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.Import, ast.ImportFrom))}
    assert modules <= {"__future__", "hashlib", "pathlib"}
