"""The command line and the serve loop: `realtime-digits`, `python -m realtime` and `python server.py`.

`realtime-digits [--host H] [--port P] [--model PATH] [--async-mode M] [--message-queue URL]`; each flag
has an environment variable (DIGITS_HOST, DIGITS_PORT, DIGITS_MODEL_PATH, DIGITS_ASYNC_MODE,
DIGITS_MESSAGE_QUEUE) and a flag wins over it. The line with the URL is printed only once the model is loaded, warmed up
and the port is listening.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import sys

from .config import DEFAULTS, from_environment
from .runtime import eventlet_server_options, exit_within, prepare_process, threading_server

# After a stop signal the server is gone within this long, even if the orderly stop hangs.
STOP_WITHIN_S = 4.0
_stopped: list[bool] = []  # set once the orderly stop is done

ASYNC_MODES = ("eventlet", "threading")


def parse_args(argv: list[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """The command line. A flag's default is its DIGITS_* variable (read by `config`), else the built-in default."""
    settings = {**DEFAULTS, **from_environment()}
    parser = argparse.ArgumentParser(
        prog=prog, description="Live handwritten-digit recogniser (Flask + Socket.IO + LiteRT).")
    parser.add_argument("--host", default=settings["HOST"],
                        help="interface to bind (default 127.0.0.1; 0.0.0.0 to serve a classroom LAN)")
    parser.add_argument("--port", type=int, default=settings["PORT"], help="port (default 5000; 0 picks a free one)")
    parser.add_argument("--model", default=settings["MODEL_PATH"],
                        help="LiteRT .tflite model (a .keras one where TensorFlow is installed; default: shipped)")
    parser.add_argument("--async-mode", choices=ASYNC_MODES, default=settings["ASYNC_MODE"])
    parser.add_argument("--allowed-origins", default=",".join(settings["ALLOWED_ORIGINS"]),
                        help="comma-separated extra origins allowed to open Socket.IO connections")
    parser.add_argument("--message-queue", default=settings["MESSAGE_QUEUE"],
                        help="Redis URL shared by several server processes, e.g. redis://127.0.0.1:6379/0 "
                             "(class rooms and Socket.IO messages; docs/classrooms.md)")
    parser.add_argument("--allowed-hosts", default=",".join(settings["ALLOWED_HOSTS"]),
                        help="comma-separated extra Host names answered (loopback and the listening "
                             "addresses always are; '*' for any)")
    args = parser.parse_args(argv)
    if args.async_mode not in ASYNC_MODES:  # from the environment: argparse checks only flags
        parser.error(f"DIGITS_ASYNC_MODE must be one of {', '.join(ASYNC_MODES)}, not {args.async_mode!r}")
    return args


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    args = parse_args(argv, prog)
    prepare_process(args.async_mode)  # before Flask and Socket.IO are imported

    from .app import create_app

    config = {"HOST": args.host, "PORT": args.port, "ASYNC_MODE": args.async_mode, "MODEL_PATH": args.model,
              "ALLOWED_ORIGINS": [origin.strip() for origin in args.allowed_origins.split(",") if origin.strip()],
              "MESSAGE_QUEUE": args.message_queue,
              "ALLOWED_HOSTS": [host.strip() for host in args.allowed_hosts.split(",") if host.strip()]}
    try:
        app = create_app(config)
    except FileNotFoundError as exc:
        sys.exit(f"error: {exc}")
    scheduler = app.extensions["digits"].scheduler

    failed = False
    try:
        if args.async_mode == "eventlet":
            _serve_eventlet(app, args.host, args.port)
        else:
            _serve_threading(app, args.host, args.port)
    except KeyboardInterrupt:
        pass
    except SystemExit as stop:  # a signal (code 0), or a port that cannot be had
        failed = stop.code not in (None, 0)
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr, flush=True)
    finally:
        scheduler.stop()
        _stopped.append(True)
        print("server stopped", flush=True)
    if failed:
        sys.exit(1)


def _cannot_listen(host: str, port: int, exc: OSError) -> str:
    return f"error: cannot listen on {host}:{port}: {exc.strerror or exc}"


ANY_HOST = ("0.0.0.0", "", "::")
# Addresses a UDP socket is "connected" to only to ask the OS which interface would route there
# (no packet is sent): on a classroom Wi-Fi with no internet one of the private ranges still is.
_PROBES = ("10.255.255.255", "172.31.255.255", "192.168.255.255", "203.0.113.1")


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback and link-local: what students can type."""
    found: list[str] = []
    with contextlib.suppress(OSError):  # a hostname that does not resolve: the probes may still find some
        found += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    for probe in _PROBES:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, contextlib.suppress(OSError):
            udp.connect((probe, 9))  # no route to that range: nothing to learn from it
            found.append(udp.getsockname()[0])
    usable = [a for a in found if not a.startswith(("127.", "169.254.", "0."))]
    return list(dict.fromkeys(usable))


def ready_line(host: str, port: int, lan: list[str] | None = None) -> str:
    """One line with the URL: bound to every interface, the URL for this machine and the ones students
    type (`http://0.0.0.0:5000/` is no address anyone can open)."""
    if host in ANY_HOST:
        addresses = lan_addresses() if lan is None else lan
        students = ", ".join(f"http://{a}:{port}/" for a in addresses) or "no network address found: is Wi-Fi on?"
        return f"Digit recogniser ready on http://127.0.0.1:{port}/ (students: {students})"
    shown = f"[{host}]" if ":" in host else host
    return f"Digit recogniser ready on http://{shown}:{port}/"


def _ready(host: str, port: int) -> None:
    print(ready_line(host, port), flush=True)


def _arm_stop_deadline() -> None:
    from .prep_pool import kill_all_children

    exit_within(STOP_WITHIN_S, before_exit=kill_all_children, exit_code=lambda: 0 if _stopped else 1)


def _serve_eventlet(app, host: str, port: int) -> None:
    import eventlet
    import eventlet.wsgi

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        # Not eventlet's default SO_REUSEPORT: with it a second server on a port in use starts
        # without a word and takes half of the new connections.
        listener = eventlet.listen((host, port), family=family, reuse_port=False)
    except OSError as exc:
        raise SystemExit(_cannot_listen(host, port, exc)) from exc
    requested: list[int] = []

    def request_stop(signum, _frame):
        # Only note it: under eventlet a handler runs in whichever green thread is current, and
        # an exception raised there would kill that thread (or be swallowed), not the server.
        if not requested:
            _arm_stop_deadline()
        requested.append(signum)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    options = eventlet_server_options(app.config["MAX_CONNECTIONS"], app.config["HEADER_TIMEOUT_S"])
    serving = eventlet.spawn(eventlet.wsgi.server, listener, app, **options)
    _ready(host, listener.getsockname()[1])
    while not requested and not serving.dead:
        eventlet.sleep(0.1)
    listener.close()  # not serving.kill(): wsgi.server would wait for every open websocket


def _serve_threading(app, host: str, port: int) -> None:
    def stop(signum, _frame):
        _arm_stop_deadline()
        raise SystemExit(0)  # unwinds serve_forever() in the main thread

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server = threading_server(host, port, app, app.config["MAX_CONNECTIONS"], app.config["HEADER_TIMEOUT_S"])
    except OSError as exc:
        raise SystemExit(_cannot_listen(host, port, exc)) from exc
    _ready(host, server.socket.getsockname()[1])
    try:
        server.serve_forever()
    finally:
        server.server_close()
