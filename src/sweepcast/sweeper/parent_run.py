"""The sweep's MLflow parent run: one per study, holding its search space and best result.

Worker 0 creates it (or reopens it when the study is continued) while the study is opened, and
closes it when no trial is left anywhere; every worker updates it after each trial it finished
(best value, trial counts, ``best.<param>`` tags), so the MLflow UI shows progress live. It talks
to MLflow only through :mod:`sweepcast.tracking`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import optuna
from optuna.trial import TrialState

from sweepcast import tracking
from sweepcast.redaction import redact
from sweepcast.sweeper import outputs
from sweepcast.sweeper.events import SWEEP_LOG, SweepFinished, TrialFinished
from sweepcast.sweeper.plan import Plan

log = logging.getLogger(SWEEP_LOG)

PARENT_ATTR = "mlflow_parent_run_id"  # the study's user attribute naming its parent run


class ParentRun:
    """The parent run as one process sees it; only the ``owner`` (worker 0) starts and ends it."""

    def __init__(self, plan: Plan, experiment_id: str, owner: bool) -> None:
        self.plan, self.experiment_id, self.owner = plan, experiment_id, owner
        self.run_id = ""
        self.closed = False

    # -- opening (called by sweepcast.sweeper.opening under the queue lock) --

    def start(self, previous: optuna.Study | None) -> None:
        """Reopen the run a continued study names, else create one (owner only)."""
        known = previous.user_attrs.get(PARENT_ATTR) if previous else None
        self.run_id = tracking.start_sweep_run(self.experiment_id, known, f"sweep {self.plan.study_name}", self.tags())

    def attach(self, study: optuna.Study) -> None:
        """The owner records its run on the study (with the sweep's params, once per run); the
        other workers read the run from the study."""
        if not self.owner:
            self.run_id = str(study.user_attrs.get(PARENT_ATTR, ""))
        elif study.user_attrs.get(PARENT_ATTR) != self.run_id:
            tracking.log_sweep_params(self.run_id, self.params())
            study.set_user_attr(PARENT_ATTR, self.run_id)

    def end(self, status: str, reason: str | None = None) -> None:
        """Close the run (FINISHED, or FAILED / KILLED with the reason on it), once: an error
        raised after the sweep closed it (every trial failed) must not close it again."""
        if not self.closed:
            tracking.end_sweep_run(self.run_id, status, reason)
            self.closed = True

    def stop(self, status: str, reason: str) -> None:
        """The sweep stopped early (Ctrl-C, an error): the owner closes its run if it has one."""
        if self.owner and self.run_id:
            self.end(status, reason)

    # -- listening --

    def trial_finished(self, event: TrialFinished) -> None:
        """Best value and trial counts as metrics (step: trials done), the best trial as tags."""
        if not self.run_id:
            return
        view = event.view
        summary = outputs.best_summary(view.study, view.best, self.plan.space, self.plan.metric)
        tracking.update_sweep_run(self.run_id, {
            "best_value": view.best.value if view.best else None,
            "trials_complete": sum(t.state == TrialState.COMPLETE for t in view.counted),
            "trials_pruned": sum(t.state == TrialState.PRUNED for t in view.counted),
            "trials_failed": sum(t.state == TrialState.FAIL for t in view.counted),
        }, step=len(view.counted), tags=self.best_tags(summary))

    def sweep_finished(self, event: SweepFinished) -> None:
        """Attach the final files and close the run, unless trials are still open elsewhere
        (the machine that finishes the last of them closes it)."""
        if not event.settled:
            log.info("%d trials still running or queued elsewhere; the parent run stays open", len(event.open_trials))
            return
        folder = self.plan.sweep_dir
        tracking.log_sweep_files(self.run_id, [folder / "best.yaml", folder / "trials.csv"])
        if event.stopped:
            tracking.update_sweep_run(self.run_id, {}, step=len(event.view.counted), tags={"stopped": event.stopped})
        failed = event.all_failed
        self.end("FAILED" if failed else "FINISHED", failed)
        log.info("MLflow parent run %s; browse it with: %s", self.run_id,
                 tracking.ui_hint(str(self.plan.tracking["uri"])))

    # -- what the run shows --

    def tags(self) -> dict[str, str]:
        return {"sweep": "true", "study_name": self.plan.study_name, "sweep_dir": str(self.plan.sweep_dir),
                **tracking.git_tags()}

    def params(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "study_name": plan.study_name, "metric": plan.metric, "direction": plan.direction,
            "mode": "grid" if plan.grid is not None else "sample",
            "sampler": json.dumps(plan.settings.sampler), "pruner": json.dumps(plan.settings.pruner),
            "storage": redact(plan.storage_url), "fixed_overrides": " ".join(plan.space.fixed) or "-",
            **{f"space.{p.name}": p.describe() for p in plan.space.params},
        }

    def best_tags(self, summary: dict[str, Any] | None) -> dict[str, str]:
        tags = {"n_trials": str(self.plan.n_trials)}
        if summary:
            tags.update({"best_trial": str(summary["best_trial"]), "best_override": summary["override"],
                         **{f"best.{k}": str(v) for k, v in summary["params"].items()}})
        return tags
