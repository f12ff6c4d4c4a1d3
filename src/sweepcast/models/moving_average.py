"""Moving average: the mean of the last ``window`` values, held flat over the horizon."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from sweepcast.errors import ConfigError
from sweepcast.models.baselines import repeat, series
from sweepcast.models.spec import check_keys, positive_int

if TYPE_CHECKING:
    from sweepcast.data.pipeline import PreparedData
    from sweepcast.data.windows import ForecastTask

KIND = "baseline"
KEYS = ("name", "window")


def validate(spec: Mapping[str, Any]) -> int:
    check_keys(spec, KEYS)
    return positive_int(spec, "window")


def check_task(spec: Mapping[str, Any], task: "ForecastTask") -> None:
    """The average reads only the window it is given."""
    if spec["window"] > task.timestep:
        raise ConfigError("model.window", f"at most data.timestep={task.timestep} (the window it sees)", spec["window"])


class MovingAverage:
    def __init__(self, window: int) -> None:
        self.window = window

    def fit(self, data: "PreparedData", seed: int) -> dict[str, float]:
        check_task({"window": self.window}, data.task)
        return {}

    def predict(self, data: "PreparedData", split: str) -> np.ndarray:
        sums = np.concatenate([[0.0], np.cumsum(series(data))])  # running sums: O(n) for any window
        rows = data.target_rows(split)
        return repeat((sums[rows] - sums[rows - self.window]) / self.window, data.horizon)


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], outputs: int = 1) -> MovingAverage:
    return MovingAverage(validate(spec))
