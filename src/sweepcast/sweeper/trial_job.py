"""One claimed trial as a Hydra job in this process: its overrides, its context, its outcome.

The job runs in-process (Hydra's basic launcher), so TensorFlow is imported once per worker and
the job reaches its trial through :mod:`sweepcast.sweeper.context` (pruning reports, its MLflow
run nested under the sweep's parent).
"""

from __future__ import annotations

import gc
import logging
import math
import re
import sys
from typing import Any, Callable

import optuna
from hydra.core.utils import JobReturn, JobStatus
from optuna.exceptions import UpdateFinishedTrialError

from sweepcast.errors import SweepcastError, TrialPruned
from sweepcast.sweeper.context import TrialContext, activate
from sweepcast.sweeper.events import SWEEP_LOG
from sweepcast.sweeper.internals import job_return_value
from sweepcast.sweeper.parent_run import ParentRun
from sweepcast.sweeper.plan import CustomSpace, Plan
from sweepcast.sweeper.space import suggest

log = logging.getLogger(SWEEP_LOG)

PLAIN_VALUE = re.compile(r"^[\w./:-]+$")
Outcome = tuple[str, float | None, str | None]  # (state, value, fail reason)


class JobRunner:
    """Builds a trial's overrides and launches its job with the trial's context active."""

    def __init__(self, plan: Plan, config: Any, launcher: Any, custom: CustomSpace | None, experiment_id: str,
                 parent: ParentRun) -> None:
        self.plan, self.config, self.launcher, self.custom = plan, config, launcher, custom
        self.experiment_id, self.parent = experiment_id, parent

    def overrides(self, trial: optuna.Trial) -> list[str]:
        """The trial's overrides: the space's values, then any define-by-run extras."""
        overrides = self.plan.space.overrides(suggest(trial, self.plan.space))
        if self.custom is None:
            return overrides
        extra = self.custom(self.config, trial)
        if extra is not None and not isinstance(extra, dict):
            raise TypeError(f"custom_search_space must return a dict of overrides or None, got {type(extra).__name__}")
        return [*overrides, *(f"{key}={value}" for key, value in (extra or {}).items())]

    def launch(self, trial: optuna.Trial, overrides: list[str]) -> JobReturn:
        """Run the job in ``sweep_dir/trial_<n>``; the result holds its return value or exception."""
        plan = self.plan
        context = TrialContext(
            number=trial.number, study_name=plan.study_name, experiment_id=self.experiment_id,
            parent_run_id=self.parent.run_id, report=reporter(trial), direction=plan.direction,
            attach_run=lambda run_id: trial.set_user_attr("mlflow_run_id", run_id),
        )
        job = [*overrides, f"hydra.sweep.dir={quote(str(plan.sweep_dir))}", f"hydra.sweep.subdir=trial_{trial.number}"]
        with activate(context):
            result = self.launcher.launch([job], initial_job_idx=trial.number)[0]
        free_memory()
        return result  # type: ignore[no-any-return]


def reporter(trial: optuna.Trial) -> Callable[[int, float], bool]:
    """``report(epoch, value) -> stop?`` for the job's pruning callback."""
    def report(epoch: int, value: float) -> bool:
        try:
            trial.report(value, epoch)
            return trial.should_prune()
        except UpdateFinishedTrialError:  # marked stale elsewhere (missed heartbeats): stop
            log.warning("trial %d was declared dead after missed heartbeats; stopping it", trial.number)
            return True

    return report


def job_error(result: JobReturn) -> BaseException | None:
    """The exception a failed job raised (None for one that completed)."""
    if result.status == JobStatus.COMPLETED:
        return None
    error = job_return_value(result)
    return error if isinstance(error, BaseException) else None


def outcome(result: JobReturn, number: int) -> Outcome:
    """(state, value, fail reason) of a finished job. Hydra does not log a job's exception
    itself: a bug is logged here with its traceback, a user error with its one line."""
    if result.status == JobStatus.COMPLETED:
        value = job_return_value(result)
        try:
            number_value = float(value)
        except (TypeError, ValueError):
            return "FAIL", None, f"the job returned {value!r}, not a number"
        if not math.isfinite(number_value):
            return "FAIL", None, f"the job returned {number_value}"
        return "COMPLETE", number_value, None
    error = job_return_value(result)
    if isinstance(error, TrialPruned):
        return "PRUNED", error.value, None
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    reason = f"{type(error).__name__}: {first}"
    if isinstance(error, SweepcastError):
        log.warning("trial %d failed: %s", number, first)  # the job already logged the one line
    else:
        log.error("trial %d failed: %s", number, reason, exc_info=error)
    return "FAIL", None, reason


def quote(value: str) -> str:
    """A value safe inside a Hydra override."""
    if PLAIN_VALUE.match(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def free_memory() -> None:
    """Drop the finished trial's graphs so a long sweep does not grow (without importing Keras)."""
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session()  # runs gc.collect() itself
    else:
        gc.collect()
