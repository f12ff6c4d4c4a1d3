"""Last check-in: the next check-in is where the user last was, after the user's usual gap.

The check-in counterpart of persistence, and the reference every check-in run's ``skill`` is
measured against. Location: the window's last check-in. Gap: the median of the user's gaps in
the training split; a user with no training check-ins (``split.by=user``, or a newcomer) gets the
median of the gaps in its own window, which is also known when the forecast is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd

from sweepcast.data.windows import input_rows
from sweepcast.models.spec import check_keys

if TYPE_CHECKING:
    from sweepcast.data.trajectories import CheckinData

KIND = "baseline"
DATA_KINDS = ("checkins",)
KEYS = ("name",)


def validate(spec: Mapping[str, Any]) -> None:
    check_keys(spec, KEYS)


class LastCheckin:
    def __init__(self) -> None:
        self.median_gap = pd.Series(dtype=np.float64)  # user -> median training gap (hours)

    def fit(self, data: "CheckinData", seed: int) -> dict[str, float]:
        train = data.frame[data.frame["split"] == 0]
        self.median_gap = train.groupby("user")["dt_hours"].median()
        return {"users_with_train_gaps": float(len(self.median_gap))}

    def predict(self, data: "CheckinData", split: str) -> np.ndarray:
        """``[windows, 3]``: (gap hours, lat, lon) of each window's next check-in."""
        rows = data.target_rows(split)
        frame = data.frame
        last = rows - 1  # the window's last check-in (same user: windows never cross users)
        window_gaps = frame["dt_hours"].to_numpy()[input_rows(rows, data.timestep)]
        gaps = frame["user"].iloc[rows].map(self.median_gap).to_numpy(dtype=np.float64)
        gaps = np.where(np.isnan(gaps), np.median(window_gaps, axis=1), gaps)
        return np.column_stack([gaps, frame["lat"].to_numpy()[last], frame["lon"].to_numpy()[last]])


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], outputs: int = 1) -> LastCheckin:
    validate(spec)
    return LastCheckin()
