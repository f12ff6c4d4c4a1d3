"""An exported ensemble's answer: its members' forecasts of the same steps, averaged by weight.

Each member forecasts from the raw rows through its own preprocessing (its own lookback, inputs
and scalers), so members trained on different windows combine; the weights are the ones the
``ensemble`` run was scored with (:mod:`sweepcast.ensembles`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def combine(forecasts: Sequence[pd.DataFrame], weights: Sequence[float], target: str) -> pd.DataFrame:
    """The first member's table (timestamp, step) with ``target`` the weighted mean of all members'."""
    first = forecasts[0]
    for other in forecasts[1:]:
        if list(other["step"]) != list(first["step"]) or list(other["timestamp"]) != list(first["timestamp"]):
            raise ValueError("ensemble members forecast different steps")
    values = np.stack([np.asarray(f[target], dtype=np.float64) for f in forecasts])
    return first.assign(**{target: np.tensordot(np.asarray(weights, dtype=np.float64), values, axes=1)})
