"""The series task: one time series (livestream, any timestamp/value CSV), the next ``horizon`` values.

Every family is scored on the same windows in original units and against persistence (the last
value, held over the horizon): ``baseline_test_rmse`` and ``skill``. With a horizon above 1 the
headline metrics pool every step and per-step RMSE/MAE become curves (MLflow step = lead time).
"""

from __future__ import annotations

import io
import logging
import time
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd

from sweepcast.data.pipeline import PreparedData, SeriesSettings, prepare, row_step
from sweepcast.data.scalers import scaler_state
from sweepcast.export.preprocessing import Preprocessing
from sweepcast.fitted_state import FittedState
from sweepcast.metrics import forecast_metrics, per_step, rmse, skill
from sweepcast.models.persistence import Persistence
from sweepcast.tasks.base import REGRESSION_BARS, Artifact, CardText, Evaluation, Predict

if TYPE_CHECKING:
    import plotly.graph_objects as go

log = logging.getLogger(__name__)

PREDICTIONS = "predictions/test_step1.csv"  # step 1 of the test forecasts: what the sweep report draws


class SeriesTask:
    name = "series"
    optimizable = tuple(f"{split}_{name}" for split in ("val", "test") for name in ("rmse", "mae", "r2", "smape")) + (
        "baseline_test_rmse", "skill", "cv_val_rmse")  # cv_*: with data.backtest.folds
    default_metric = "val_rmse"
    reference = "persistence"
    prediction_table = PREDICTIONS
    report_bars = REGRESSION_BARS
    run_baselines: tuple[str, ...] = ()  # baseline families run as trials of their own

    def settings(self, data_cfg: Mapping[str, Any]) -> SeriesSettings:
        return SeriesSettings.from_config(data_cfg)

    def prepare(self, settings: SeriesSettings, max_points: int | None) -> PreparedData:
        return prepare(settings, max_points)

    def evaluate(self, data: PreparedData, predict: Predict, fitted: Mapping[str, float], plotlyjs: str) -> Evaluation:
        """Metrics against persistence, per-step curves, the step-1 table and the forecast pages."""
        evaluating = time.perf_counter()
        val_pred, test_pred = predict("val"), predict("test")
        val_true, test_true = data.target_matrix("val"), data.target_matrix("test")
        persistence = Persistence().predict(data, "test")  # the reference every skill is measured against
        metrics = {
            **forecast_metrics(val_true, val_pred, "val"),
            **forecast_metrics(test_true, test_pred, "test"),
            "baseline_test_rmse": rmse(test_true, persistence),
            **fitted,
        }
        metrics["skill"] = skill(metrics["test_rmse"], metrics["baseline_test_rmse"])
        metrics["evaluate_seconds"] = time.perf_counter() - evaluating  # predictions + metrics
        steps, reference = per_step(test_true, test_pred), per_step(test_true, persistence)
        curves = {}
        if data.horizon > 1:
            curves = {"test_rmse_by_step": steps["rmse"], "test_mae_by_step": steps["mae"],
                      "baseline_test_rmse_by_step": reference["rmse"]}
            log.info("test RMSE by step: %s", "  ".join(f"{k}: {v:.4g}" for k, v in enumerate(steps["rmse"], start=1)))
        artifacts = self.artifacts(data, test_pred, persistence, (steps["rmse"], reference["rmse"]), plotlyjs)
        return Evaluation(metrics, curves, artifacts)

    def artifacts(self, data: PreparedData, test_pred: np.ndarray, persistence: np.ndarray,
                  step_rmse: tuple[list[float], list[float]], plotlyjs: str) -> list[Artifact]:
        """The step-1 test predictions and the forecast-vs-truth pages."""
        from sweepcast.report.forecast import figure_html, forecast_figure, step_error_figure  # plotly: seconds

        stamps = data.frame.index[data.target_rows("test")]
        truth = data.target_matrix("test")
        table = pd.DataFrame({"timestamp": stamps, "truth": truth[:, 0], "forecast": test_pred[:, 0],
                              "persistence": persistence[:, 0]})
        lead = "" if data.horizon == 1 else f", step 1 of {data.horizon}"
        figure = forecast_figure(
            stamps, truth[:, 0], test_pred[:, 0], persistence[:, 0],
            f"{data.target}: forecast vs truth (test split{lead}, {data.source})", data.target,
        )
        artifacts = [Artifact(PREDICTIONS, table), Artifact("plots/forecast_test.html", figure_html(figure, plotlyjs))]
        if data.horizon > 1:
            steps = step_error_figure(*step_rmse, data.target)  # model and persistence RMSE per step
            artifacts.append(Artifact("plots/rmse_by_step.html", figure_html(steps, plotlyjs)))
        return artifacts

    def fitted_state(self, data: PreparedData) -> FittedState:
        return FittedState(
            task=self.name, data=dict(data.settings.config), features=list(data.features),
            input_scaler=scaler_state(data.input_scaler), target_scaler=scaler_state(data.target_scaler),
            timestep=data.timestep,
            details={"target": data.target, "horizon": data.horizon, "strategy": data.task.strategy,
                     "step": str(row_step(data.frame.index, data.source))},  # forecast timestamps follow it
        )

    def summary(self, metrics: Mapping[str, float]) -> str:
        return ("test RMSE %.4g  MAE %.4g  R² %.3f  sMAPE %.1f%%  skill over persistence %.3f (persistence RMSE %.4g)"
                % (metrics["test_rmse"], metrics["test_mae"], metrics["test_r2"], metrics["test_smape"],
                   metrics["skill"], metrics["baseline_test_rmse"]))

    def preprocessing(self, state: FittedState) -> Preprocessing:
        return Preprocessing(state)

    def describe(self, params: Mapping[str, str], source: str) -> str:
        """What a run forecast, from its ``data.*`` params (the sweep report's summary line)."""
        return (f"{source}, target {params.get('data.target', '?')}, timestep {params.get('data.timestep', '?')}, "
                f"horizon {params.get('data.horizon', '1')}")

    def card(self, serving: Preprocessing) -> CardText:
        task, split = serving.task, serving.data.get("split")
        return CardText(
            metrics_heading=" (original units)",
            baseline="persistence (the last value)",
            window=(f"- window: {task.timestep} steps of {serving.step or 'the data frequency'}; forecasts "
                    f"{task.horizon} step(s) ({task.strategy}); scaler `{serving.data.get('scaler')}` fit on the "
                    f"training split ({split})"),
            usage=("The model takes raw rows in the training data's layout (CSV columns as text) and returns "
                   f"`timestamp`, `step` and `{serving.target}` for the steps after the last row."),
        )

    def best_trial_figures(self, table_csv: str, trial: int, params: Mapping[str, str]) -> "list[go.Figure]":
        """Forecast vs truth on the test split, step 1, from :data:`PREDICTIONS`."""
        from sweepcast.report.forecast import forecast_figure  # plotly: seconds

        frame = pd.read_csv(io.StringIO(table_csv), parse_dates=["timestamp"])
        return [forecast_figure(pd.DatetimeIndex(frame["timestamp"]), frame["truth"].to_numpy(),
                                frame["forecast"].to_numpy(), frame["persistence"].to_numpy(),
                                f"trial {trial}: forecast vs truth (test split, step 1)",
                                params.get("data.target", "target"))]

    def explore_page(self, data_cfg: Mapping[str, Any]) -> str:
        """The series exploration page (profiles, decomposition, correlations)."""
        from sweepcast.report.series_explore import build_page  # plotly, statsmodels: seconds

        return build_page(data_cfg, self.settings(data_cfg))


TASK = SeriesTask()
