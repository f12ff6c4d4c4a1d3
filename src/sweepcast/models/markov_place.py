"""Markov place: a first-order Markov chain over each user's training transitions, with a global fallback.

From the window's last place, rank where this user went next from there most often; then where
everyone went next from there; then the user's most visited places; then the most visited
places overall. The usual sequence baseline of next-POI papers (before FPMC and the networks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from sweepcast.data.place_counts import merge_rankings, rank_by_counts
from sweepcast.models.frequent_place import FrequentPlace
from sweepcast.models.place_ranking import train_transitions
from sweepcast.models.spec import check_keys

if TYPE_CHECKING:
    from sweepcast.data.place_windows import NextPlaceData

KIND = "baseline"
DATA_KINDS = ("next_place",)
KEYS = ("name",)


def validate(spec: Mapping[str, Any]) -> None:
    check_keys(spec, KEYS)


class MarkovPlace:
    def __init__(self) -> None:
        self.frequent = FrequentPlace()  # the fallback after the transitions

    def fit(self, data: "NextPlaceData", seed: int) -> dict[str, float]:
        """Each user's transitions between consecutive training check-ins; everyone's are the
        candidate index's training successors, the same counts (:class:`~sweepcast.data.place_candidates.Crowd`)."""
        self.size = data.vocabulary.size
        self.users, self.previous, self.following = train_transitions(data)
        self.frequent.fit(data, seed)
        return {"train_transitions": float(len(self.users))}

    def predict(self, data: "NextPlaceData", split: str) -> np.ndarray:
        rows = data.target_rows(split)
        users = data.frame["user"].to_numpy(dtype=np.int64)[rows]
        last = data.place_index[rows - 1].astype(np.int64)  # windows never cross users
        depth = data.depth
        own = rank_by_counts(self.users * self.size + self.previous, self.following, users * self.size + last, depth)
        everyone = data.index.successors.lookup(last)[:, :depth]  # ranked to SOURCE_DEPTH >= depth
        return merge_rankings([own, everyone, self.frequent.predict(data, split)], depth)  # frequent ends in popular


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], outputs: int = 1) -> MarkovPlace:
    validate(spec)
    return MarkovPlace()
