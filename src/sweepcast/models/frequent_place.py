"""Frequent place: the user's most visited training places, most visited first (then the popular ones).

The classic next-POI baseline ("most frequent place"): people return to a few places, so a
user's own history ranks them well without any model of order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from sweepcast.data.place_counts import merge_rankings, rank_by_counts
from sweepcast.models.place_ranking import popular
from sweepcast.models.spec import check_keys

if TYPE_CHECKING:
    from sweepcast.data.place_windows import NextPlaceData

KIND = "baseline"
DATA_KINDS = ("next_place",)
KEYS = ("name",)


def validate(spec: Mapping[str, Any]) -> None:
    check_keys(spec, KEYS)


class FrequentPlace:
    def __init__(self) -> None:
        self.users = np.zeros(0, dtype=np.int64)
        self.places = np.zeros(0, dtype=np.int64)

    def fit(self, data: "NextPlaceData", seed: int) -> dict[str, float]:
        """Training check-ins only: a val/test visit is the future."""
        train = data.frame["split"].to_numpy() == 0
        self.users = data.frame["user"].to_numpy(dtype=np.int64)[train]
        self.places = data.place_index[train].astype(np.int64)
        return {"users_with_train_places": float(len(np.unique(self.users)))}

    def predict(self, data: "NextPlaceData", split: str) -> np.ndarray:
        rows = data.target_rows(split)
        users = data.frame["user"].to_numpy(dtype=np.int64)[rows]
        own = rank_by_counts(self.users, self.places, users, data.depth)
        return merge_rankings([own, popular(data, len(rows))], data.depth)


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], outputs: int = 1) -> FrequentPlace:
    validate(spec)
    return FrequentPlace()
