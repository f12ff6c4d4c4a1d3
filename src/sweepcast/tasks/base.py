"""The contract every forecasting task meets, and what its evaluation hands back.

A task is one kind of forecasting problem (a time series, a user's next check-in, ...). The job,
export and report code hold a :class:`Task` and never ask which kind it is: whatever differs
between kinds (settings, data preparation, baseline, metrics, artifacts, the fitted state an
export carries, the model card's wording, report and exploration sections) is a method here.
Tasks compute; they do not talk to MLflow: their artifacts come back as :class:`Artifact` values
that the job hands to :mod:`sweepcast.tracking`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from sweepcast.export.serving import Serving
    from sweepcast.fitted_state import FittedState

Predict = Callable[[str], Any]  # split name -> forecasts in original units
REGRESSION_BARS = (("test_rmse", "test RMSE per configuration (best first)", True),
                   ("test_r2", "test R² per configuration (best first)", False))  # the sweep report's charts


@dataclass(frozen=True)
class Artifact:
    """One file a run logs: a dict becomes JSON, a DataFrame CSV (``digits`` significant), text HTML."""

    path: str
    content: "dict[str, Any] | pd.DataFrame | str"
    digits: int = 6


@dataclass
class Evaluation:
    """A fitted model's scores and files: ``metrics`` (final values), ``curves`` (metric histories
    whose MLflow step is the lead time), ``artifacts``, and ``state``: what evaluation calibrated
    that an exported model needs too (joins the fitted state's details)."""

    metrics: dict[str, float]
    curves: dict[str, list[float]] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CardText:
    """What a model card says that depends on the task."""

    metrics_heading: str  # after "## Metrics"
    baseline: str  # what baseline_test_rmse measures
    window: str  # the "- window: ..." line
    usage: str  # what the exported model takes and returns


class Task(Protocol):
    """One forecasting task; a module in ``sweepcast/tasks/`` exposes one as ``TASK``."""

    name: str  # the value of data.task (and of FittedState.task)
    optimizable: tuple[str, ...]  # final metrics a job returns; optimized_metric must be one
    default_metric: str  # the optimized_metric when the config leaves it null
    reference: str  # the baseline skill is measured against, as reports label it
    prediction_table: str  # the run artifact the sweep report draws the best trial from
    report_bars: tuple[tuple[str, str, bool], ...]  # (metric, title, lower is better): the report's bar charts
    run_baselines: tuple[str, ...]  # baselines each run scores itself (``<name>_<metric>``): the bars' lines

    def settings(self, data_cfg: Mapping[str, Any]) -> Any:
        """``data.*`` parsed and checked without reading a file; has ``.task`` (a ForecastTask)."""

    def prepare(self, settings: Any, max_points: int | None) -> Any:
        """Load, clean, split, scale: the windows every family trains and is scored on."""

    def evaluate(self, data: Any, predict: Predict, fitted: Mapping[str, float], plotlyjs: str) -> Evaluation:
        """Score val and test against the task's baseline; the run's tables and figures."""

    def fitted_state(self, data: Any) -> "FittedState":
        """The preprocessing an exported model replays."""

    def summary(self, metrics: Mapping[str, float]) -> str:
        """The job's closing line."""

    def preprocessing(self, state: "FittedState") -> "Serving":
        """An exported model's preprocessing from its fitted state."""

    def card(self, serving: "Serving") -> CardText:
        """The task's wording in MODEL_CARD.md."""

    def describe(self, params: Mapping[str, str], source: str) -> str:
        """What a logged run forecast, from its ``data.*`` params (the sweep report's summary)."""

    def best_trial_figures(self, table_csv: str, trial: int, params: Mapping[str, str]) -> "list[go.Figure]":
        """The sweep report's figures of the best trial, from its :attr:`prediction_table`."""

    def explore_page(self, data_cfg: Mapping[str, Any]) -> str:
        """The data-exploration page (``python -m sweepcast explore``) as self-contained HTML."""

