"""What a sweep tells the parts that watch it: a trial finished, the sweep finished.

The worker loop only claims, runs and records trials; everything that reacts to an outcome (the
progress lines, ``best.yaml`` and ``trials.csv``, the report, the MLflow parent run) is a
:class:`SweepListener`, called in the order the session lists them. Each event carries one read of
the study, taken right after the outcome was stored, so every listener sees the same trials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweepcast.sweeper.outputs import best_trial
from sweepcast.sweeper.stopping import STOPPED
from sweepcast.sweeper.study import FAIL_REASON, is_counted

SWEEP_LOG = "sweepcast.sweep"  # the logger of the sweep's own lines (its name is shown in every line)


@dataclass(frozen=True)
class StudyView:
    """The study and its trials as read once after an outcome was stored."""

    study: optuna.Study
    trials: list[FrozenTrial]
    counted: list[FrozenTrial]  # finished for the budget (see sweepcast.sweeper.study)
    best: Any  # the best COMPLETE trial, or None

    @classmethod
    def read(cls, study: optuna.Study) -> "StudyView":
        trials = study.get_trials(deepcopy=False)
        return cls(study, trials, [t for t in trials if is_counted(t)], best_trial(study, trials))


@dataclass(frozen=True)
class TrialFinished:
    """A trial this process ran was told to Optuna (``state`` COMPLETE, PRUNED or FAIL)."""

    number: int
    state: str
    value: float | None
    reason: str | None  # why it failed (also its fail_reason attribute), else None
    view: StudyView

    @property
    def trial(self) -> FrozenTrial:
        """The finished trial as stored (its user attributes include what the job recorded)."""
        return next(t for t in self.view.trials if t.number == self.number)


@dataclass(frozen=True)
class SweepFinished:
    """Worker 0 has nothing left to claim and its other processes have exited."""

    view: StudyView

    @property
    def stopped(self) -> str | None:
        """Why the sweep stopped claiming before n_trials (a time budget, a plateau), else None."""
        return self.view.study.user_attrs.get(STOPPED)

    @property
    def open_trials(self) -> list[FrozenTrial]:
        """Trials still RUNNING or WAITING: workers on other machines are not done yet (a stopped
        sweep leaves WAITING trials queued for its rerun: only RUNNING ones are open)."""
        open_states = (TrialState.RUNNING,) if self.stopped else (TrialState.RUNNING, TrialState.WAITING)
        return [t for t in self.view.trials if t.state in open_states]

    @property
    def settled(self) -> bool:
        """No trial is left anywhere: the study is complete and the parent run may close."""
        return not self.open_trials

    @property
    def all_failed(self) -> str | None:
        """When every counted trial failed (none completed or pruned): why, in one line, else None.
        Such a sweep found nothing, so it ends FAILED and exits 2 once its report is written."""
        counted = self.view.counted
        if not counted or any(t.state != TrialState.FAIL for t in counted):
            return None
        last = counted[-1].user_attrs.get(FAIL_REASON) or "see the trial folders"
        return f"all {len(counted)} trials failed; last: {last}"


class SweepListener(Protocol):
    """Reacts to a sweep's events; a listener needing only one of them leaves the other empty."""

    def trial_finished(self, event: TrialFinished) -> None:
        """Called in every worker process after each trial it ran was recorded."""

    def sweep_finished(self, event: SweepFinished) -> None:
        """Called once, in worker 0, when its sweep ends normally (not on Ctrl-C or an error)."""
