"""Forecast metrics in original units, so numbers mean viewers per minute, not scaled values.

Every metric pools all values it is given: ``[windows, horizon]`` arrays are flattened, so an
RMSE is the root of the mean squared error over every window and step (scikit-learn would
instead average per-column RMSEs), the same number a horizon-1 run gives for one step.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

from sweepcast.data.checkins import haversine_km

HIGHER_IS_BETTER = ("r2", "skill", "acc1", "acc5", "acc10", "mrr")  # metric name endings; every other is an error


def higher_is_better(metric: str) -> bool:
    """Whether a logged metric improves upward (R², skill, Acc@k, MRR), which sets a sweep's and
    an export's default direction."""
    return metric.endswith(HIGHER_IS_BETTER)


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(root_mean_squared_error(np.ravel(y_true), np.ravel(y_pred)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(mean_absolute_error(np.ravel(y_true), np.ravel(y_pred)))


def r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Coefficient of determination; NaN when the truth is constant (R² is undefined then)."""
    y_true, y_pred = np.ravel(y_true), np.ravel(y_pred)
    if np.ptp(y_true) == 0:
        return float("nan")
    return float(r2_score(y_true, y_pred))


def smape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Symmetric MAPE in percent (0-200). A step where truth and forecast are both 0 counts
    as a perfect 0, which matters for livestream series full of zero minutes."""
    y_true, y_pred = np.ravel(y_true).astype(np.float64), np.ravel(y_pred).astype(np.float64)
    denominator = np.abs(y_true) + np.abs(y_pred)
    ratio = np.divide(2.0 * np.abs(y_pred - y_true), denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return float(100.0 * ratio.mean())


def forecast_metrics(y_true: np.ndarray, y_pred: np.ndarray, prefix: str) -> dict[str, float]:
    """``{prefix}_rmse, _mae, _r2, _smape`` for one split, pooled over every window and step."""
    return {
        f"{prefix}_rmse": rmse(y_true, y_pred),
        f"{prefix}_mae": mae(y_true, y_pred),
        f"{prefix}_r2": r2(y_true, y_pred),
        f"{prefix}_smape": smape(y_true, y_pred),
    }


def skill(model_rmse: float, baseline_rmse: float) -> float:
    """``1 - rmse / baseline_rmse``: > 0 beats the baseline, 1 is perfect; NaN if the baseline is perfect."""
    if baseline_rmse == 0:
        return float("nan")
    return 1.0 - model_rmse / baseline_rmse


def per_step(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, list[float]]:
    """RMSE and MAE of each horizon step (columns of ``[windows, horizon]`` arrays): how error grows
    with lead time."""
    y_true, y_pred = np.reshape(y_true, (len(y_true), -1)), np.reshape(y_pred, (len(y_pred), -1))
    steps = range(y_true.shape[1])
    return {
        "rmse": [rmse(y_true[:, k], y_pred[:, k]) for k in steps],
        "mae": [mae(y_true[:, k], y_pred[:, k]) for k in steps],
    }


def checkin_metrics(true: np.ndarray, pred: np.ndarray, true_scaled: np.ndarray, pred_scaled: np.ndarray,
                    prefix: str) -> dict[str, float]:
    """A check-in split's scores: ``[windows, 3]`` (gap hours, lat, lon) in original and scaled units.

    ``rmse``/``mae`` pool the three scaled values and ``r2`` averages the three columns' R², as the
    check-in study reported them (so its 0.086 / 0.354 compare); ``km_median``/``km_mean`` are
    great-circle misses and ``dt_minutes_mae`` the gap error, in units a user can act on.
    """
    km = haversine_km(true[:, 1], true[:, 2], pred[:, 1], pred[:, 2])
    columns = [c for c in range(3) if np.ptp(true_scaled[:, c]) > 0]  # R² is undefined on a constant column
    scores = {
        f"{prefix}_rmse": rmse(true_scaled, pred_scaled),
        f"{prefix}_mae": mae(true_scaled, pred_scaled),
        f"{prefix}_r2": float(np.mean([r2(true_scaled[:, c], pred_scaled[:, c]) for c in columns])) if columns
        else float("nan"),
        f"{prefix}_km_median": float(np.median(km)),
        f"{prefix}_km_mean": float(np.mean(km)),
        f"{prefix}_dt_minutes_mae": mae(true[:, 0] * 60.0, pred[:, 0] * 60.0),
    }
    for c, name in enumerate(("dt", "lat", "lon")):
        scores[f"{prefix}_rmse_{name}"] = rmse(true_scaled[:, c], pred_scaled[:, c])
    return scores


RANK_DEPTH = 10  # rankers return their 10 best places: Acc@1/5/10 and MRR@10


def ranking_metrics(true: np.ndarray, ranked: np.ndarray, prefix: str) -> dict[str, float]:
    """``{prefix}_acc1/_acc5/_acc10/_mrr`` of ``ranked`` (``[windows, <=10]`` place indices, best
    first, -1 padding) against ``true`` (``[windows]``). MRR counts a hit at rank r as 1/r and a
    miss in the top 10 as 0 (MRR@10, as next-POI papers report it); a true index of 0 (``other``)
    never matches, since no ranker may answer it."""
    true = np.asarray(true).reshape(-1, 1)
    hits = (np.asarray(ranked) == true) & (true > 0)
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)
    reciprocal = np.divide(1.0, first, out=np.zeros(len(first)), where=first > 0)
    return {
        **{f"{prefix}_acc{k}": float(np.mean((first > 0) & (first <= k))) for k in (1, 5, 10)},
        f"{prefix}_mrr": float(reciprocal.mean()),
    }


def acc_skill(model_acc1: float, baseline_acc1: float) -> float:
    """``acc1 / baseline_acc1 - 1``: > 0 beats the baseline (0.1 is 10 % more hits); NaN if it never hits."""
    if baseline_acc1 == 0:
        return float("nan")
    return model_acc1 / baseline_acc1 - 1.0
