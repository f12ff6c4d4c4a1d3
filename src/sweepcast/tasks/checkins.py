"""The check-in task: from a user's last ``timestep`` check-ins, the next one (gap, latitude, longitude).

Scored as the study reported it (RMSE/MAE/R² on scaled targets) and in units people use (km of
the miss, minutes of the gap), against the last check-in after the user's median training gap
(``baseline_test_*`` and ``skill``), with a sample of test predictions and the cleaning, location
and gap figures.
"""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd

from sweepcast.data.checkins import haversine_km
from sweepcast.data.scalers import scaler_state
from sweepcast.data.trajectories import TARGETS, CheckinData, CheckinSettings, prepare_checkins
from sweepcast.export.checkin_preprocessing import CheckinPreprocessing
from sweepcast.fitted_state import FittedState
from sweepcast.metrics import checkin_metrics, skill
from sweepcast.models.last_checkin import LastCheckin
from sweepcast.tasks.base import REGRESSION_BARS, Artifact, CardText, Evaluation, Predict

if TYPE_CHECKING:
    import plotly.graph_objects as go

TABLE_ROWS = 5_000  # test windows kept in predictions/test_checkins.csv
MAP_POINTS = 400  # of which the location figure draws
PREDICTIONS = "predictions/test_checkins.csv"


class CheckinTask:
    name = "checkins"
    optimizable = tuple(f"{split}_{name}" for split in ("val", "test")
                        for name in ("rmse", "mae", "r2", "km_median", "km_mean", "dt_minutes_mae")) + (
        "baseline_test_rmse", "skill")
    default_metric = "val_rmse"
    reference = "last check-in"
    prediction_table = PREDICTIONS
    report_bars = REGRESSION_BARS
    run_baselines: tuple[str, ...] = ()  # baseline families run as trials of their own

    def settings(self, data_cfg: Mapping[str, Any]) -> CheckinSettings:
        return CheckinSettings.from_config(data_cfg)

    def prepare(self, settings: CheckinSettings, max_points: int | None) -> CheckinData:
        return prepare_checkins(settings, max_points)

    def evaluate(self, data: CheckinData, predict: Predict, fitted: Mapping[str, float], plotlyjs: str) -> Evaluation:
        """Score val and test and the baseline on the same test windows; the table and figures."""
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
        return Evaluation(metrics, artifacts=artifacts(data, test_pred, base_pred, plotlyjs))

    def fitted_state(self, data: CheckinData) -> FittedState:
        return FittedState(
            task=self.name, data=dict(data.settings.config), features=list(data.features),
            input_scaler=scaler_state(data.input_scaler), target_scaler=scaler_state(data.target_scaler),
            timestep=data.timestep,
            details={"targets": list(TARGETS), "dt_log": data.settings.dt_log, "timezone": data.settings.timezone},
        )

    def summary(self, metrics: Mapping[str, float]) -> str:
        return ("test RMSE %.4g (scaled)  R² %.3f  miss %.2f km median / %.2f km mean  gap MAE %.0f min  "
                "skill over last check-in %.3f (its RMSE %.4g, %.2f km median)") % (
            metrics["test_rmse"], metrics["test_r2"], metrics["test_km_median"], metrics["test_km_mean"],
            metrics["test_dt_minutes_mae"], metrics["skill"], metrics["baseline_test_rmse"],
            metrics["baseline_test_km_median"])

    def preprocessing(self, state: FittedState) -> CheckinPreprocessing:
        return CheckinPreprocessing(state)

    def describe(self, params: Mapping[str, str], source: str) -> str:
        """What a run forecast, from its ``data.*`` params (the sweep report's summary line)."""
        return (f"{source}, next check-in (gap, latitude, longitude), timestep {params.get('data.timestep', '?')} "
                f"check-ins, split by {params.get('data.split.by', 'time')}")

    def card(self, serving: CheckinPreprocessing) -> CardText:
        return CardText(
            metrics_heading=" (RMSE/MAE/R² on scaled gap, latitude, longitude)",
            baseline="the last check-in (place) after the user's median gap",
            window=(f"- window: a user's last {serving.task.timestep} check-ins; forecasts the next one (gap, latitude, "
                    f"longitude); scaler `{serving.data.get('scaler')}` fit on training check-ins "
                    f"({serving.data.get('split')})"),
            usage=("The model takes recent check-ins of one or more users (CSV columns `user, time, lat, lon[, location]`, "
                   "or a SNAP `.txt`/`.txt.gz` file) and returns each user's next check-in: `user, time, step, gap_hours, "
                   "lat, lon`."),
        )

    def best_trial_figures(self, table_csv: str, trial: int, params: Mapping[str, str]) -> "list[go.Figure]":
        """The map of true vs predicted next places and the gap scatter, from :data:`PREDICTIONS`."""
        from sweepcast.report.checkin_figures import gaps_figure, locations_figure  # plotly: seconds

        table = pd.read_csv(io.StringIO(table_csv))
        shown = table.head(MAP_POINTS)
        return [locations_figure(shown, f"trial {trial}: next check-in, true vs predicted ({len(shown)} test windows)"),
                gaps_figure(table, f"trial {trial}: hours until the next check-in, true vs predicted")]

    def explore_page(self, data_cfg: Mapping[str, Any]) -> str:
        """The check-in exploration page (places, filters, users, weekly rhythm, gaps)."""
        from sweepcast.report.checkin_explore import build_page  # plotly: seconds

        return build_page(data_cfg, self.prepare(self.settings(data_cfg), None))


def split_metrics(data: CheckinData, split: str, pred: np.ndarray, prefix: str) -> dict[str, float]:
    true = data.target_matrix(split)
    return checkin_metrics(true, pred, data.scale_target(true), data.scale_target(pred), prefix)


def artifacts(data: CheckinData, test_pred: np.ndarray, base_pred: np.ndarray, plotlyjs: str) -> list[Artifact]:
    """A sample of test predictions and the three figures."""
    from sweepcast.report.checkin_figures import cleaning_figure, gaps_figure, locations_figure  # plotly: seconds
    from sweepcast.report.forecast import figure_html

    table = prediction_table(data, test_pred, base_pred)
    after = data.frame[["lat", "lon"]].sample(min(len(data.before_cleaning), len(data.frame)), random_state=0)
    pages = {
        "plots/checkins_cleaning.html": cleaning_figure(data.before_cleaning, after, f"check-ins: {data.source}"),
        "plots/locations_test.html": locations_figure(
            table.head(MAP_POINTS), f"next check-in: true vs predicted ({min(MAP_POINTS, len(table))} test windows)"),
        "plots/gaps_test.html": gaps_figure(table, "hours until the next check-in: true vs predicted (test)"),
    }
    return [Artifact(PREDICTIONS, table, digits=9),  # coordinates to ~0.1 m
            *(Artifact(name, figure_html(figure, plotlyjs)) for name, figure in pages.items())]


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


TASK = CheckinTask()
