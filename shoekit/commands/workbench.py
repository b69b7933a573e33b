"""`shoekit workbench`: open the Streamlit workbench (workbench/app.py) on the run folders."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

RUNS_ENV = "SHOEKIT_RUNS"
DEFAULT_PORT = 8501
STOP_TIMEOUT_S = 10
BROWSER_DELAY_S = 3.0  # seconds before opening the browser: the server is up by then
PRIMARY_COLOUR = "#1f4e9c"  # a calm blue for sliders and buttons (Streamlit's default is red)
# OpenMP threads sleep instead of spinning while they wait: on a busy 2-core machine spinning made
# each of the How-it-works page's model passes about 10x slower (measured: Grad-CAM of a 64 px pair
# 2.1 s against 0.23 s, load average 9). Must be in the server's environment before torch loads.
OMP_PASSIVE = ("OMP_WAIT_POLICY", "PASSIVE")


def workbench_app() -> Path:
    """app.py of the installed `workbench` package (shipped in shoekit's wheel; in a source checkout
    or editable install, the repository's workbench/)."""
    from importlib.util import find_spec

    from shoekit.errors import ShoekitError

    spec = find_spec("workbench")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    app = Path(folders[0]) / "app.py" if folders else None
    if app is None or not app.is_file():
        raise ShoekitError(f"{app or 'the workbench package'}: the workbench app is not installed; reinstall "
                           "shoekit (`pip install .` in its source folder) so that it brings workbench/")
    return app


def streamlit_command(app: Path, port: int) -> list[str]:
    """The `python -m streamlit run` command line for the app: always headless, so Streamlit never
    asks its first-run e-mail question (which stops a run without a terminal) nor opens a browser
    itself (`serve` does, where there is a display)."""
    import sys

    return [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "minimal", "--theme.primaryColor", PRIMARY_COLOUR]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "workbench", help="open the Streamlit workbench on trained runs",
        description="Start the shoekit workbench (a Streamlit app) on localhost: match and explain "
        "queries with Grad-CAM, compare runs' CMC curves and metrics, browse ranked galleries and the "
        "CCTV simulation, and search the gallery with your own CCTV frames or videos. It reads run "
        "folders made by shoekit train + evaluate (or shoekit demo) and never retrains. Ctrl+C stops it.")
    parser.add_argument("--runs", type=Path, default=None, metavar="DIR",
                        help=f"folder of run folders (default: ${RUNS_ENV}, else demo/runs, or "
                        "demo/runs with --demo)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, metavar="N",
                        help="port on localhost to serve the workbench on (default: %(default)s)")
    parser.add_argument("--demo", action="store_true",
                        help="first build, train and evaluate the embedded demo into demo/ if it is not "
                        "there yet (shoekit demo; a few minutes on 2 CPU cores)")
    parser.add_argument("--no-browser", action="store_true",
                        help="do not open a web browser; just serve (default: open one where there is a "
                        "display to open it on)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import importlib.util
    import logging

    from shoekit.demo import DemoSettings, run_demo
    from shoekit.errors import ShoekitError

    if importlib.util.find_spec("streamlit") is None:
        raise ShoekitError("streamlit is not installed in this Python; install it with "
                           "`pip install streamlit` (or reinstall shoekit with its dependencies)")
    app = workbench_app()
    check_port(args.port)
    runs = args.runs or (DemoSettings().out / "runs" if args.demo else None)
    if args.demo:
        run_demo(DemoSettings())
    if args.runs is not None and not args.runs.is_dir():
        raise ShoekitError(f"--runs {args.runs}: no such folder; give the folder that holds your run folders "
                           f"(shoekit train --out {args.runs}/NAME makes one), or start with --demo")
    env = dict(os.environ)
    env.setdefault(*OMP_PASSIVE)
    if runs is not None:
        env[RUNS_ENV] = str(runs)
    url = f"http://localhost:{args.port}"
    logging.getLogger(__name__).info("serving the workbench at %s on runs in %s; Ctrl+C stops it",
                                     url, env.get(RUNS_ENV, "demo/runs"))
    print(f"shoekit workbench: open {url} in a browser", flush=True)
    code = serve(streamlit_command(app, args.port), env,
                 browse=url if not args.no_browser and has_display() else None)
    print(f"workbench stopped (streamlit exit code {code})")
    return code


def check_port(port: int) -> None:
    """ShoekitError when `port` cannot be served on (in use, or out of range), before anything starts."""
    import socket

    from shoekit.errors import ShoekitError

    if not 1 <= port <= 65535:
        raise ShoekitError(f"--port {port}: not a port number; give one from 1024 to 65535")
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: a closed one's port is free
        try:
            probe.bind(("", port))
        except OSError as error:
            raise ShoekitError(f"--port {port}: cannot serve on it ({error.strerror or error}); another "
                               f"workbench may be running there: open http://localhost:{port}, stop it, or "
                               "choose another port with --port N") from None


def has_display() -> bool:
    """Whether a browser window could be shown: macOS and Windows, or an X11/Wayland display."""
    import sys

    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def serve(command: list[str], env: dict[str, str], browse: str | None = None) -> int:
    """Run streamlit (standard input closed: it never waits on a prompt) until it exits, opening
    `browse` in the user's browser a few seconds after the start when given; a SIGTERM or Ctrl+C
    here stops it too (no orphan server)."""
    import signal
    import subprocess
    import threading
    import webbrowser

    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
    if browse is not None:
        threading.Timer(BROWSER_DELAY_S, webbrowser.open, [browse]).start()
    previous = signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        return process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
