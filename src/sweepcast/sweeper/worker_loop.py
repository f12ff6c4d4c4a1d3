"""One process's worker loop: claim a trial, run its job, record the outcome, tell the listeners.

Claiming happens under the queue lock (after failing stale trials, whose parameters go back in
the queue), so no two workers anywhere take the same trial and none runs past ``n_trials``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import datetime
from typing import Any, Sequence

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from sweepcast.disk_space import DiskFull, describe, is_disk_full, release
from sweepcast.errors import SweepcastError
from sweepcast.sweeper.events import SWEEP_LOG, StudyView, SweepListener, TrialFinished
from sweepcast.sweeper.internals import trial_id
from sweepcast.sweeper.plan import Plan
from sweepcast.sweeper.stopping import STOPPED, Stopper
from sweepcast.sweeper.study import FAIL_REASON, claim_next, fail_stale, heartbeat, queue_lock
from sweepcast.sweeper.trial_job import JobRunner, job_error, outcome

log = logging.getLogger(SWEEP_LOG)

MIN_TRIALS_FOR_FAILURE_RATE = 4


class WorkerLoop:
    """Claims, runs and records trials; what follows an outcome is up to the listeners."""

    def __init__(self, plan: Plan, study: optuna.Study, storage: Any, jobs: JobRunner,
                 listeners: Sequence[SweepListener], launched: datetime, stopper: Stopper | None = None) -> None:
        self.plan, self.study, self.storage, self.jobs, self.stopper = plan, study, storage, jobs, stopper
        self.listeners = listeners
        self.launched = launched  # failures before this launch do not count toward max_failure_rate

    def work(self) -> None:
        """Claim and run trials until none is left to claim, or the stopper says stop."""
        while True:
            with queue_lock(self.plan.storage_url):
                fail_stale(self.study)
                if self.should_stop():
                    return
                trial = claim_next(self.study, self.storage, self.plan.n_trials, unique_params=self.plan.grid is not None)
            if trial is None:
                return
            self.run_trial(trial)

    def should_stop(self) -> bool:
        """A spent time budget or a plateau: said once, and kept on the study (the parent run shows it)."""
        if self.stopper is None:
            return False
        stored = self.study.user_attrs.get(STOPPED)
        reason = stored or self.stopper.reason(self.study.get_trials(deepcopy=False))
        if reason and reason != stored:
            self.study.set_user_attr(STOPPED, reason)
            log.info("no more trials are claimed: %s; rerun the same command to continue", reason)
        return bool(reason)

    def work_until_settled(self) -> None:
        """After the workers exit: wait out a dead worker's heartbeat and run its retried trial."""
        settings = self.plan.settings
        deadline = time.monotonic() + settings.grace_period + 2 * settings.heartbeat_interval
        while time.monotonic() < deadline:
            self.work()  # retries queued after this process's loop ended
            waiting = () if self.study.user_attrs.get(STOPPED) else (TrialState.WAITING,)  # stopped: they stay queued
            if not self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING, *waiting)):
                return
            time.sleep(settings.heartbeat_interval)

    def run_trial(self, trial: optuna.Trial) -> None:
        """Run one claimed trial; Ctrl-C or a full disk at any point after the claim requeues its
        parameters."""
        try:
            with heartbeat(self.storage, trial_id(trial), self.plan.settings.heartbeat_interval):
                trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
                try:
                    overrides = self.jobs.overrides(trial)
                except Exception as err:  # noqa: BLE001 - a broken custom space fails the trial, not the sweep
                    if is_disk_full(err):
                        raise
                    self.record(trial, "FAIL", None, f"search space: {type(err).__name__}: {err}")
                    return
                trial.set_user_attr("overrides", overrides)
                result = self.jobs.launch(trial, overrides)
            if is_disk_full(job_error(result)):
                raise job_error(result)  # type: ignore[misc]
            self.record(trial, *outcome(result, trial.number))
        except KeyboardInterrupt:
            self.requeue_interrupted(trial)
            raise
        except Exception as err:
            if not is_disk_full(err):
                raise
            release()  # room to put the trial back in the queue
            if self.storage.get_trial(trial_id(trial)).state == TrialState.RUNNING:
                self.requeue_interrupted(trial)
                raise DiskFull(f"{describe(err)}; trial {trial.number} is queued again") from err
            raise

    def record(self, trial: optuna.Trial, state: str, value: float | None, reason: str | None) -> None:
        """Tell Optuna the outcome, tell the listeners, then judge the failure rate."""
        try:
            if reason:
                trial.set_user_attr(FAIL_REASON, reason[:2000])
            if state == "COMPLETE":
                self.study.tell(trial, value)
            else:
                self.study.tell(trial, state=TrialState[state])
        except (UpdateFinishedTrialError, ValueError, RuntimeError) as err:
            log.warning("trial %d was declared dead after missed heartbeats and requeued elsewhere; "
                        "its result is dropped (%s)", trial.number, err)
            return
        event = TrialFinished(trial.number, state, value, reason, StudyView.read(self.study))
        for listener in self.listeners:
            listener.trial_finished(event)
        recent = [t for t in event.view.counted if t.datetime_start and t.datetime_start >= self.launched]
        check_failure_rate(recent, [t for t in recent if t.state == TrialState.FAIL],
                           self.plan.settings.max_failure_rate)

    def requeue_interrupted(self, trial: optuna.Trial) -> None:
        """Ctrl-C (or a full disk): the trial ends FAIL (uncounted) and its parameters wait for the rerun."""
        frozen = self.storage.get_trial(trial_id(trial))
        trial.set_user_attr("interrupted", True)
        self.study.tell(trial, state=TrialState.FAIL)
        self.study.add_trial(optuna.create_trial(state=TrialState.WAITING, params=frozen.params,
                                                 distributions=frozen.distributions))


class FailureRateExceeded(SweepcastError):
    """Too many failed trials: the sweep stops, its report shows what finished."""


def check_failure_rate(counted: list[FrozenTrial], failed: list[FrozenTrial], rate: float) -> None:
    """Abort when too many of this launch's finished trials failed (earlier failures, maybe
    fixed since, do not count); judged once ``MIN_TRIALS_FOR_FAILURE_RATE`` have finished, as the
    README says, so a grid smaller than that always runs every point and writes its report."""
    if len(counted) < MIN_TRIALS_FOR_FAILURE_RATE or len(failed) <= rate * len(counted):
        return
    raise FailureRateExceeded(
        f"{len(failed)} of {len(counted)} trials failed, above hydra.sweeper.max_failure_rate={rate}; "
        f"last: {failed[-1].user_attrs.get(FAIL_REASON)}")
