"""The sweep's log lines: one per finished trial, and a summary when the sweep ends.

``trial 7/30  #6 PRUNED  4.213  best 3.871 (#2)  elapsed 4m10s  ETA 13m20s`` replaces Optuna's
own per-trial logging. Two listeners because the session calls them at different points: the
trial line comes before that trial's files are rewritten, the summary after the final files, so
the command it names is already in ``best.yaml``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sweepcast.clock import clock
from sweepcast.sweeper import outputs
from sweepcast.sweeper.events import SWEEP_LOG, SweepFinished, TrialFinished
from sweepcast.sweeper.plan import Plan

log = logging.getLogger(SWEEP_LOG)


class ProgressLines:
    """One progress line per trial this process finished."""

    def __init__(self, plan: Plan, started: float) -> None:
        self.plan, self.started = plan, started  # started: Unix time worker 0 began the sweep (all workers)

    def trial_finished(self, event: TrialFinished) -> None:
        view = event.view
        line = outputs.progress_line(len(view.counted), self.plan.n_trials, event.number, event.state, event.value,
                                     view.best, time.time() - self.started, self.eta(view.counted))
        timeout = self.plan.settings.timeout
        if timeout is not None:  # hydra.sweeper.timeout: what is left of this launch's budget
            line += f"  budget left {clock(max(timeout - (time.time() - self.started), 0.0))}"
        log.info(line)

    def sweep_finished(self, event: SweepFinished) -> None:
        """Nothing: :class:`SummaryLines` writes the end of the sweep."""

    def eta(self, counted: list[Any]) -> float | None:
        """Seconds left: the mean trial duration so far times the trials left, shared by the
        ``n_jobs`` processes of this machine; None before any trial has a duration."""
        durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in counted
                     if t.datetime_complete and t.datetime_start]
        remaining = self.plan.n_trials - len(counted)
        if not durations or remaining <= 0:
            return 0.0 if remaining <= 0 else None
        return sum(durations) / len(durations) * remaining / self.plan.settings.n_jobs


class SummaryLines:
    """The trial counts by state, the time taken, and the best value with its command."""

    def __init__(self, plan: Plan, started: float) -> None:
        self.plan, self.started = plan, started

    def trial_finished(self, event: TrialFinished) -> None:
        """Nothing: :class:`ProgressLines` writes the per-trial lines."""

    def sweep_finished(self, event: SweepFinished) -> None:
        plan, view = self.plan, event.view
        by_state = {s: sum(t.state.name == s for t in view.counted) for s in ("COMPLETE", "PRUNED", "FAIL")}
        log.info("study '%s': %d/%d trials done (%s) in %s", plan.study_name, len(view.counted), plan.n_trials,
                 ", ".join(f"{n} {s.lower()}" for s, n in by_state.items()), clock(time.time() - self.started))
        summary = outputs.best_summary(view.study, view.best, plan.space, plan.metric)
        if summary:
            log.info("best %s %.6g (trial %d): %s", plan.metric, summary["best_value"], summary["best_trial"],
                     summary["command"])
