"""``python -m sweepcast ui``: MLflow's UI on the project's store, supervised.

Why not simply become ``mlflow ui`` (issue 16.2, measured on 2 cores): it printed "Uvicorn
running" long before it answered (about 100 s on a busy machine), started 4 uvicorn workers
plus a huey job runner with 7 consumers, and those outlived a SIGTERM to its PID by about 80 s.
So this module starts it as a child and:

- turns MLflow's job execution off (``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``): the huey
  consumers run MLflow's GenAI jobs (judges, prompt optimisation), which sweepcast never submits;
- sizes the uvicorn workers to the machine (cores / 2, 1 to 4): one person browsing needs one;
- says "ready" only once ``/health`` answers, with the seconds it took;
- runs the server in its own process group and, on SIGINT (Ctrl-C) or SIGTERM, stops the whole
  group: SIGTERM, then SIGKILL for whatever is left after :data:`STOP_GRACE` seconds;
- keeps the console to what matters: uvicorn's INFO lines (start-up, every request), MLflow's
  "Registry store URI not provided" and Starlette's deprecation warning about MLflow's own import
  are dropped; warnings and errors pass. ``SWEEPCAST_VERBOSE=1`` passes everything.

Standard library only: the MLflow server is a separate process.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Iterator

from sweepcast.console import verbose

log = logging.getLogger(__name__)

STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL for the server's process group
POLL = 0.25  # seconds between /health probes while it starts
SLOW_START = 20.0  # seconds after which one line says it is still starting
NOISE = re.compile(
    r"INFO:\s"  # uvicorn's start-up, shutdown and access lines
    r"|Registry store URI not provided"
    r"|^\[MLflow\] Security middleware enabled with default settings"  # loopback only: our default
)
# Starlette 1.x deprecates starlette.middleware.wsgi, which MLflow 3.17's FastAPI app imports
STARLETTE_WARNING = "ignore:starlette.middleware.wsgi is deprecated:UserWarning"


def ui_command(uri: str, host: str, port: int, workers: int) -> list[str]:
    """``mlflow ui`` on ``uri`` with this interpreter."""
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port),
            "--workers", str(workers)]


def default_workers() -> int:
    """Half the cores this process may use, 1 to 4 (MLflow's own default is always 4)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cores // 2))


def server_env() -> dict[str, str]:
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    if not verbose():
        env["PYTHONWARNINGS"] = ",".join(filter(None, (env.get("PYTHONWARNINGS"), STARLETTE_WARNING)))
    return env


class Stop(Exception):
    """SIGINT or SIGTERM arrived; :func:`serve_ui` stops the server's group."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def raise_stop(signum: int, _frame: object) -> None:
    raise Stop(signum)


def serve_ui(uri: str, host: str, port: int, workers: int | None = None) -> int:
    """Run the UI until it exits or a signal stops it; the exit status (128 + signal when stopped)."""
    workers = workers or default_workers()
    previous = {s: signal.signal(s, raise_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    server: subprocess.Popen[str] | None = None
    try:
        server = subprocess.Popen(ui_command(uri, host, port, workers), env=server_env(), start_new_session=True,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, errors="replace")
        threading.Thread(target=forward, args=(server.stdout,), daemon=True).start()
        started = time.monotonic()
        if wait_until_ready(server, probe_url(host, port), started):
            log.info("MLflow UI ready on http://%s:%d after %.0f s, %d worker%s (Ctrl-C stops it)", host, port,
                     time.monotonic() - started, workers, "" if workers == 1 else "s")
        status = server.wait()
        stop_group(server.pid)  # anything it left behind in its group
        if status:
            log.error("mlflow ui exited with status %d", status)
        return status
    except Stop as stop:
        if server is not None:
            log.info("stopping the MLflow UI")
            stop_group(server.pid, server)
        return 128 + stop.signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def wait_until_ready(server: subprocess.Popen[str], url: str, started: float) -> bool:
    """Poll ``url`` until it answers 200 (True) or the server exits first (False)."""
    said_slow = False
    while server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass
        if not said_slow and time.monotonic() - started > SLOW_START:
            log.info("MLflow UI still starting (its imports take tens of seconds on a busy machine)")
            said_slow = True
        time.sleep(POLL)
    return False


def probe_url(host: str, port: int) -> str:
    """Where this machine reaches the server: a wildcard address is reached on loopback."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}/health" if ":" in host else f"http://{host}:{port}/health"


def forward(stream: IO[str] | None) -> None:
    """The server's output to our stderr, line by line, without :data:`NOISE`."""
    if stream is None:
        return
    keep_all = verbose()
    for line in stream:
        if keep_all or not NOISE.search(line):
            sys.stderr.write(line)
            sys.stderr.flush()


def stop_group(pgid: int, leader: subprocess.Popen[str] | None = None) -> None:
    """SIGTERM to every process in the group, SIGKILL to those left after :data:`STOP_GRACE`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    send(pgid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while time.monotonic() < deadline:
        if leader is not None and leader.poll() is None:
            time.sleep(0.1)
            continue
        if not any(group_members(pgid)):
            return
        time.sleep(0.1)
    send(pgid, signal.SIGKILL)
    if leader is not None:
        leader.wait()


def send(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def group_members(pgid: int) -> Iterator[int]:
    """Live (not zombie) processes in the group: from /proc where there is one, else by signal 0."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        yield pgid
        return
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, _ppid, group = text[text.rindex(")") + 2:].split()[:3]
        if int(group) == pgid and state != "Z":
            yield int(stat.parent.name)
