"""What a sweep leaves in its folder and its log: ``best.yaml``, ``trials.csv``, progress lines.

Files are rewritten whole after every finished trial (:func:`sweepcast.files.write_atomic`), so
a reader, or a worker on another machine, never sees half a file. The listeners that call these
after each trial are in :mod:`sweepcast.sweeper.sweep_files` and :mod:`sweepcast.sweeper.progress`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState

from sweepcast.clock import clock
from sweepcast.files import write_atomic
from sweepcast.sweeper.space import SearchSpace


def best_trial(study: optuna.Study, trials: list[Any] | None = None) -> Any:
    """The best COMPLETE trial among ``trials`` (default: the study's), or None
    (``study.best_trial`` raises when there is none)."""
    complete = [t for t in (study.get_trials(deepcopy=False) if trials is None else trials)
                if t.state == TrialState.COMPLETE]
    if not complete:
        return None
    pick = min if study.direction.name == "MINIMIZE" else max
    return pick(complete, key=lambda t: t.value)


def trial_overrides(trial: Any, space: SearchSpace) -> list[str]:
    """The overrides the trial ran with (stored on it), else rebuilt from its parameters."""
    stored = trial.user_attrs.get("overrides")
    if stored:
        return list(stored)
    known = {p.name for p in space.params}
    return space.overrides({k: v for k, v in trial.params.items() if k in known})


def best_summary(study: optuna.Study, best: Any, space: SearchSpace, metric: str) -> dict[str, Any] | None:
    """What ``best.yaml`` holds for the best trial the caller already picked (None: no best yet);
    the parent run's tags and the final log line show the same."""
    if best is None:
        return None
    overrides = trial_overrides(best, space)
    return {
        "study_name": study.study_name,
        "metric": metric,
        "direction": study.direction.name.lower(),
        "best_value": float(best.value),
        "best_trial": best.number,
        "params": dict(best.params),
        "override": " ".join(overrides),
        "command": " ".join(["python train.py", *overrides]),
        "mlflow_run_id": best.user_attrs.get("mlflow_run_id"),
    }


def write_best(folder: Path, study: optuna.Study, best: Any, space: SearchSpace, metric: str) -> dict[str, Any] | None:
    """``best.yaml`` for the best trial the caller already picked (None: nothing to write yet)."""
    summary = best_summary(study, best, space, metric)
    if summary is not None:
        # no line folding: the command must paste into a shell as one line (issue 16.5)
        write_atomic(folder / "best.yaml", yaml.safe_dump(summary, sort_keys=False, allow_unicode=True, width=2**31))
    return summary


def write_trials(folder: Path, study: optuna.Study) -> None:
    """``trials.csv``: every trial of the study, one row each, with its parameters and attributes."""
    frame = study.trials_dataframe(attrs=("number", "state", "value", "datetime_start", "datetime_complete",
                                          "duration", "params", "user_attrs"))
    write_atomic(folder / "trials.csv", frame.to_csv(index=False))


def progress_line(done: int, total: int, number: int, state: str, value: float | None, best: Any,
                  elapsed: float, eta: float | None) -> str:
    """``trial 3/10  COMPLETE  4.912  best 4.871 (#1)  elapsed 1m02s  ETA 3m40s``"""
    shown = "-" if value is None else f"{value:.5g}"
    best_text = "-" if best is None else f"{best.value:.5g} (#{best.number})"
    eta_text = "-" if eta is None else clock(eta)
    return (f"trial {done}/{total}  #{number} {state}  {shown}  best {best_text}  "
            f"elapsed {clock(elapsed)}  ETA {eta_text}")
