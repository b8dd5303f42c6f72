"""`python -m bench`: run every benchmark against our server and the baseline, write JSON, plot, table.

    python -m bench                 full run (about 6-8 minutes on 2 cores)
    python -m bench --quick         tiny settings (a smoke run: about half a minute; figures not meaningful)
    python -m bench --soak 300      the full run plus a 5-minute streaming run watching RSS
    python -m bench --soak 300 --phases soak --merge   only the soak, merged into the existing JSON

Socket.IO load is measured with two kinds of frame: the page's own (a PNG of the ink's bounding
box, at most 128 px, as bytes) and whole canvas exports as other clients send them
(`canvas.toDataURL()` of a 280x280 pad, transparent RGBA, opaque RGB or grey, as data URLs; and
a few clients with 1000x1000 pads). Page frames go open loop (the spec: every client sends 20
frames/s whatever happens to them) and closed loop (each client keeps one frame in flight, as
the page does, so no queue can build up outside the server's latest-wins); canvas exports go
open loop.

Ratios are "times better than the baseline" (> 1 means ours is better): baseline ÷ ours for
times, CPU and memory; ours ÷ baseline for throughput.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from realtime.paths import DEFAULT_MODEL

from . import http_load, images, report, servers, socket_load
from .stats import ratio

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "latest.json"
DEFAULT_PLOT = ROOT / "docs" / "bench" / "latency_vs_clients.png"
PHASES = ("micro", "http", "socketio", "closed_loop", "canvas", "canvas_1000", "soak")
# Each Socket.IO phase: its result section, the frames its clients send, and how.
SOCKET_PHASES = {
    "socketio": ("socketio", "page", False),
    "closed_loop": ("socketio_closed_loop", "page", True),
    "canvas": ("socketio_canvas", "canvas_280", False),
    "canvas_1000": ("socketio_canvas_1000", "canvas_1000", False),
}

FULL = {"levels": [1, 10, 50, 100], "levels_1000": [1, 10], "duration": 10.0, "grace": 5.0, "http_duration": 5.0,
        "repeats": 300, "restart": True}
QUICK = {"levels": [1, 4], "levels_1000": [1], "duration": 1.5, "grace": 2.0, "http_duration": 1.0, "repeats": 10,
         "restart": False}

TARGETS = {
    "inference_batch1_ms": 1.0,
    "socketio_p50_1_client_ms": 4.0,
    "socketio_p95_50_clients_ms": 50.0,
    "socketio_answers_per_s_50_clients": 900.0,
    "http_p50_1_client_ms": 6.0,
    "throughput_ratio_50_clients": 15.0,
    "rss_under_load_mb": 250.0,
    "cold_start_s": 8.0,
    "soak_rss_growth_percent": 5.0,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmark the digit recogniser "
                                     "against a tutorial-style baseline.")
    parser.add_argument("--quick", action="store_true", help="tiny settings: a smoke run, not a measurement")
    parser.add_argument("--model", default=None,
                        help="LiteRT model, its .keras beside it for the baseline (default: the shipped one)")
    parser.add_argument("--levels", default=None, help="comma-separated Socket.IO client counts (full: 1,10,50,100)")
    parser.add_argument("--duration", type=float, default=None, help="seconds each Socket.IO level streams (full: 10)")
    parser.add_argument("--fps", type=float, default=20.0, help="frames per second each client sends (20)")
    parser.add_argument("--grace", type=float, default=None,
                        help="seconds to wait after a level for every client's newest answer (full: 5)")
    parser.add_argument("--http-duration", type=float, default=None, help="seconds per HTTP run (full: 5)")
    parser.add_argument("--http-clients", default="1,10,50", help="comma-separated HTTP client counts (1,10,50)")
    parser.add_argument("--repeats", type=int, default=None, help="micro-benchmark repetitions (full: 300)")
    parser.add_argument("--client-procs", type=int, default=2, help="processes the Socket.IO clients run in (2)")
    parser.add_argument("--soak", type=float, default=0.0, metavar="SECONDS",
                        help="also stream for SECONDS from --soak-clients clients and watch the server's RSS")
    parser.add_argument("--soak-clients", type=int, default=20)
    parser.add_argument("--phases", default=",".join(PHASES),
                        help=f"which phases to run, comma-separated, of {','.join(PHASES)} (soak needs --soak)")
    parser.add_argument("--kinds", default="ours,baseline", help="servers to measure (ours,baseline)")
    parser.add_argument("--reuse-server", action="store_true",
                        help="one server per kind for all levels (default in --quick) instead of a fresh one each")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="result JSON (bench/results/latest.json)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the sections of an existing --output that this run does not measure")
    parser.add_argument("--plot", default=str(DEFAULT_PLOT), help="latency/throughput plot (PNG)")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: print the table and redraw the plot from --output")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> dict[str, Any]:
    base = dict(QUICK if args.quick else FULL)
    if args.levels:
        base["levels"] = [int(n) for n in args.levels.split(",") if n.strip()]
    for name in ("duration", "grace", "http_duration", "repeats"):
        if getattr(args, name) is not None:
            base[name] = getattr(args, name)
    if args.reuse_server:
        base["restart"] = False
    model = Path(args.model) if args.model else DEFAULT_MODEL
    if not model.is_file():
        sys.exit(f"error: no model at {model}; train one (`make train`) or pass --model PATH")
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown:
        sys.exit(f"error: unknown phase(s) {', '.join(sorted(unknown))}; choose from {', '.join(PHASES)}")
    if args.soak <= 0 and "soak" in phases:
        phases.remove("soak")
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if set(kinds) - set(servers.KINDS):
        sys.exit(f"error: --kinds takes {','.join(servers.KINDS)}")
    return {**base, "mode": "quick" if args.quick else "full", "model": str(model.resolve()), "fps": args.fps,
            "http_clients": [int(n) for n in args.http_clients.split(",") if n.strip()],
            "client_procs": max(1, args.client_procs), "soak_s": args.soak, "soak_clients": args.soak_clients,
            "phases": phases, "kinds": kinds}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.report_only:
        result = json.loads(Path(args.output).read_text())
        if not args.no_plot and result.get("socketio"):
            report.plot(result, Path(args.plot))
        print(report.table(result))
        return
    settings = settings_from(args)
    atexit.register(servers.stop_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: no server left behind
    started = time.monotonic()
    result = run(settings)
    result["meta"]["harness_wall_s"] = round(time.monotonic() - started, 1)
    output = Path(args.output)
    if args.merge and output.is_file():
        result = merge(json.loads(output.read_text()), result, settings["phases"])
    write_json(result, output)
    if not args.no_plot and result.get("socketio"):
        try:
            report.plot(result, Path(args.plot))
            result["meta"]["plot"] = str(Path(args.plot).resolve().relative_to(ROOT)) \
                if Path(args.plot).resolve().is_relative_to(ROOT) else str(args.plot)
            write_json(result, output)
        except Exception as exc:  # a missing font should not lose the measurements
            print(f"warning: no plot: {exc}", file=sys.stderr)
    print(report.table(result))
    print(f"\nwrote {output}")


def merge(previous: dict, current: dict, phases: list[str]) -> dict:
    """The previous result with this run's phases replaced (cold starts pooled); meta says what merged."""
    merged = dict(previous)
    sections = {"micro": ("inference", "preprocessing", "explain"), "http": ("http",), "soak": ("soak",),
                **{phase: (section,) for phase, (section, _, _) in SOCKET_PHASES.items()}}
    for phase in phases:
        for key in sections[phase]:
            merged[key] = current[key]
    cold = {**(previous.get("cold_start") or {})}
    for kind, now in (current.get("cold_start") or {}).items():
        runs = [*(_get(cold, kind, "runs_s") or []), *now["runs_s"]]
        lines = [x for x in (_get(cold, kind, "ready_line_median_s"), now.get("ready_line_median_s")) if x]
        cold[kind] = {"runs_s": runs, "median_s": round(statistics.median(runs), 3) if runs else None,
                      "min_s": min(runs) if runs else None,
                      "ready_line_median_s": round(statistics.median(lines), 3) if lines else None}
    merged["cold_start"] = cold
    merged["meta"] = {**previous.get("meta", {}), "merged_runs": [
        *(_get(previous, "meta", "merged_runs") or []),
        {key: current["meta"].get(key) for key in ("date", "git_commit", "load_average_before",
                                                   "load_average_after", "settings")}]}
    merged["ratios"] = compute_ratios(merged)
    merged["targets"] = evaluate_targets(merged)
    return merged


