"""One process's part in a sweep, start to end: open the study, run the worker loop, finish.

Worker 0 (the command the user typed) also owns the study's set-up (MLflow parent run, queued
trials, the extra ``n_jobs`` processes) and its end (final files, report, parent run status).
The pieces live in their own modules; this one wires them and owns what happens on Ctrl-C
or an error: this machine's workers stop and the parent run is closed, never left RUNNING.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna

from sweepcast import disk_space, tracking
from sweepcast.errors import SweepcastError
from sweepcast.sweeper.context import STARTED_ENV
from sweepcast.sweeper.events import SWEEP_LOG, StudyView, SweepFinished, SweepListener
from sweepcast.sweeper.opening import open_study, queue_trials
from sweepcast.sweeper.parent_run import ParentRun
from sweepcast.sweeper.plan import Plan, custom_search_space
from sweepcast.sweeper.processes import WorkerProcesses
from sweepcast.sweeper.progress import ProgressLines, SummaryLines
from sweepcast.sweeper.report_page import ReportPage
from sweepcast.sweeper.stopping import Stopper
from sweepcast.sweeper.study import StaleTrialHandler, open_storage
from sweepcast.sweeper.sweep_files import SweepFiles, write_multirun
from sweepcast.sweeper.trial_job import JobRunner
from sweepcast.sweeper.trial_runs import TrialRuns
from sweepcast.sweeper.worker_loop import FailureRateExceeded, WorkerLoop

log = logging.getLogger(SWEEP_LOG)


class SweepSession:
    """The sweep as run by worker ``worker`` of this command, with Hydra's ``config`` and launcher."""

    def __init__(self, plan: Plan, worker: int, config: Any, launcher: Any) -> None:
        self.plan, self.worker, self.config, self.launcher = plan, worker, config, launcher
        self.custom = custom_search_space(plan.settings.custom_search_space)
        self.started = float(os.environ.get(STARTED_ENV) or time.time())  # worker 0's start, for every worker
        self.launched = datetime.now()  # failures before this launch do not count toward max_failure_rate
        self.processes = WorkerProcesses(plan.settings.n_jobs)

    def run(self) -> float | None:
        """The best value when this process is done (None before any trial completed)."""
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # our progress lines replace Optuna's
        plan = self.plan
        experiment_id = tracking.open_experiment(plan.tracking, plan.experiment)
        self.parent = ParentRun(plan, experiment_id, owner=self.worker == 0)
        trial_runs = TrialRuns(plan, experiment_id, self.parent)
        storage = open_storage(plan.storage_url, plan.settings.heartbeat_interval, plan.settings.grace_period,
                               StaleTrialHandler(plan.settings.max_retry, trial_runs.close_abandoned))
        study = open_study(plan, storage, self.worker, self.parent)
        signal.signal(signal.SIGTERM, interrupt)  # schedulers stop jobs with SIGTERM: same as Ctrl-C
        # the order the listeners hear each event in: see sweepcast.sweeper.progress for why two lists of lines
        listeners: list[SweepListener] = [trial_runs, ProgressLines(plan, self.started), SweepFiles(plan),
                                          SummaryLines(plan, self.started), ReportPage(plan), self.parent]
        jobs = JobRunner(plan, self.config, self.launcher, self.custom, experiment_id, self.parent)
        settings = plan.settings
        stopper = Stopper(settings.timeout, settings.patience, settings.min_delta, plan.direction, self.started) \
            if settings.timeout is not None or settings.patience is not None else None
        loop = WorkerLoop(plan, study, storage, jobs, listeners, self.launched, stopper)
        disk_space.quiet_log_files()
        with disk_space.reserve([plan.sweep_dir, *self.store_folder()]):
            return self.supervise(loop, study, listeners)

    def supervise(self, loop: WorkerLoop, study: optuna.Study, listeners: list[SweepListener]) -> float | None:
        """Run the worker loop to the end; whatever stops it early closes the parent run first."""
        plan = self.plan
        try:
            if self.worker == 0:
                write_multirun(plan.sweep_dir, self.config)
                queue_trials(plan, study)
                self.processes.start(self.started)
            loop.work()
            if self.worker == 0:
                self.processes.wait(plan.study_name)
                loop.work_until_settled()
            return self.finish(study, listeners)
        except KeyboardInterrupt:
            self.abort("KILLED", "interrupted by the user")
            log.error("sweep interrupted; rerun the same command to continue study '%s'", plan.study_name)
            sys.exit(130)
        except FailureRateExceeded as err:
            self.abort("FAILED", str(err))
            if self.worker == 0 and plan.settings.report and StudyView.read(study).best is not None:
                ReportPage(plan).write()  # the trials that did finish are worth a page
            raise
        except BaseException as err:  # noqa: BLE001 - never leave the parent RUNNING or workers orphaned
            if disk_space.is_disk_full(err):
                disk_space.release()
                err = disk_space.DiskFull(f"{disk_space.describe(err)}; free some space, then rerun the same "
                                          f"command to continue study '{plan.study_name}'")
            self.abort("FAILED", str(err) if isinstance(err, SweepcastError) else f"{type(err).__name__}: {err}")
            if isinstance(err, disk_space.DiskFull):
                raise err from None
            raise

    def finish(self, study: optuna.Study, listeners: list[SweepListener]) -> float | None:
        """Worker 0 tells the listeners the sweep is over (files, summary, report, parent run)."""
        view = StudyView.read(study)
        if self.worker == 0:
            event = SweepFinished(view)
            for listener in listeners:
                listener.sweep_finished(event)
            if event.settled and event.all_failed:
                raise SweepcastError(event.all_failed)
        return view.best.value if view.best else None

    def abort(self, status: str, reason: str) -> None:
        """Stop this machine's workers (their trials end KILLED and are requeued) and close the parent."""
        self.processes.stop()
        try:
            self.parent.stop(status, reason)
        except Exception as err:
            if not disk_space.is_disk_full(err):
                raise
            log.warning("the sweep's MLflow parent run could not be marked %s: the disk is still full", status)

    def store_folder(self) -> list[Path]:
        """The local MLflow store's folder, where closing the runs writes (none for a server)."""
        store = tracking.sqlite_path(tracking.resolve_tracking_uri(str(self.plan.tracking["uri"])))
        return [store.parent] if store else []


def interrupt(signum: int, frame: Any) -> None:
    """SIGTERM handler: stop the way Ctrl-C does."""
    raise KeyboardInterrupt(f"signal {signum}")
