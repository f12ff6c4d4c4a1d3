"""The folds of a rolling-origin backtest (:mod:`sweepcast.data.backtest`), run for one job.

Every family, network or baseline, gets a fresh model per fold, fit on the fold's training rows
with the run's trainer and seed and scored on the fold's validation windows in original units.
Nothing here talks to MLflow: the job logs what comes back (``cv_val_rmse``, its spread and the
per-fold curve). Per-epoch metrics are logged for the final fit only, so its curves stay one fit's.

The run's final fit comes first (in expanding mode it is the last fold): a trial pruned there per
epoch (selecting on ``val_rmse``) never pays for the other folds. Pruning, when a sweep selects on
``cv_val_rmse``: after each fit the running mean is reported (step = fits so far), and the folds
still to run are what pruning saves. Reporting per epoch inside a
fold would compare fold 1's early epochs with other trials' and say nothing about the folds to
come; fold-level reports compare like with like.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

import numpy as np

from sweepcast.data.backtest import fold_bounds, fold_data
from sweepcast.errors import TrialPruned
from sweepcast.fitting import fit, predict_split, seed_everything, val_rmse_callback
from sweepcast.metrics import rmse
from sweepcast.models import build_model, fitted_baseline

if TYPE_CHECKING:
    from sweepcast.data.pipeline import PreparedData
    from sweepcast.run_spec import RunSpec

log = logging.getLogger(__name__)

CURVE = "cv_val_rmse_by_fold"  # MLflow step = fold


def fold_scores(data: "PreparedData", spec: "RunSpec", report: Callable[[int, float], bool] | None = None,
                first: list[float] | None = None) -> list[float]:
    """Validation RMSE of every fold, in chronological order: ``first`` holds the final fit's (the
    last fold in expanding mode, run first so a trial pruned there skips the rest), the others are
    fit here. Raises TrialPruned when ``report`` says the running mean is not promising (reported
    after each fit, step = fits so far)."""
    backtest = spec.data.backtest
    folds = fold_bounds(data.bounds, backtest)
    todo = folds[:-1] if backtest.reuses_final_fit else folds
    done = list(first or [])
    if done and report is not None and report(len(done), float(np.mean(done))):
        raise TrialPruned(len(done), float(np.mean(done)), unit="fold")
    scores: list[float] = []
    for k, bounds in enumerate(todo, start=1):
        scores.append(score_fold(fold_data(data, bounds), spec))
        log.info("backtest fold %d/%d (%s): val RMSE %.4g on rows %d-%d, trained on rows %d-%d", k, backtest.folds,
                 backtest.mode, scores[-1], bounds.val[0], bounds.val[1] - 1, bounds.train[0], bounds.train[1] - 1)
        fits = len(done) + len(scores)
        if report is not None and report(fits, float(np.mean(done + scores))):
            raise TrialPruned(fits, float(np.mean(done + scores)), unit="fold")
    return scores + done  # chronological: the final fit's fold is the last


def score_fold(fold: "PreparedData", spec: "RunSpec") -> float:
    """A fresh model of the run's family fit on the fold; its validation RMSE in original units."""
    shape = (fold.timestep, len(fold.features))
    if spec.model.network:
        trainer = spec.trainer
        seed_everything(trainer.seed, trainer.deterministic)
        model = build_model(spec.model.config, shape, fold.task.outputs, fold.task)
        fit(model, fold, trainer, callbacks=[val_rmse_callback(fold)], show_bar=False)
        forecast = predict_split(model, fold, "val", trainer.batch_size)
    else:
        forecast = fitted_baseline(spec.model.config, fold, spec.trainer.seed).predict(fold, "val")
    return rmse(fold.target_matrix("val"), forecast)


def cv_metrics(scores: list[float]) -> dict[str, float]:
    """Mean and spread (sample standard deviation) over the folds."""
    values = np.asarray(scores, dtype=np.float64)
    return {"cv_val_rmse": float(values.mean()), "cv_val_rmse_std": float(values.std(ddof=1)),
            "cv_folds": float(len(values))}
