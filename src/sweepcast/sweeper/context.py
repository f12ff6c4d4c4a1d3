"""What a job running inside a sweep knows about its trial, without importing Optuna.

The sweeper runs each job in its own process (Hydra's in-process launcher) and activates a
:class:`TrialContext` around it; ``sweepcast.job`` reads :func:`current` to nest its MLflow run
under the sweep's parent, tell the trial its run id, and report validation RMSE per epoch.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

WORKER_ENV = "SWEEPCAST_SWEEP_WORKER"  # set in the extra processes n_jobs starts: their worker index
STARTED_ENV = "SWEEPCAST_SWEEP_STARTED"  # and worker 0's start (Unix time): one "elapsed" for every worker
_ACTIVE: list["TrialContext"] = []


@dataclass
class TrialContext:
    number: int
    study_name: str
    experiment_id: str
    parent_run_id: str
    # report(epoch, value) -> True when the pruner stops the trial
    report: Callable[[int, float], bool] | None = None
    direction: str = "minimize"  # the study's: a job reports only an epoch metric that goes the same way
    attach_run: Callable[[str], None] = field(default=lambda run_id: None)

    def run_tags(self) -> dict[str, str]:
        """Tags that nest the job's MLflow run under the sweep's parent run."""
        return {
            "mlflow.parentRunId": self.parent_run_id,
            "trial_number": str(self.number),
            "study_name": self.study_name,
        }


def current() -> TrialContext | None:
    """The trial of the job running now, or None outside a sweep."""
    return _ACTIVE[-1] if _ACTIVE else None


@contextmanager
def activate(context: TrialContext) -> Iterator[TrialContext]:
    _ACTIVE.append(context)
    try:
        yield context
    finally:
        _ACTIVE.remove(context)
