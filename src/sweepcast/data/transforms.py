"""``data.transform``: what the target is modelled as (``none``, or ``log1p`` for non-negative counts).

Counts like viewers or taxi rides are skewed and their noise grows with their level; modelling
``log1p(y)`` makes the errors a network or GBDT learns on relative rather than absolute. The
transform applies to the target and to the target's own input column (the window a model reads),
before scaling, and is inverted after unscaling, before every metric: metrics, forecasts and an
exported model's answers stay in original units. Baselines read the raw series and ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sweepcast import checks
from sweepcast.errors import DataError

TRANSFORMS = ("none", "log1p")


@dataclass(frozen=True)
class TargetTransform:
    name: str = "none"

    @property
    def linear(self) -> bool:
        """Whether original units are an affine map of scaled ones (no transform)."""
        return self.name == "none"

    def forward(self, values: np.ndarray) -> np.ndarray:
        return np.log1p(values) if self.name == "log1p" else values

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return np.expm1(values) if self.name == "log1p" else values


def target_transform(name: object) -> TargetTransform:
    return TargetTransform(checks.choice("data.transform", name if name is not None else "none", TRANSFORMS))


def model_values(frame: pd.DataFrame, features: list[str], target: str, transform: TargetTransform,
                 source: str) -> tuple[np.ndarray, np.ndarray]:
    """``[n, F]`` inputs and ``[n, 1]`` target as models see them before scaling: the transform
    applied to the target and to its own input column (refused on negative values for log1p)."""
    inputs = frame[features].to_numpy(dtype=np.float64, copy=True)
    target_values = frame[[target]].to_numpy(dtype=np.float64)
    if transform.linear:
        return inputs, target_values
    negative = np.flatnonzero(target_values[:, 0] < 0)
    if negative.size:
        raise DataError(f"{source}: column '{target}' at {frame.index[negative[0]]} is {target_values[negative[0], 0]:g}; "
                        "data.transform=log1p needs values >= 0 (counts), or use data.transform=none")
    if target in features:
        column = features.index(target)
        inputs[:, column] = transform.forward(inputs[:, column])
    return inputs, transform.forward(target_values)
