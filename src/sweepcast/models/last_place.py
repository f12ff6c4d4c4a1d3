"""Last place: the next check-in is at the window's last place (then the most visited places).

The next-place counterpart of persistence: it wins whenever people check in twice in a row at
the same place, which the stay filter (``data.clean.stay_*``) already thins out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from sweepcast.data.place_counts import merge_rankings
from sweepcast.models.place_ranking import popular
from sweepcast.models.spec import check_keys

if TYPE_CHECKING:
    from sweepcast.data.place_windows import NextPlaceData

KIND = "baseline"
DATA_KINDS = ("next_place",)
KEYS = ("name",)


def validate(spec: Mapping[str, Any]) -> None:
    check_keys(spec, KEYS)


class LastPlace:
    def fit(self, data: "NextPlaceData", seed: int) -> dict[str, float]:
        return {}

    def predict(self, data: "NextPlaceData", split: str) -> np.ndarray:
        """``[windows, depth]``: the window's last place (windows never cross users), then the popular ones."""
        rows = data.target_rows(split)
        last = data.place_index[rows - 1].astype(np.int32)
        return merge_rankings([np.where(last > 0, last, -1)[:, None], popular(data, len(rows))], data.depth)


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], outputs: int = 1) -> LastPlace:
    validate(spec)
    return LastPlace()
