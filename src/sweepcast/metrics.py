"""Forecast metrics in original units, so numbers mean viewers per minute, not scaled values."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(root_mean_squared_error(y_true, y_pred))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(mean_absolute_error(y_true, y_pred))


def r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Coefficient of determination; NaN when the truth is constant (R² is undefined then)."""
    if np.ptp(np.asarray(y_true)) == 0:
        return float("nan")
    return float(r2_score(y_true, y_pred))


def smape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Symmetric MAPE in percent (0-200). A step where truth and forecast are both 0 counts
    as a perfect 0, which matters for livestream series full of zero minutes."""
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    denominator = np.abs(y_true) + np.abs(y_pred)
    ratio = np.divide(2.0 * np.abs(y_pred - y_true), denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return float(100.0 * ratio.mean())


def forecast_metrics(y_true: np.ndarray, y_pred: np.ndarray, prefix: str) -> dict[str, float]:
    """``{prefix}_rmse, _mae, _r2, _smape`` for one split."""
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
