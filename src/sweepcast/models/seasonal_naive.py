"""Seasonal naive: each step's value one period earlier (one day of minutes by default)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from sweepcast.errors import ConfigError
from sweepcast.models.baselines import series
from sweepcast.models.spec import check_keys, positive_int

if TYPE_CHECKING:
    from sweepcast.data.pipeline import PreparedData
    from sweepcast.data.windows import ForecastTask

KIND = "baseline"
KEYS = ("name", "period")


def validate(spec: Mapping[str, Any]) -> int:
    check_keys(spec, KEYS)
    return positive_int(spec, "period")


def check_task(spec: Mapping[str, Any], task: "ForecastTask") -> None:
    """Step ``k`` (1-based) reads the value ``period`` rows before its target, ``period - k + 1``
    rows back from the window's last row: beyond ``period`` steps ahead that value is in the future."""
    if spec["period"] < task.horizon:
        raise ConfigError("model.period", f"at least data.horizon={task.horizon} (a season must be observed to repeat it)",
                          spec["period"])


class SeasonalNaive:
    def __init__(self, period: int) -> None:
        self.period = period

    def fit(self, data: "PreparedData", seed: int) -> dict[str, float]:
        check_task({"period": self.period}, data.task)
        train = data.bounds.length("train")
        if self.period > train:
            raise ConfigError("model.period", f"at most the training split's {train} rows", self.period)
        return {}

    def predict(self, data: "PreparedData", split: str) -> np.ndarray:
        rows = data.target_rows(split)[:, None] + np.arange(data.horizon)[None, :] - self.period
        if rows.min() < 0:  # numpy would wrap to the series' end: forecasting from the future
            raise ConfigError("model.period", f"a period with history before every '{split}' window", self.period)
        return series(data)[rows]


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], outputs: int = 1) -> SeasonalNaive:
    return SeasonalNaive(validate(spec))
