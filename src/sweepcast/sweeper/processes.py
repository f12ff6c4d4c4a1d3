"""The extra worker processes ``n_jobs`` starts on this machine: the same command, told its index.

Each runs the same sweep (:mod:`sweepcast.sweeper.session`) and takes trials as it frees up;
they coordinate only through the study's storage, like workers on other machines.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

from sweepcast.errors import SweepcastError
from sweepcast.sweeper.context import STARTED_ENV, WORKER_ENV
from sweepcast.sweeper.events import SWEEP_LOG

log = logging.getLogger(SWEEP_LOG)


class WorkerProcesses:
    """Worker 0's children: started after the queue is ready, waited for, or stopped."""

    def __init__(self, n_jobs: int) -> None:
        self.n_jobs = n_jobs
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, started: float) -> None:
        """``n_jobs - 1`` more processes of this same command, each taking trials as it frees up;
        ``started`` (Unix time) is the sweep's start, so every worker's "elapsed" counts from it."""
        for index in range(1, self.n_jobs):
            env = {**os.environ, WORKER_ENV: str(index), STARTED_ENV: repr(started)}
            self.processes.append(subprocess.Popen([sys.executable, *sys.argv], env=env))
        if self.processes:
            log.info("started %d more worker processes (pids %s)", len(self.processes),
                     ", ".join(str(p.pid) for p in self.processes))

    def wait(self, study_name: str) -> None:
        """Wait for this machine's workers; one that stopped the sweep (status 2) stops it here too."""
        codes = {process.pid: process.wait() for process in self.processes}
        failed = {pid: code for pid, code in codes.items() if code != 0}
        if failed:
            pid, code = next(iter(failed.items()))
            raise SweepcastError(f"worker process {pid} stopped with status {code} (its log above says why); "
                                 f"rerun the same command to continue study '{study_name}'")

    def stop(self) -> None:
        """Ctrl-C each worker (its trial ends uncounted and is requeued); kill one that hangs."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
