"""A smoke run of the benchmark harness (`python -m bench --quick`): structure and sanity, no timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest

from realtime.paths import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[2]


def _processes_marked(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("BENCH_SMOKE_MARK") == marker:
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


@pytest.mark.slow
def test_quick_run_writes_sane_results(tmp_path: Path) -> None:
    output, plot = tmp_path / "latest.json", tmp_path / "plot.png"
    marker = uuid.uuid4().hex  # inherited by every process the harness starts
    command = [sys.executable, "-m", "bench", "--quick", "--model", str(DEFAULT_MODEL), "--levels", "2",
               "--duration", "1", "--grace", "1.5", "--http-duration", "0.5", "--http-clients", "1,3",
               "--client-procs", "1",
               "--repeats", "5",
               "--output", str(output), "--plot", str(plot)]
    env = {**os.environ, "BENCH_SMOKE_MARK": marker, "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=150)
    finally:
        leftovers = _processes_marked(marker)
        for process in leftovers:  # clean up before failing, so nothing outlives the test
            process.kill()
    assert done.returncode == 0, done.stderr[-3000:]
    assert not leftovers, f"processes left behind: {[p.pid for p in leftovers]}"
    assert "Targets" in done.stdout and "Socket.IO" in done.stdout
    assert plot.is_file() and plot.stat().st_size > 10_000

    result = json.loads(output.read_text())
    assert set(result) >= {"meta", "inference", "preprocessing", "cold_start", "http", "socketio",
                           "socketio_closed_loop", "socketio_canvas", "socketio_canvas_1000", "ratios", "targets"}
    assert result["meta"]["settings"]["mode"] == "quick"

    for path in ("predictor", "model_predict"):
        for size in ("batch1", "batch32"):
            entry = result["inference"][path][size]
            assert 0 < entry["median_ms"] < 60_000 and entry["n"] >= 1
    for side in ("ours", "baseline"):
        for name in ("canvas_snapshot", "canvas_280", "canvas_280_rgba", "canvas_280_rgb", "canvas_280_grey",
                     "canvas_1000_rgba", "photo_12mp"):
            assert result["preprocessing"][side][name]["median_ms"] > 0
            assert result["preprocessing"][side][name]["cpu_ms"] > 0
    assert result["preprocessing"]["inputs"]["photo_12mp"]["size"] == [4000, 3000]
    assert max(result["preprocessing"]["inputs"]["canvas_snapshot"]["size"]) <= 128

    for kind in ("ours", "baseline"):
        cold = result["cold_start"][kind]
        assert cold["runs_s"] and 0 < cold["median_s"] < 150
        for clients in ("1", "3"):
            http = result["http"][kind][clients]
            assert http["clients"] == int(clients)
            assert http["requests"] > 0 and http["errors"] == 0
            assert 0 < http["latency_ms"]["p50"] <= http["latency_ms"]["p95"]

        levels = [*result["socketio"][kind], *result["socketio_closed_loop"][kind], *result["socketio_canvas"][kind],
                  *result["socketio_canvas_1000"][kind]]
        assert [level["clients"] for level in levels] == [2, 2, 2, 1]
        for level in levels:
            assert "error" not in level, level
            assert level["connected"] == level["clients"]
            assert level["frames_sent"] > 0
            assert 0 <= level["answered"] <= level["frames_sent"]
            assert level["dropped"] == level["frames_sent"] - level["answered"] - level["errors"]
            assert 0 <= level["newest_answered"] <= level["clients"]
            assert level["server"]["rss_peak_mb"] > 0 and level["server"]["cpu_percent"] >= 0
            assert level["client_cpu_percent"] >= 0
            if level["answered"]:
                latency = level["latency_ms"]
                assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]

    assert all(level["ticks_skipped"] == 0 for level in result["socketio"]["ours"])  # open loop never waits
    ours_level = result["socketio"]["ours"][0]
    assert ours_level["answered"] > 0 and ours_level["errors"] == 0 and ours_level["out_of_order"] == 0
    for key in ("received", "superseded", "answered", "batches"):
        assert key in ours_level["server_stats"]
    assert 0 < ours_level["server_stats"]["received"] <= ours_level["frames_sent"]

    assert {"inference_batch1", "cold_start", "socketio", "socketio_closed_loop", "socketio_canvas"} <= set(
        result["ratios"])
    assert result["ratios"]["inference_batch1"] > 0
    names = [target["target"] for target in result["targets"]]
    assert len(names) == 15 and all(target["met"] in (True, False, None) for target in result["targets"])
