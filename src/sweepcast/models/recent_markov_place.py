"""Recent Markov place: the Markov chain again, counted over every check-in before the forecast.

``markov_place`` counts training transitions only, as next-POI papers do; a network here also
sees what happened between the end of training and the forecast (the candidates' features,
:mod:`sweepcast.data.place_candidates`). This baseline gets the same knowledge: it ranks each
window's candidates by the user's transitions from the last place, then everyone's, then the
user's visits, then everyone's, all counted before the window's target. So a network's ``skill``
measures what it learned, not what it was allowed to see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from sweepcast.data.place_candidates import FEATURES
from sweepcast.models.spec import check_keys

if TYPE_CHECKING:
    from sweepcast.data.place_windows import NextPlaceData

KIND = "baseline"
DATA_KINDS = ("next_place",)
KEYS = ("name",)
PRECEDENCE = ("user_transitions", "transitions", "user_visits", "visits")  # most telling first


def validate(spec: Mapping[str, Any]) -> None:
    check_keys(spec, KEYS)


class RecentMarkovPlace:
    def fit(self, data: "NextPlaceData", seed: int) -> dict[str, float]:
        return {}

    def predict(self, data: "NextPlaceData", split: str) -> np.ndarray:
        """``[windows, depth]``: each window's candidates ordered by the counts in :data:`PRECEDENCE`
        (ties: the candidate list's own order, which puts the window's places first)."""
        rows = data.target_rows(split)
        ranked = np.full((len(rows), data.depth), -1, dtype=np.int32)
        for part, cands, facts in data.index.chunks(rows):
            keys = [np.where(cands >= 0, -facts[:, :, FEATURES.index(name)], np.inf) for name in reversed(PRECEDENCE)]
            position = np.broadcast_to(np.arange(cands.shape[1]), cands.shape)
            order = np.lexsort([position, *keys], axis=1)[:, :data.depth]  # the last key sorts first
            ranked[part] = np.take_along_axis(cands, order, axis=1)
        return ranked


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], outputs: int = 1) -> RecentMarkovPlace:
    validate(spec)
    return RecentMarkovPlace()
