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


def recursive_forecast(step: OneStep, data: "PreparedData", split: str) -> np.ndarray:
    """``[windows, horizon]`` forecasts in original units for every window of ``split``.

    Each round predicts one step for all windows at once (one batched call per step, not per
    window), converts it from the target's scale to the input's, and slides it into the windows.
    """
    windows = data.windows(split)
    forecasts = np.empty((len(windows), data.horizon), dtype=np.float64)
    for k in range(data.horizon):
        forecasts[:, k] = data.inverse_target(np.asarray(step(windows)).reshape(-1))
        if k + 1 < data.horizon:
            fed_back = data.input_scaler.transform(forecasts[:, k : k + 1]).astype(np.float32)
            windows = np.concatenate([windows[:, 1:, :], fed_back[:, None, :]], axis=1)
    return forecasts
