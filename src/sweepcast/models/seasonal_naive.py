"""Seasonal naive: each step's value one period earlier.

``period: null`` (the default) is one day of the data's steps (1440 for minutes, 48 for half
hours), cut to the training split's length when the split is shorter (a smoke run's 1,400 rows);
the log says which. An explicit period longer than the training split stays an error. A period
may be a duration (``7D``, ``12h``): a whole number of the data's steps, said in the log.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd

from sweepcast.data.pipeline import row_step
from sweepcast.errors import ConfigError
from sweepcast.models.baselines import series
from sweepcast.models.spec import check_keys, positive_int

if TYPE_CHECKING:
    from sweepcast.data.pipeline import PreparedData
    from sweepcast.data.windows import ForecastTask

log = logging.getLogger(__name__)

KIND = "baseline"
KEYS = ("name", "period")


def validate(spec: Mapping[str, Any]) -> int | str | None:
    check_keys(spec, KEYS)
    return period_value(spec)


def period_value(spec: Mapping[str, Any]) -> int | str | None:
    """``model.period``: rows (an int), a duration such as ``1D`` or ``12h`` (converted with the
    data's step once it is read: :func:`period_rows`), or null."""
    value = spec.get("period")
    if isinstance(value, str):
        try:
            if pd.Timedelta(value) > pd.Timedelta(0):
                return value
        except ValueError:
            pass
        raise ConfigError("model.period", "a number of rows or a duration such as 1D, 7D or 12h", value)
    return None if value is None else positive_int(spec, "period")


def period_rows(period: int | str, data: "PreparedData") -> int:
    """A period in rows: a duration becomes a whole number of the data's steps, or an error."""
    if not isinstance(period, str):
        return period
    step = row_step(pd.DatetimeIndex(data.frame.index), data.source)
    rows = pd.Timedelta(period) / step
    if rows < 1 or rows != int(rows):
        raise ConfigError("model.period", f"a whole number of the data's {step} steps ({rows:g} here)", period)
    log.info("model.period: %s = %d steps of %s", period, int(rows), step)
    return int(rows)


def check_task(spec: Mapping[str, Any], task: "ForecastTask") -> None:
    """Step ``k`` (1-based) reads the value ``period`` rows before its target, ``period - k + 1``
    rows back from the window's last row: beyond ``period`` steps ahead that value is in the future.
    A duration is checked once the data's step is known."""
    if isinstance(spec.get("period"), int) and spec["period"] < task.horizon:
        raise ConfigError("model.period", f"at least data.horizon={task.horizon} (a season must be observed to repeat it)",
                          spec["period"])


class SeasonalNaive:
    def __init__(self, period: int | str | None) -> None:
        self.period: Any = period

    def fit(self, data: "PreparedData", seed: int) -> dict[str, float]:
        train = data.bounds.length("train")
        if self.period is None:
            self.period = default_period(data, train)
        self.period = period_rows(self.period, data)
        check_task({"period": self.period}, data.task)
        if self.period > train:
            raise ConfigError("model.period", f"at most the training split's {train} rows", self.period)
        return {"period": float(self.period)}

    def predict(self, data: "PreparedData", split: str) -> np.ndarray:
        rows = data.target_rows(split)[:, None] + np.arange(data.horizon)[None, :] - self.period
        if rows.min() < 0:  # numpy would wrap to the series' end: forecasting from the future
            raise ConfigError("model.period", f"a period with history before every '{split}' window", self.period)
        return series(data)[rows]


def one_day(data: "PreparedData") -> tuple[int, pd.Timedelta]:
    """One day in rows of the data's step (at least 1), and the step."""
    step = row_step(pd.DatetimeIndex(data.frame.index), data.source)
    return max(1, int(round(pd.Timedelta(days=1) / step))), step


def default_period(data: "PreparedData", train: int) -> int:
    """One day of the data's steps, at most the training split (said in the log when cut)."""
    day, step = one_day(data)
    if day > train:
        log.info("model.period: one day is %d steps, more than the training split's %d rows; using %d", day, train,
                 train)
        return train
    log.info("model.period: one day of %s steps = %d", step, day)
    return day


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], outputs: int = 1) -> SeasonalNaive:
    return SeasonalNaive(validate(spec))