def write_json(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(result, indent=1) + "\n")
    partial.replace(path)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the run -------------------------------------------------------------------------------

def run(settings: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"meta": meta(settings), "inference": {}, "preprocessing": {},
                              "cold_start": {}, "http": {}, "soak": None,
                              **{section: {} for section, _, _ in SOCKET_PHASES.values()}}
    cold: dict[str, list[float]] = {kind: [] for kind in settings["kinds"]}
    ready_line: dict[str, list[float]] = {kind: [] for kind in settings["kinds"]}
    pool = ServerPool(settings, cold, ready_line)
    micro_job = None
    try:
        if "micro" in settings["phases"]:
            log("micro-benchmarks: model call and preprocessing"
                + (" (in the background: --quick)" if settings["mode"] == "quick" else ""))
            micro_job = start_micro(settings)
            if settings["mode"] != "quick":  # a measurement runs alone; a smoke run overlaps to save time
                result["inference"], result["preprocessing"], result["explain"] = finish_micro(micro_job)
                micro_job = None
        if settings["mode"] == "quick" and not settings["restart"] and \
                {"http", "socketio"} & set(settings["phases"]):
            pool.prelaunch(settings["kinds"])
        if "http" in settings["phases"]:
            result["http"] = run_http(settings, pool)
        for phase, (section, frames, closed_loop) in SOCKET_PHASES.items():
            if phase in settings["phases"]:
                result[section] = run_socketio(settings, pool, frames, closed_loop=closed_loop)
        if "soak" in settings["phases"]:
            result["soak"] = run_soak(settings, pool)
        if micro_job is not None:
            result["inference"], result["preprocessing"], result["explain"] = finish_micro(micro_job)
            micro_job = None
    finally:
        pool.close()
        if micro_job is not None and micro_job.poll() is None:
            micro_job.kill()
            micro_job.wait(5)
    result["cold_start"] = {
        kind: {"runs_s": runs, "median_s": round(statistics.median(runs), 3) if runs else None,
               "min_s": min(runs) if runs else None,
               "ready_line_median_s": round(statistics.median(ready_line[kind]), 3) if ready_line[kind] else None}
        for kind, runs in cold.items()
    }
    result["meta"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["ratios"] = compute_ratios(result)
    result["targets"] = evaluate_targets(result)
    return result


class ServerPool:
    """Fresh servers per measurement (default), or one per kind reused (--quick / --reuse-server)."""

    def __init__(self, settings: dict, cold: dict, ready_line: dict) -> None:
        self.settings = settings
        self.cold = cold
        self.ready_line = ready_line
        self.kept: dict[str, servers.Server] = {}
        self.warm_png = images.canvas_png(3)

    def prelaunch(self, kinds: list[str]) -> None:
        """Start every kind's server at once (reuse mode only): a smoke run saves a launch's time."""
        threads = [threading.Thread(target=self.get, args=(kind,), daemon=True) for kind in kinds]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def get(self, kind: str, fresh: bool = False) -> servers.Server:
        server = self.kept.get(kind)
        if server and server.alive() and not fresh:
            return server
        log(f"starting {kind} server")
        server = servers.launch(kind, self.settings["model"])
        self.cold[kind].append(server.cold_start_s)
        if server.ready_line_s is not None:
            self.ready_line[kind].append(server.ready_line_s)
        log(f"{kind} server healthy after {server.cold_start_s:.2f} s")
        http_load.warm_up(server.url, self.warm_png)  # first calls trace/compile: keep them out of the figures
        if not self.settings["restart"] and not fresh:
            self.kept[kind] = server
        return server

    def release(self, server: servers.Server) -> None:
        if server is not self.kept.get(server.kind):
            server.stop()

    def close(self) -> None:
        for server in self.kept.values():
            server.stop()
        self.kept.clear()
        servers.stop_all()


def start_micro(settings: dict) -> subprocess.Popen:
    """The micro-benchmarks in their own process (TensorFlow stays out of the harness)."""
    command = [sys.executable, "-m", "bench.micro", "--model", settings["model"], "--repeats",
               str(settings["repeats"])]
    from realtime.serving.prep_pool import CHILD_MALLOC_ENV

    # malloc set as in the server's preprocessing children, where every picture is prepared
    env = {**CHILD_MALLOC_ENV, **os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def finish_micro(job: subprocess.Popen, timeout: float = 900) -> tuple[dict, dict, dict]:
    try:
        stdout, stderr = job.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        job.kill()
        job.communicate()
        raise RuntimeError("micro-benchmarks did not finish in time") from None
    if job.returncode != 0:
        raise RuntimeError(f"micro-benchmarks failed:\n{stderr[-3000:]}")
    micro = json.loads(stdout.strip().splitlines()[-1])
    return micro["inference"], micro["preprocessing"], micro["explain"]


def run_http(settings: dict, pool: ServerPool) -> dict:
    png = images.canvas_png(7)
    out: dict[str, Any] = {"image": {"format": "PNG", "size": [images.CANVAS, images.CANVAS], "bytes": len(png)},
                           "form": "multipart/form-data, field image"}
    for kind in settings["kinds"]:
        server = pool.get(kind)
        try:
            runs = {}
            for clients in settings["http_clients"]:
                log(f"HTTP {kind}: {clients} client(s) for {settings['http_duration']} s")
                measured = http_load.run(server.url, png, clients, settings["http_duration"])
                runs[str(clients)] = measured
            out[kind] = runs
        finally:
            pool.release(server)
    return out


FRAMES = {
    "page": "PNG of the ink's bounding box, long side <= 128 px, as bytes, digits drawn progressively",
    "canvas_280": "the whole 280x280 pad as a PNG data URL (canvas.toDataURL()): transparent RGBA, opaque RGB "
                  "or grey by client, digits drawn progressively",
    "canvas_1000": "the whole 1000x1000 pad as a PNG data URL, transparent RGBA, opaque RGB or grey by client",
}


def frame_sets(kind: str = "page") -> list[list[bytes | str]]:
    """Four clients' worth of distinct frame loops (client i sends loop i % 4; canvas kinds by loop)."""
    if kind == "page":
        return [images.stream_frames(variant) for variant in range(4)]
    size = 1000 if kind == "canvas_1000" else images.CANVAS
    return [images.canvas_stream_frames(variant, size, steps=12 if size < 1000 else 4) for variant in range(4)]


def run_socketio(settings: dict, pool: ServerPool, frames_kind: str = "page", closed_loop: bool = False) -> dict:
    frames = frame_sets(frames_kind)
    sizes = sorted(len(f) for group in frames for f in group)
    out: dict[str, Any] = {"frames": {"distinct": len(sizes), "bytes_median": sizes[len(sizes) // 2],
                                      "bytes_max": sizes[-1], "kind": FRAMES[frames_kind]},
                           **{kind: [] for kind in settings["kinds"]}}
    levels = settings["levels_1000"] if frames_kind == "canvas_1000" else settings["levels"]
    for clients in levels:
        for kind in settings["kinds"]:  # interleaved, so drifting background load hits both alike
            log(f"Socket.IO {kind}: {clients} client(s) x {settings['fps']:g} fps for {settings['duration']} s, "
                f"{frames_kind} frames" + (", closed loop" if closed_loop else ""))
            out[kind].append(measure_level(settings, pool, kind, clients, settings["duration"], frames,
                                           closed_loop=closed_loop))
    return out


def measure_level(settings: dict, pool: ServerPool, kind: str, clients: int, duration: float,
                  frames: list[list[bytes]], timeline: bool = False, closed_loop: bool = False) -> dict:
    server = pool.get(kind, fresh=timeline)  # the soak (timeline) always starts from a fresh server
    try:
        before = server.stats()
        level = socket_load.run_level(server.url, clients, frames, fps=settings["fps"], duration=duration,
                                      grace=settings["grace"], processes=settings["client_procs"],
                                      closed_loop=closed_loop)
        after = server.stats()
        start, end = level.pop("window")
        server.monitor.sample()
        level["server"] = server.monitor.window(start, end + level["waited_for_newest_s"])
        if timeline:
            level["rss_timeline"] = server.monitor.rss_timeline(start, end)
        level["server_stats"] = {key: after[key] - before.get(key, 0) for key in after
                                 if isinstance(after[key], int) and key != "largest_batch"}
        if "largest_batch" in after:
            level["server_stats"]["largest_batch_ever"] = after["largest_batch"]
        batches = level["server_stats"].get("batches")
        if batches:
            level["server_stats"]["mean_batch"] = round(level["server_stats"].get("answered", 0) / batches, 2)
        level["server_alive"] = server.alive()
        level["cold_start_s"] = server.cold_start_s
        return level
    except Exception as exc:  # one failed level (a crashed baseline, say) is a result, not the end of the run
        log(f"{kind} at {clients} clients failed: {exc}")
        return {"clients": clients, "error": f"{type(exc).__name__}: {exc}"[:500], "server_alive": server.alive(),
                "server_output_tail": server.tail(10)}
    finally:
        pool.release(server)


def run_soak(settings: dict, pool: ServerPool) -> dict:
    seconds, clients = settings["soak_s"], settings["soak_clients"]
    log(f"soak: {clients} clients x {settings['fps']:g} fps for {seconds:g} s, watching RSS")
    level = measure_level(settings, pool, "ours", clients, seconds, frame_sets(), timeline=True)
    timeline = level.get("rss_timeline") or []
    if timeline:
        edge = 60.0 if seconds >= 180 else seconds / 3  # first vs last minute (thirds of a short soak)
        first = [mb for at, mb in timeline if at <= edge]
        last = [mb for at, mb in timeline if at >= seconds - edge]
        first_mb = statistics.mean(first) if first else None
        last_mb = statistics.mean(last) if last else None
        level["rss"] = {
            "window_s": round(edge, 1),
            "first_window_mean_mb": round(first_mb, 2) if first_mb else None,
            "last_window_mean_mb": round(last_mb, 2) if last_mb else None,
            "growth_percent": round((last_mb - first_mb) / first_mb * 100, 2) if first_mb and last_mb else None,
            "min_mb": min(mb for _, mb in timeline), "max_mb": max(mb for _, mb in timeline),
        }
    return level


# --- context, ratios, targets --------------------------------------------------------------

def meta(settings: dict) -> dict:
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    model = Path(settings["model"])
    cpu_model = None
    with contextlib.suppress(OSError):
        cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                          if line.startswith("model name")), None)
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--", "realtime", "server.py")),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "model": {"path": str(model.relative_to(ROOT)) if model.is_relative_to(ROOT) else str(model),
                  "sha256": hashlib.sha256(model.read_bytes()).hexdigest()[:16], "bytes": model.stat().st_size},
        "settings": {key: settings[key] for key in ("mode", "levels", "levels_1000", "duration", "fps", "grace",
                                                    "http_duration", "http_clients", "repeats", "restart",
                                                    "client_procs", "soak_s", "soak_clients", "phases", "kinds")},
        "servers": {"ours": "server.py --async-mode eventlet (latest-wins micro-batching, compiled model call)",
                    "baseline": "bench/baseline_server.py (Flask + Flask-SocketIO threading, model.predict "
                                "per request/frame, resize+invert, no batching, no latest-wins)"},
        "ratio_convention": "times better than the baseline (>1 = ours better): baseline/ours for latency, "
                            "time, CPU and memory; ours/baseline for throughput",
    }


