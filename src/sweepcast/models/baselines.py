"""What the baseline families share: windows' target positions and the fitted-forecaster shape.

A baseline is not a Keras model: ``build`` returns an object with ``fit(data, seed)`` and
``predict(data, split)`` in original units, for the same windows the networks forecast (window
``i`` of a split reads rows ``i .. i+timestep-1`` and forecasts row ``i+timestep``), so its
metrics line up with theirs to the row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from sweepcast.data.pipeline import PreparedData


class Forecaster(Protocol):
    def fit(self, data: "PreparedData", seed: int) -> dict[str, float]: ...

    def predict(self, data: "PreparedData", split: str) -> np.ndarray: ...


def target_rows(data: "PreparedData", split: str) -> np.ndarray:
    """Row numbers (in the whole cleaned series) of the values the split's windows forecast."""
    start, stop = data.bounds[split]
    return np.arange(start + data.timestep, stop)


def series(data: "PreparedData") -> np.ndarray:
    """The whole target column in original units."""
    return data.frame[data.target].to_numpy(dtype=np.float64)
