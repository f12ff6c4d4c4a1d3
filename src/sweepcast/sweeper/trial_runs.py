"""MLflow runs of trials that cannot close their own: every trial has a run, and none stays RUNNING.

A job normally opens and ends its own child run (:mod:`sweepcast.job`). Two cases it cannot
handle: a job that failed before it opened a run (a data error, a broken custom search space)
gets a FAILED run with the reason; a trial whose worker process died (no heartbeat) has its
still-RUNNING run closed as KILLED when another worker notices.
"""

from __future__ import annotations

from typing import Any

from sweepcast import tracking
from sweepcast.sweeper.events import SweepFinished, TrialFinished
from sweepcast.sweeper.parent_run import ParentRun
from sweepcast.sweeper.plan import Plan


class TrialRuns:
    """Runs for failed trials without one (a listener), and closing dead workers' runs."""

    def __init__(self, plan: Plan, experiment_id: str, parent: ParentRun) -> None:
        self.plan, self.experiment_id, self.parent = plan, experiment_id, parent

    def trial_finished(self, event: TrialFinished) -> None:
        if event.state == "FAIL" and "mlflow_run_id" not in event.trial.user_attrs:
            tracking.record_failed_run(self.experiment_id, f"trial {event.number}", event.reason or "failed",
                                       {"mlflow.parentRunId": self.parent.run_id, "trial_number": str(event.number),
                                        "study_name": self.plan.study_name})

    def sweep_finished(self, event: SweepFinished) -> None:
        """Nothing: every trial's run was settled when the trial was."""

    def close_abandoned(self, trial: Any) -> None:
        """The storage's stale-trial callback: end the dead worker's run as KILLED."""
        run_id = trial.user_attrs.get("mlflow_run_id")
        if run_id:
            tracking.close_abandoned_run(run_id, f"trial {trial.number}: its worker process died (no heartbeat "
                                                 f"for {self.plan.settings.grace_period} s)")
