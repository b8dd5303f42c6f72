"""`python -m bench.footprint`: what the app costs a teacher's laptop: cold start, memory, install size.

    python -m bench.footprint              cold starts and RSS after 300 predictions (this checkout)
    python -m bench.footprint --install    also `pip install .` into a fresh venv: its size, its packages,
                                           and the installed `realtime-digits` measured the same way

Cold start: launch to the first `/healthz` ok, median of `--launches` fresh processes. RSS: the
server and its preprocessing children together, after `--predictions` HTTP predictions sent by
8 clients at once (so batches form and the children work). Figures go to
bench/results/footprint.json and docs/performance.md; they are measurements, not test assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import requests

from realtime.paths import DEFAULT_MODEL

from . import images, servers

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "footprint.json"
TARGETS = {"cold_start_median_s": 1.5, "rss_after_predictions_mb": 200.0, "install_mb": 300.0}
# Shared libraries whose presence in a preprocessing child would mean it imported more than the pipeline.
HEAVY_LIBRARIES = ("ai_edge_litert", "tensorflow", "greenlet", "markupsafe")


def cold_starts(launches: int, model: str, program: list[str] | None = None) -> list[float]:
    """Seconds from launch to the first `/healthz` ok, one fresh server each."""
    times = []
    for _ in range(launches):
        server = servers.launch("ours", model, program=program)
        times.append(server.cold_start_s)
        server.stop()
    return times


def memory_after(predictions: int, model: str, program: list[str] | None = None, clients: int = 8) -> dict[str, Any]:
    """RSS (MiB) of the server and each child after `predictions` answered predictions."""
    server = servers.launch("ours", model, program=program)
    try:
        pictures = [images.snapshot_png(digit, fraction) for digit in range(10) for fraction in (0.6, 1.0)]

        def predict(index: int) -> int:
            png = pictures[index % len(pictures)]
            reply = requests.post(server.url + "/api/predict", data=png,
                                  headers={"Content-Type": "image/png"}, timeout=30)
            return reply.status_code

        with ThreadPoolExecutor(clients) as pool:
            statuses = list(pool.map(predict, range(predictions)))
        parent = psutil.Process(server.process.pid)
        children = parent.children(recursive=True)
        return {
            "predictions": predictions,
            "answered_ok": statuses.count(200),
            "rss_total_mb": round(sum(p.memory_info().rss for p in [parent, *children]) / 2**20, 1),
            "rss_server_mb": round(parent.memory_info().rss / 2**20, 1),
            "rss_children_mb": [round(child.memory_info().rss / 2**20, 1) for child in children],
            "children_heavy_libraries": sorted({lib for child in children for lib in _mapped(child.pid)}),
        }
    finally:
        server.stop()


def _mapped(pid: int) -> set[str]:
    """Which HEAVY_LIBRARIES a process has mapped (/proc/PID/maps; empty where there is no /proc)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return set()
    return {name for name in HEAVY_LIBRARIES if name in maps}


def install(work: Path) -> dict[str, Any]:
    """`pip install .` (runtime set, pinned by constraints.txt) into a fresh venv: size and packages."""
    target = work / "venv"
    venv.create(target, with_pip=True)
    python = target / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-c", str(ROOT / "constraints.txt"), str(ROOT)], check=True)
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format", "json"],
                            check=True, capture_output=True, text=True).stdout
    packages = sorted(entry["name"] for entry in json.loads(listed))
    return {"venv": str(target), "install_mb": round(_size(target) / 2**20, 1), "packages": packages,
            "has_tensorflow_or_keras": any(name.lower().startswith(("tensorflow", "keras")) for name in packages),
            "script": str(target / ("Scripts/realtime-digits.exe" if os.name == "nt" else "bin/realtime-digits"))}


def _size(folder: Path) -> int:
    return sum(path.lstat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def measure(launches: int, predictions: int, model: str, program: list[str] | None = None) -> dict[str, Any]:
    starts = cold_starts(launches, model, program)
    return {"cold_start_s": starts, "cold_start_median_s": round(statistics.median(starts), 3),
            "memory": memory_after(predictions, model, program)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.footprint", description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=7, help="cold starts to take the median of (7)")
    parser.add_argument("--predictions", type=int, default=300, help="predictions before reading the RSS (300)")
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="LiteRT model (default: the shipped one)")
    parser.add_argument("--install", action="store_true",
                        help="also pip install . into a fresh venv (needs the registry or pip's cache)")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT))
    args = parser.parse_args(argv)

    result: dict[str, Any] = {
        "meta": {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
                 "load_average_before": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None},
        "targets": TARGETS,
        "checkout": measure(args.launches, args.predictions, args.model),
    }
    if args.install:
        work = Path(tempfile.mkdtemp(prefix="digits-footprint-"))
        try:
            result["install"] = install(work)
            result["installed"] = measure(args.launches, args.predictions, args.model, [result["install"]["script"]])
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if hasattr(os, "getloadavg"):
        result["meta"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(summary(result))


def summary(result: dict[str, Any]) -> str:
    lines = [f"load average before/after: {result['meta']['load_average_before']} / "
             f"{result['meta'].get('load_average_after')}"]
    for where in ("checkout", "installed"):
        if where in result:
            figures, memory = result[where], result[where]["memory"]
            lines.append(f"{where}: cold start median {figures['cold_start_median_s']} s "
                         f"(target {TARGETS['cold_start_median_s']}); RSS after {memory['predictions']} predictions "
                         f"{memory['rss_total_mb']} MiB (server {memory['rss_server_mb']}, children "
                         f"{memory['rss_children_mb']}; target {TARGETS['rss_after_predictions_mb']})")
    if "install" in result:
        lines.append(f"install: {result['install']['install_mb']} MiB (target {TARGETS['install_mb']}), "
                     f"TensorFlow or Keras: {result['install']['has_tensorflow_or_keras']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