def _get(data: Any, *path: Any) -> Any:
    for key in path:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def level_for(result: dict, kind: str, clients: int, section: str = "socketio") -> dict | None:
    for level in _get(result, section, kind) or []:
        if level.get("clients") == clients and "error" not in level:
            return level
    return None


def compute_ratios(result: dict) -> dict:
    ratios: dict[str, Any] = {}
    for size in ("batch1", "batch32"):
        ratios[f"inference_{size}"] = ratio(_get(result, "inference", "model_predict", size, "median_ms"),
                                            _get(result, "inference", "predictor", size, "median_ms"))
    for name in (_get(result, "preprocessing", "ours") or {}):
        ratios[f"preprocessing_{name}"] = ratio(_get(result, "preprocessing", "baseline", name, "median_ms"),
                                                _get(result, "preprocessing", "ours", name, "median_ms"))
    ratios["cold_start"] = ratio(_get(result, "cold_start", "baseline", "median_s"),
                                 _get(result, "cold_start", "ours", "median_s"))
    for clients in (_get(result, "http", "ours") or {}):
        for stat in ("p50", "p95"):
            ratios[f"http_{clients}_clients_{stat}"] = ratio(
                _get(result, "http", "baseline", clients, "latency_ms", stat),
                _get(result, "http", "ours", clients, "latency_ms", stat))
        ratios[f"http_{clients}_clients_throughput"] = ratio(
            _get(result, "http", "ours", clients, "requests_per_s"),
            _get(result, "http", "baseline", clients, "requests_per_s"))
    for section, _, _ in SOCKET_PHASES.values():
        ratios[section] = _level_ratios(result, section)
    return ratios


