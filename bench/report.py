"""The readable end of a run: a plain-text table and the latency/throughput plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _num(value: Any, unit: str = "", digits: int | None = None) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if digits is None:
        digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f}{unit}"


def _ratio(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:,.2f}x" if value < 10 else f"{value:,.0f}x"


def _grid(header: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [indent + "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                for i, (c, w) in enumerate(zip(header, widths, strict=True)))]
    lines.append(indent + "  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(indent + "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    return lines


def _g(data: Any, *path: Any) -> Any:
    for key in path:
        if isinstance(data, dict):
            data = data.get(key)
        else:
            return None
    return data


def table(result: dict) -> str:
    meta = result.get("meta", {})
    ratios = result.get("ratios", {})
    settings = meta.get("settings", {})
    out = [
        f"Digit recogniser benchmark — {settings.get('mode', '?')} run, {meta.get('date', '?')}, "
        f"{meta.get('cpu_count')} CPUs ({meta.get('cpu_model')}), load average before "
        f"{'/'.join(str(x) for x in meta.get('load_average_before', []))}",
        "ratio = times better than the baseline (> 1: ours better)",
    ]
    if settings.get("mode") == "quick":
        out.append("QUICK SETTINGS: a smoke run; the figures are not a measurement.")

    inference = result.get("inference") or {}
    if inference:
        out += ["", "Inference, median per call"]
        rows = [[f"batch {size[5:]}", _num(_g(inference, "predictor", size, "median_ms"), " ms"),
                 _num(_g(inference, "predictor", size, "per_image_ms"), " ms"),
                 _num(_g(inference, "model_predict", size, "median_ms"), " ms"),
                 _ratio(ratios.get(f"inference_{size}"))]
                for size in ("batch1", "batch32")]
        out += _grid(["", "Predictor", "per image", "model.predict", "ratio"], rows)

    pre = result.get("preprocessing") or {}
    if pre:
        out += ["", "Preprocessing, from what arrives to the 28x28 (ours: MNIST-style pipeline; baseline: resize to "
                "28x28 + invert): median wall time and CPU time (the least of five batches' means; the mean of every "
                "call beside it), malloc set as in the server's children"]
        rows = []
        for name, info in (pre.get("inputs") or {}).items():
            size = "x".join(str(v) for v in info.get("size", []))
            label = f"{name} ({size} {info.get('mode', '')} {info.get('format', '')} {info.get('as', '')}, " \
                    f"{_num(info.get('bytes', 0) / 1024, ' KiB', 1)})"
            budget = _g(pre, "budget_cpu_ms", name)
            rows.append([label, _num(_g(pre, "ours", name, "median_ms"), " ms"),
                         _num(_g(pre, "ours", name, "cpu_ms"), " ms"),
                         _num(_g(pre, "ours", name, "cpu_ms_mean"), " ms"),
                         "–" if budget is None else f"≤ {budget} ms",
                         _num(_g(pre, "ours", name, "decode_cpu_ms"), " ms"),
                         _num(_g(pre, "baseline", name, "median_ms"), " ms"),
                         _num(_g(pre, "baseline", name, "cpu_ms"), " ms"),
                         _num(_g(pre, "baseline", name, "decode_cpu_ms"), " ms"),
                         _ratio(ratios.get(f"preprocessing_{name}"))])
        out += _grid(["input", "ours", "ours CPU", "(mean)", "budget", "of it decoding", "baseline", "base CPU",
                      "Pillow decoding", "ratio"], rows)

    cold = result.get("cold_start") or {}
    if any(_g(cold, kind, "runs_s") for kind in cold):
        out += ["", "Cold start: launch to /healthz ok"]
        rows = [[kind, _num(_g(cold, kind, "median_s"), " s"), _num(_g(cold, kind, "min_s"), " s"),
                 str(len(_g(cold, kind, "runs_s") or []))] for kind in cold]
        rows.append(["ratio", _ratio(ratios.get("cold_start")), "", ""])
        out += _grid(["server", "median", "min", "launches"], rows)

    http = result.get("http") or {}
    if http.get("ours"):
        size = "x".join(str(v) for v in _g(http, "image", "size") or [])
        out += ["", f"HTTP POST /api/predict, {size} PNG ({http.get('form')})"]
        rows = []
        for clients in http["ours"]:
            ours, base = http["ours"][clients], _g(http, "baseline", clients) or {}
            rows.append([f"{clients} client(s)", _num(_g(ours, "latency_ms", "p50"), " ms"),
                         _num(_g(ours, "latency_ms", "p95"), " ms"), _num(ours.get("requests_per_s")),
                         _num(_g(base, "latency_ms", "p50"), " ms"), _num(_g(base, "latency_ms", "p95"), " ms"),
                         _num(base.get("requests_per_s")),
                         f"{_ratio(ratios.get(f'http_{clients}_clients_p50'))} / "
                         f"{_ratio(ratios.get(f'http_{clients}_clients_p95'))} / "
                         f"{_ratio(ratios.get(f'http_{clients}_clients_throughput'))}"])
        out += _grid(["", "ours p50", "p95", "req/s", "base p50", "p95", "req/s", "ratio p50/p95/req/s"], rows)

    for section, flow in SOCKET_SECTIONS:
        out += _socket_section(result, section, flow)
    if any(result.get(section) for section, _ in SOCKET_SECTIONS):
        out += ["  CPU in % of one core (machine: whole machine, of "
                f"{(meta.get('cpu_count') or 0) * 100}%)",
                "  unanswered: frames never answered: superseded by latest-wins, or (both servers) still unread "
                "or queued when the wait ended",
                "  srv read: share of the frames sent that the server had read off its sockets (its /api/stats)",
                "  newest: clients whose last frame was answered within the wait after sending stopped"]

    soak = result.get("soak")
    if soak and "error" not in soak:
        rss = soak.get("rss") or {}
        lat = soak.get("latency_ms") or {}
        out += ["", f"Soak: {soak.get('clients')} clients x {settings.get('fps')} fps for {soak.get('duration_s')} s",
                f"  RSS first {rss.get('window_s')} s {_num(rss.get('first_window_mean_mb'), ' MB')}, last "
                f"{_num(rss.get('last_window_mean_mb'), ' MB')} ({_num(rss.get('growth_percent'), '%')}); "
                f"min {_num(rss.get('min_mb'), ' MB')}, max {_num(rss.get('max_mb'), ' MB')}",
                f"  latency p50 {_num(lat.get('p50'), ' ms')}, p95 {_num(lat.get('p95'), ' ms')}; "
                f"{_num(soak.get('answers_per_s'))} answers/s; newest answered "
                f"{soak.get('newest_answered')}/{soak.get('clients')}; server CPU "
                f"{_num(_g(soak, 'server', 'cpu_percent'), '%', 0)}"]
    elif soak:
        out += ["", f"Soak failed: {soak.get('error')}"]

    targets = result.get("targets") or []
    if targets:
        out += ["", "Targets"]
        rows = [[t["target"], t["goal"], _num(t["value"], (" " + t["unit"]) if t["unit"] else "")
                 if not isinstance(t["value"], str) else t["value"],
                 {True: "met", False: "MISSED", None: "not measured"}[t["met"]]] for t in targets]
        out += _grid(["", "goal", "measured", ""], rows)
    return "\n".join(out)


SOCKET_SECTIONS = (
    ("socketio", "page frames, open loop: every client sends on every tick"),
    ("socketio_closed_loop", "page frames, closed loop: one frame in flight per client, like the page; a tick is "
                             "skipped while waiting (up to 1 s)"),
    ("socketio_canvas", "whole 280x280 canvas exports as data URLs, open loop"),
    ("socketio_canvas_1000", "whole 1000x1000 canvas exports as data URLs, open loop"),
)


def _read_share(level: dict) -> str:
    """How many of the frames sent the server had read off its sockets by the end of the wait."""
    received = _g(level, "server_stats", "received")
    if received is None or not level.get("frames_sent"):
        return "–"
    return _num(100 * received / level["frames_sent"], "%", 0)


def _socket_section(result: dict, section: str, flow: str) -> list[str]:
    sio = result.get(section) or {}
    if not (sio.get("ours") or sio.get("baseline")):
        return []
    settings = _g(result, "meta", "settings") or {}
    out = ["", f"Socket.IO, {flow}: N clients x {settings.get('fps')} fps for {settings.get('duration')} s",
           f"  frames: {_g(sio, 'frames', 'kind')}, median {_g(sio, 'frames', 'bytes_median')} B"]
    rows = []
    for kind in ("ours", "baseline"):
        for level in sio.get(kind) or []:
            if "error" in level:
                rows.append([f"{kind} {level.get('clients')}", "error: " + level["error"][:60]] + [""] * 11)
                continue
            lat = level.get("latency_ms", {})
            rows.append([f"{kind} {level['clients']}", _num(lat.get("p50"), " ms"), _num(lat.get("p95"), " ms"),
                         _num(lat.get("p99"), " ms"), _num(level.get("answers_per_s")),
                         _num(level.get("send_rate_per_s")),
                         f"{_num((level.get('dropped_fraction') or 0) * 100, '%', 0)}",
                         _read_share(level),
                         f"{level.get('newest_answered')}/{level.get('clients')}",
                         _num(_g(level, "server", "cpu_percent"), "%", 0),
                         _num(_g(level, "server", "rss_peak_mb"), " MB", 0),
                         _num(level.get("client_cpu_percent"), "%", 0),
                         _num(_g(level, "server", "machine_cpu_percent"), "%", 0)])
    out += _grid(["clients", "p50", "p95", "p99", "answers/s", "sent/s", "unanswered", "srv read", "newest",
                  "srv CPU", "srv RSS", "cli CPU", "machine"], rows)
    levels = _g(result, "ratios", section) or {}
    if levels:
        rows = []
        for clients, entry in levels.items():
            throughput = _ratio(entry.get("throughput"))
            if entry.get("throughput_at_least"):
                throughput = f"> {_ratio(entry['throughput_at_least'])}"
            rows.append([f"{clients} client(s)", _ratio(entry.get("latency_p50")),
                         _ratio(entry.get("latency_p95")), throughput, _ratio(entry.get("server_cpu")),
                         _ratio(entry.get("server_rss"))])
        out += ["  ratios (times better than the baseline)"]
        out += _grid(["", "p50", "p95", "answers/s", "srv CPU", "srv RSS"], rows)
    return out


def plot(result: dict, path: Path) -> None:
    """Latency p50/p95 and answers per second against the number of clients, ours and the baseline.

    One row for each kind of load measured: page frames open loop (the spec's) and closed loop,
    whole canvas exports open loop.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meta = result.get("meta", {})
    settings = meta.get("settings", {})
    sections = [(key, title) for key, title in
                (("socketio", "page frames, open loop: every client sends 20 frames/s"),
                 ("socketio_closed_loop", "page frames, closed loop: one frame in flight per client"),
                 ("socketio_canvas", "280x280 canvas data URLs, open loop"),
                 ("socketio_canvas_1000", "1000x1000 canvas data URLs, open loop"))
                if (result.get(key) or {}).get("ours")]
    fig, axes = plt.subplots(len(sections), 2, figsize=(11, 4.2 * len(sections)), dpi=110, squeeze=False)
    for (key, title), (left, right) in zip(sections, axes, strict=True):
        _plot_row(result[key], settings, left, right, title)
    fig.suptitle(f"Digit recogniser (eventlet, latest-wins micro-batching) vs tutorial baseline "
                 f"(model.predict per frame) — {meta.get('cpu_count')} CPU cores, {meta.get('date', '')[:10]}, "
                 f"{settings.get('mode')} run", fontsize=9.5)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _plot_row(sio: dict, settings: dict, left: Any, right: Any, title: str) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fps = settings.get("fps", 20)
    colours = {"ours": "#1f6feb", "baseline": "#d9480f"}
    offered: dict[int, float] = {}
    floor = 0.5  # where "answered nothing" sits on the log throughput axis
    all_clients: set[int] = set()
    for kind in ("ours", "baseline"):
        levels = [lv for lv in sio.get(kind) or [] if "error" not in lv]
        if not levels:
            continue
        all_clients.update(lv["clients"] for lv in levels)
        with_latency = [lv for lv in levels if lv["latency_ms"].get("p50") is not None]
        xs = [lv["clients"] for lv in with_latency]
        left.plot(xs, [lv["latency_ms"]["p50"] for lv in with_latency], "o-", color=colours[kind],
                  label=f"{kind} p50")
        left.plot(xs, [lv["latency_ms"]["p95"] for lv in with_latency], "s--", color=colours[kind], alpha=0.6,
                  label=f"{kind} p95")
        for lv in with_latency:
            if not lv.get("all_newest_answered"):  # the contract's promise broken: say so on the plot
                left.annotate(f"newest {lv['newest_answered']}/{lv['clients']}",
                              (lv["clients"], lv["latency_ms"]["p50"]), textcoords="offset points",
                              xytext=(6, -4) if kind == "ours" else (-22, 10), fontsize=6.5, color=colours[kind])
        right.plot([lv["clients"] for lv in levels], [max(lv["answers_per_s"], floor) for lv in levels], "o-",
                   color=colours[kind], label=kind)
        for lv in levels:
            offered[lv["clients"]] = max(offered.get(lv["clients"], 0), lv.get("send_rate_per_s") or 0)
            if not lv["answers_per_s"]:
                right.annotate("0", (lv["clients"], floor), textcoords="offset points",
                               xytext=(-3, 6), fontsize=7, color=colours[kind])
    if offered:
        xs = sorted(offered)
        right.plot(xs, [max(offered[x], floor) for x in xs], ":", color="grey", label="frames sent per second")
    left.axhline(50, color="grey", lw=0.8, ls=":")
    left.axhline(5, color="grey", lw=0.8, ls=":")
    ticks = sorted(all_clients)
    for axis in (left, right):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xticks(ticks)
        axis.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
        axis.set_xlabel(f"concurrent Socket.IO clients, up to {fps:g} frames/s each")
        axis.grid(True, which="major", alpha=0.3)
    left.set_ylabel("send → prediction latency, ms (log)")
    left.set_title(f"Latency of answered frames — {title}", fontsize=8.5)
    right.set_ylabel("answers per second (log)")
    right.set_title(f"Throughput (0 = nothing answered) — {title.split(':')[0]}", fontsize=8.5)
    left.legend(fontsize=7, loc="best")
    right.legend(fontsize=7, loc="upper left")
