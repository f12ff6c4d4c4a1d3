"""Seasonal naive: the value one period ago (one day of minutes by default)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from sweepcast.errors import ConfigError
from sweepcast.models import spec as checks
from sweepcast.models.baselines import series, target_rows

if TYPE_CHECKING:
    from sweepcast.data.pipeline import PreparedData

KIND = "baseline"
KEYS = ("name", "period")


def validate(spec: Mapping[str, Any]) -> int:
    checks.check_keys(spec, KEYS)
    return checks.positive_int(spec, "period")


class SeasonalNaive:
    def __init__(self, period: int) -> None:
        self.period = period

    def fit(self, data: "PreparedData", seed: int) -> dict[str, float]:
        train = data.bounds["train"][1] - data.bounds["train"][0]
        if self.period > train:
            raise ConfigError("model.period", f"at most the training split's {train} rows", self.period)
        return {}

    def predict(self, data: "PreparedData", split: str) -> np.ndarray:
        rows = target_rows(data, split) - self.period
        if rows.min() < 0:  # numpy would wrap to the series' end: forecasting from the future
            raise ConfigError("model.period", f"a period with history before every '{split}' window", self.period)
        return series(data)[rows]


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], horizon: int = 1) -> SeasonalNaive:
    return SeasonalNaive(validate(spec))