def _level_ratios(result: dict, section: str) -> dict:
    levels: dict[str, dict] = {}
    for ours in _get(result, section, "ours") or []:
        clients = ours.get("clients")
        theirs = level_for(result, "baseline", clients, section)
        if "error" in ours or theirs is None:
            continue
        entry = {
            "latency_p50": ratio(_get(theirs, "latency_ms", "p50"), _get(ours, "latency_ms", "p50")),
            "latency_p95": ratio(_get(theirs, "latency_ms", "p95"), _get(ours, "latency_ms", "p95")),
            "throughput": ratio(ours.get("answers_per_s"), theirs.get("answers_per_s")),
            "server_cpu": ratio(_get(theirs, "server", "cpu_percent"), _get(ours, "server", "cpu_percent")),
            "server_rss": ratio(_get(theirs, "server", "rss_peak_mb"), _get(ours, "server", "rss_peak_mb")),
        }
        if not theirs.get("answers_per_s") and ours.get("answers_per_s"):
            # The baseline answered nothing in the window: the ratio is unbounded; give a floor
            # (as if it had answered one frame).
            entry["throughput_at_least"] = round(ours["answers_per_s"] * ours["duration_s"], 1)
        levels[str(clients)] = entry
    return levels


def evaluate_targets(result: dict) -> list[dict]:
    """This round's targets (#17): Socket.IO and HTTP with whole 280x280 canvas exports, preprocessing CPU."""
    one = level_for(result, "ours", 1, "socketio_canvas")
    fifty = level_for(result, "ours", 50, "socketio_canvas")
    http_ratio = _get(result, "ratios", "http_50_clients_throughput") or compute_ratios(result).get(
        "http_50_clients_throughput")
    soak_growth = _get(result, "soak", "rss", "growth_percent")
    loaded = [_get(level_for(result, "ours", 50, section), "server", "rss_peak_mb")
              for section in ("socketio", "socketio_canvas")]
    loaded = [mb for mb in loaded if mb is not None]
    pre = _get(result, "preprocessing", "ours") or {}
    budgets = _get(result, "preprocessing", "budget_cpu_ms") or {}
    rows = [
        ("batch-1 inference (Predictor, median)", "≤ 1 ms", _get(result, "inference", "predictor", "batch1",
                                                                "median_ms"), "ms",
         lambda v: v <= TARGETS["inference_batch1_ms"]),
        *[(f"preprocessing CPU, {name.replace('_', ' ')}", f"≤ {budget} ms", _get(pre, name, "cpu_ms"), "ms",
           lambda v, b=budget: v <= b) for name, budget in budgets.items()],
        ("Socket.IO round trip p50, 1 client, 280x280 canvas data URLs", "≤ 4 ms", _get(one, "latency_ms", "p50"),
         "ms", lambda v: v <= TARGETS["socketio_p50_1_client_ms"]),
        ("50 clients × 20 fps canvas data URLs: p95", "≤ 50 ms", _get(fifty, "latency_ms", "p95"), "ms",
         lambda v: v <= TARGETS["socketio_p95_50_clients_ms"]),
        ("50 clients × 20 fps canvas data URLs: answers a second", "≥ 900", _get(fifty, "answers_per_s"), "/s",
         lambda v: v >= TARGETS["socketio_answers_per_s_50_clients"]),
        ("50 clients: every client's newest frame answered", "all",
         None if fifty is None else f"{fifty['newest_answered']}/{fifty['clients']}", "",
         lambda _v: bool(fifty and fifty["all_newest_answered"])),
        ("HTTP upload p50, 1 client, 280x280 PNG", "≤ 6 ms", _get(result, "http", "ours", "1", "latency_ms", "p50"),
         "ms", lambda v: v <= TARGETS["http_p50_1_client_ms"]),
        ("HTTP throughput vs baseline at 50 clients", "≥ 15x", http_ratio, "x",
         lambda v: v >= TARGETS["throughput_ratio_50_clients"]),
        ("server + children RSS at 50 clients (peak)", "≤ 250 MB", max(loaded) if loaded else None, "MB",
         lambda v: v <= TARGETS["rss_under_load_mb"]),
        ("cold start (launch to /healthz ok, median)", "≤ 8 s", _get(result, "cold_start", "ours", "median_s"),
         "s", lambda v: v <= TARGETS["cold_start_s"]),
        ("RSS flat over the soak (last vs first minute)", "within 5%", soak_growth, "%",
         lambda v: abs(v) <= TARGETS["soak_rss_growth_percent"]),
    ]
    out = []
    for name, target, value, unit, check in rows:
        met = None if value is None else bool(check(value))
        out.append({"target": name, "goal": target, "value": value, "unit": unit, "met": met})
    return out
