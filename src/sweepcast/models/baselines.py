"""What the baseline families share: the fitted-forecaster shape and the target column.

A baseline is not a Keras model: ``build`` returns an object with ``fit(data, seed)`` and
``predict(data, split)`` giving ``[windows, horizon]`` forecasts in original units for the same
windows the networks forecast (:meth:`~sweepcast.data.pipeline.PreparedData.target_rows`), so
its metrics line up with theirs to the row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from sweepcast.data.pipeline import PreparedData


class Forecaster(Protocol):
    def fit(self, data: "PreparedData", seed: int) -> dict[str, float]: ...

    def predict(self, data: "PreparedData", split: str) -> np.ndarray: ...


def series(data: "PreparedData") -> np.ndarray:
    """The whole target column in original units."""
    return data.frame[data.target].to_numpy(dtype=np.float64)


def repeat(values: np.ndarray, horizon: int) -> np.ndarray:
    """One value per window held flat over every horizon step: ``[windows, horizon]``."""
    return np.repeat(values[:, None], horizon, axis=1)
