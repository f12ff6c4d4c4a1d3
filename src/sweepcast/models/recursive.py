"""Recursive multi-step forecasting: a one-step model's prediction becomes its next input.

The livestream study forecast ten minutes this way. It needs the target to be the window's only
input (other columns' future values are unknown, see :func:`~sweepcast.data.windows.forecast_task`),
and errors compound over the steps, which the per-step metrics make visible.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from sweepcast.data.pipeline import PreparedData

OneStep = Callable[[np.ndarray], np.ndarray]  # scaled windows [W, timestep, 1] -> scaled next values [W]
Rescale = Callable[[np.ndarray], np.ndarray]  # [W, 1] -> [W, 1]


def feed_back(step: OneStep, windows: np.ndarray, horizon: int, to_original: Rescale, to_input: Rescale) -> np.ndarray:
    """``[W, horizon]`` forecasts in original units from scaled ``windows`` ``[W, timestep, 1]``.

    Each round predicts one step for all windows at once (one batched call per step, not per
    window), converts it from the target's scale to the input's, and slides it into the windows.
    """
    forecasts = np.empty((len(windows), horizon), dtype=np.float64)
    for k in range(horizon):
        forecasts[:, k] = to_original(np.asarray(step(windows), dtype=np.float64).reshape(-1, 1)).ravel()
        if k + 1 < horizon:
            fed_back = np.asarray(to_input(forecasts[:, k : k + 1]), dtype=np.float32)
            windows = np.concatenate([windows[:, 1:, :], fed_back[:, None, :]], axis=1)
    return forecasts


def recursive_forecast(step: OneStep, data: "PreparedData", split: str) -> np.ndarray:
    """``[windows, horizon]`` forecasts in original units for every window of ``split``."""
    return feed_back(step, data.windows(split), data.horizon, data.inverse_target, data.target_as_input)
