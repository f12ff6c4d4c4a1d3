"""What a check-in run measures and logs once its model is fitted.

The counterpart of a series run's evaluation in :mod:`sweepcast.job`: metrics for val and test,
the last-check-in baseline on the same test windows (``baseline_test_*`` and ``skill``), a sample
of test predictions as a table, and the cleaning, location and gap figures.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from sweepcast import tracking
from sweepcast.data.checkins import haversine_km
from sweepcast.data.trajectories import TARGETS, CheckinData
from sweepcast.data.windows import scaler_state
from sweepcast.metrics import checkin_metrics, skill
from sweepcast.models.last_checkin import LastCheckin

log = logging.getLogger(__name__)

TABLE_ROWS = 5_000  # test windows kept in predictions/test_checkins.csv
MAP_POINTS = 400  # of which the location figure draws


def evaluate(data: CheckinData, predict: Callable[[str], np.ndarray], fitted: Mapping[str, float]
             ) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Score val and test and the baseline; log the metrics. Returns them with the test forecasts
    and the baseline's (both ``[windows, 3]`` in original units)."""
    started = time.perf_counter()
    baseline = LastCheckin()
    baseline.fit(data, 0)
    val_pred, test_pred, base_pred = predict("val"), predict("test"), baseline.predict(data, "test")
    metrics = {**split_metrics(data, "val", val_pred, "val"), **split_metrics(data, "test", test_pred, "test"),
               **fitted}
    reference = split_metrics(data, "test", base_pred, "baseline_test")
    for key in ("rmse", "r2", "km_median", "km_mean", "dt_minutes_mae"):
        metrics[f"baseline_test_{key}"] = reference[f"baseline_test_{key}"]
    metrics["skill"] = skill(metrics["test_rmse"], metrics["baseline_test_rmse"])
    metrics["evaluate_seconds"] = time.perf_counter() - started
    tracking.log_metrics(metrics)
    return metrics, test_pred, base_pred


def split_metrics(data: CheckinData, split: str, pred: np.ndarray, prefix: str) -> dict[str, float]:
    true = data.target_matrix(split)
    return checkin_metrics(true, pred, data.scale_target(true), data.scale_target(pred), prefix)


def log_artifacts(data: CheckinData, config: Mapping[str, Any], test_pred: np.ndarray, base_pred: np.ndarray) -> None:
    """Scalers, a sample of test predictions, and the three figures."""
    from sweepcast.report.checkin_figures import cleaning_figure, gaps_figure, locations_figure
    from sweepcast.report.forecast import figure_html

    tracking.log_json(
        {"kind": "checkins", "targets": list(TARGETS), "features": data.features, "timestep": data.timestep,
         "dt_log": data.settings.dt_log, "timezone": data.settings.timezone,
         "input_scaler": scaler_state(data.input_scaler), "target_scaler": scaler_state(data.target_scaler)},
        "preprocessing/scalers.json",
    )
    table = prediction_table(data, test_pred, base_pred)
    tracking.log_table_csv(table, "predictions/test_checkins.csv", digits=9)  # coordinates to ~0.1 m
    plotlyjs = str(config["tracking"].get("plotlyjs", "cdn"))
    after = data.frame[["lat", "lon"]].sample(min(len(data.before_cleaning), len(data.frame)), random_state=0)
    pages = {
        "plots/checkins_cleaning.html": cleaning_figure(data.before_cleaning, after, f"check-ins: {data.source}"),
        "plots/locations_test.html": locations_figure(
            table.head(MAP_POINTS), f"next check-in: true vs predicted ({min(MAP_POINTS, len(table))} test windows)"),
        "plots/gaps_test.html": gaps_figure(table, "hours until the next check-in: true vs predicted (test)"),
    }
    for name, figure in pages.items():
        tracking.log_html(figure_html(figure, plotlyjs), name)


def prediction_table(data: CheckinData, test_pred: np.ndarray, base_pred: np.ndarray) -> pd.DataFrame:
    """Up to :data:`TABLE_ROWS` test windows, drawn evenly at random (seed 0): who, when, truth,
    forecast, baseline and the miss in km."""
    rows = data.target_rows("test")
    pick = np.sort(np.random.default_rng(0).choice(len(rows), size=min(TABLE_ROWS, len(rows)), replace=False))
    true = data.target_matrix("test")[pick]
    pred, base = test_pred[pick], base_pred[pick]
    frame = data.frame.iloc[rows[pick]]
    table = pd.DataFrame({"user": frame["user"].to_numpy(), "time": frame["time"].to_numpy()})
    for prefix, values in (("true", true), ("pred", pred), ("baseline", base)):
        for c, name in enumerate(("dt_hours", "lat", "lon")):
            table[f"{prefix}_{name}"] = values[:, c]
    table["km_error"] = haversine_km(true[:, 1], true[:, 2], pred[:, 1], pred[:, 2])
    return table


def summary(metrics: Mapping[str, float]) -> str:
    return ("test RMSE %.4g (scaled)  R² %.3f  miss %.2f km median / %.2f km mean  gap MAE %.0f min  "
            "skill over last check-in %.3f (its RMSE %.4g, %.2f km median)") % (
        metrics["test_rmse"], metrics["test_r2"], metrics["test_km_median"], metrics["test_km_mean"],
        metrics["test_dt_minutes_mae"], metrics["skill"], metrics["baseline_test_rmse"],
        metrics["baseline_test_km_median"])
