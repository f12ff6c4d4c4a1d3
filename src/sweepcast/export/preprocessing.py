"""Raw rows -> model window -> forecasts in original units, for an exported model.

Everything a forecast needs from training travels as plain JSON (no pickle): the run's data
config (source layout, target, inputs, cleaning, calendar, timestep, horizon, strategy), the
fitted scalers' states and the time between rows (one :class:`~sweepcast.fitted_state.FittedState`).
Rows go through the same parser, cleaning and calendar code as training (:func:`~sweepcast.data.pipeline.model_frame`), so a forecast
sees exactly the preprocessing its model learned on.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any, Callable

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from sweepcast import checks
from sweepcast.data.pipeline import SeriesSettings, model_frame, row_step
from sweepcast.data.sources import parse_rows
from sweepcast.data.transforms import model_values
from sweepcast.errors import DataError, SweepcastError
from sweepcast.export.serving import Serving
from sweepcast.models.recursive import feed_back

MAX_FED_BACK_STEPS = 1_000  # a one-step model fed back: one network call per step (~4 min at the limit here)
EXAMPLE_EXTRA_ROWS = 10  # a few rows more than the window, so cleaning (duplicates, dropped NaN) has room

Predict = Callable[[np.ndarray], np.ndarray]  # scaled windows [W, timestep, F] -> scaled outputs [W, outputs]


class Preprocessing(Serving):
    """A series model's preprocessing: raw rows in the training layout -> window -> forecasts."""

    @cached_property
    def settings(self) -> SeriesSettings:
        return SeriesSettings.from_config(self.data)

    @cached_property
    def request_settings(self) -> SeriesSettings:
        return SeriesSettings.from_config(self.serving_config()).for_requests()

    def serving_config(self) -> dict[str, Any]:
        """The data config for requests: a training frequency that was inferred (``freq: infer``) is
        pinned to the one training found, so a request's own spacing cannot change the grid."""
        clean = dict(self.data.get("clean") or {})
        if clean.get("freq") == "infer" and self.step:
            clean["freq"] = to_offset(pd.Timedelta(self.step)).freqstr
        return {**self.data, "clean": clean}

    @property
    def step(self) -> str:
        """Time between rows, as pandas writes a Timedelta (empty: read it off the request)."""
        return str(self.state.details.get("step") or "")

    @property
    def target(self) -> str:
        return str(self.data["target"])

    def max_horizon(self) -> int | None:
        """The longest forecast this model gives: its horizon, or any length (None) for a
        one-output model whose only input is the target (its forecasts are fed back)."""
        task = self.task
        if task.outputs == 1 and self.features == [self.target]:
            return None
        return task.outputs

    def check_horizon(self, horizon: Any) -> int:
        if not checks.is_integer(horizon) or horizon < 1:
            raise SweepcastError(f"horizon: expected an integer >= 1, got {horizon!r}")
        limit = self.max_horizon()
        if limit is not None and horizon > limit:
            task = self.task
            raise SweepcastError(
                f"horizon {horizon}: this model forecasts at most {limit} step(s) (trained with "
                f"data.horizon={task.horizon}, data.strategy={task.strategy}, inputs {self.features})"
            )
        if limit is None and horizon > MAX_FED_BACK_STEPS:
            raise SweepcastError(
                f"horizon {horizon}: a fed-back forecast is limited to {MAX_FED_BACK_STEPS} steps (each step is one "
                "network call, ~0.2 s on 2 CPU cores); ask for fewer steps or train with a longer data.horizon"
            )
        return int(horizon)

    def example_rows(self, raw: pd.DataFrame) -> pd.DataFrame:
        """The last rows of the training data, a few more than one window (the model's input example)."""
        return raw.iloc[-(self.task.timestep + EXAMPLE_EXTRA_ROWS):]

    def frame(self, rows: pd.DataFrame, name: str) -> pd.DataFrame:
        """Raw rows -> the cleaned ``[target, *inputs]`` frame, checked to hold a full window."""
        if not isinstance(rows, pd.DataFrame) or rows.empty:
            raise DataError(f"{name}: expected rows in the training data's layout, got none")
        parsed = parse_rows(self.data, rows, name)
        frame, features, _ = model_frame(parsed, name, self.request_settings, level=logging.DEBUG)  # per request
        if features != self.features:
            raise DataError(f"{name}: gives input columns {features}, the model was trained on {self.features}")
        timestep = self.task.timestep
        if len(frame) < timestep:
            raise DataError(
                f"{name}: {len(frame)} row(s) after cleaning; the model reads the last {timestep} "
                f"(data.timestep), so send at least {timestep} consecutive rows"
            )
        return frame

    def forecast(self, predict: Predict, rows: pd.DataFrame, horizon: int, name: str = "input") -> pd.DataFrame:
        """The next ``horizon`` values after the last row: ``timestamp``, ``step``, ``<target>``."""
        horizon = self.check_horizon(horizon)
        frame = self.frame(rows, name)
        inputs, target, transform = self.input_scaler, self.target_scaler, self.settings.transform
        values = model_values(frame, self.features, self.target, transform, name)[0][-self.task.timestep:]
        if not np.isfinite(values).all():
            column = self.features[int(np.argwhere(~np.isfinite(values))[0][1])]
            raise DataError(f"{name}: column '{column}' has missing values in the last {self.task.timestep} rows "
                            "even after cleaning; send complete rows")
        window = inputs.transform(values).astype(np.float32)[None, :, :]
        outputs = self.task.outputs
        if horizon <= outputs:
            scaled = np.asarray(predict(window), dtype=np.float64).reshape(1, -1)[:, :horizon]
            forecast = transform.inverse(target.inverse_transform(scaled.reshape(-1, 1))).ravel()
        else:  # a one-step univariate model, fed back (max_horizon allowed it)
            forecast = feed_back(lambda w: np.asarray(predict(w)).reshape(len(w), -1)[:, 0], window, horizon,
                                 lambda v: transform.inverse(target.inverse_transform(v)),
                                 lambda v: inputs.transform(transform.forward(v))).ravel()
        step = pd.Timedelta(self.step) if self.step else row_step(frame.index, name)
        stamps = pd.DatetimeIndex([frame.index[-1] + step * k for k in range(1, horizon + 1)])
        return pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"),
                             "step": np.arange(1, horizon + 1), self.target: forecast})
