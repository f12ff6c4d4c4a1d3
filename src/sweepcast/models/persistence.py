"""Persistence: every next value is the last one seen (the livestream study's implicit baseline)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from sweepcast.models.baselines import repeat, series
from sweepcast.models.spec import check_keys

if TYPE_CHECKING:
    from sweepcast.data.pipeline import PreparedData

KIND = "baseline"
KEYS = ("name",)


def validate(spec: Mapping[str, Any]) -> None:
    check_keys(spec, KEYS)


class Persistence:
    def fit(self, data: "PreparedData", seed: int) -> dict[str, float]:
        return {}

    def predict(self, data: "PreparedData", split: str) -> np.ndarray:
        return repeat(series(data)[data.target_rows(split) - 1], data.horizon)


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], outputs: int = 1) -> Persistence:
    validate(spec)
    return Persistence()
