"""A point answer in km beside a next-place ranking: where to look for the user, not what place.

The most probable place is the right answer to "which place" (Acc@1) and the wrong one to "how
far off": on the New York slice 42.6 % of test targets are places never seen in training, which no
ranker can name, and those check-ins are mostly near where the user just was. So the ranker's
top-1 misses by a median 1.67 km where "stay where you were" misses by 1.11 km
(``bench/README.md``, "Next place").

The decision here answers the km question from the same model. Among the candidates'
coordinates and the user's last check-in it picks the point most likely to lie within
``radius_km`` of the truth, where that chance is the model's probability of the candidates
within the radius (the network is trained on windows whose place is a candidate, so its
probabilities are conditional on that) plus, for points near the last check-in,
``stay_mass``: the share of validation windows whose target is *not* a candidate and lies within
the radius of the last check-in, over the share whose target is one (both chances then in the
same units; measured, not tuned). A point that wins that chance for most
windows lowers the median miss, which a point minimising expected distance (pulled by the far
tail) does not. ``radius_km`` is the one value chosen, on the validation windows: the lowest
median miss there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from sweepcast.data.checkins import haversine_km

RADII_KM = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)  # the validation grid; bench/README.md shows 1.0 won on NYC
CHUNK = 4_096  # windows at a time: the pairwise distances are [windows, candidates + 1, candidates]


@dataclass(frozen=True)
class Places:
    """Each window's ranked candidates as the decision needs them, plus where the user just was."""

    probability: np.ndarray  # [windows, C] the model's probability of each ranked candidate (0: padding)
    lat: np.ndarray  # [windows, C] candidate coordinates (NaN: padding or a place without coordinates)
    lon: np.ndarray
    last_lat: np.ndarray  # [windows] the user's last check-in
    last_lon: np.ndarray


@dataclass(frozen=True)
class PointRule:
    radius_km: float
    stay_mass: float

    def choose(self, places: Places) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lat, lon, stays): each window's point, and whether it is the last check-in itself.
        ``radius_km`` 0 is the top place itself (what calibration falls back to when no radius
        does better on validation)."""
        if self.radius_km == 0:
            return places.lat[:, 0], places.lon[:, 0], np.zeros(len(places.lat), dtype=bool)
        parts = [self.choose_chunk(places, slice(s, s + CHUNK)) for s in range(0, len(places.last_lat), CHUNK)]
        if not parts:
            return np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
        return tuple(np.concatenate(column) for column in zip(*parts))  # type: ignore[return-value]

    def choose_chunk(self, places: Places, part: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lat, lon = places.lat[part], places.lon[part]
        last_lat, last_lon = places.last_lat[part], places.last_lon[part]
        option_lat = np.concatenate([lat, last_lat[:, None]], axis=1)  # the candidates, then the last check-in
        option_lon = np.concatenate([lon, last_lon[:, None]], axis=1)
        with np.errstate(invalid="ignore"):
            near = haversine_km(option_lat[:, :, None], option_lon[:, :, None], lat[:, None, :], lon[:, None, :]) \
                < self.radius_km  # NaN (padding) compares False
            stay = haversine_km(option_lat, option_lon, last_lat[:, None], last_lon[:, None]) < self.radius_km
        probability = np.nan_to_num(places.probability[part])
        within = np.einsum("wjk,wk->wj", near, probability) + self.stay_mass * stay
        within = np.where(np.isnan(option_lat), -1.0, within)
        pick = np.argmax(within, axis=1)  # ties: the better-ranked candidate, the last check-in after all
        at = np.arange(len(pick))
        return option_lat[at, pick], option_lon[at, pick], pick == lat.shape[1]

    def to_json(self) -> dict[str, float]:
        return {"radius_km": self.radius_km, "stay_mass": self.stay_mass}

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> "PointRule":
        return cls(float(payload["radius_km"]), float(payload["stay_mass"]))


def miss_km(rule: PointRule, places: Places, true_lat: np.ndarray, true_lon: np.ndarray) -> np.ndarray:
    lat, lon, _ = rule.choose(places)
    return haversine_km(true_lat, true_lon, lat, lon)


def calibrate(places: Places, true_lat: np.ndarray, true_lon: np.ndarray, outside: np.ndarray) -> PointRule:
    """The rule with the validation windows' lowest median miss over :data:`RADII_KM`, or the top
    place (radius 0) when none beats it there. ``outside``: whether each window's true place is
    missing from its candidates; for radius r the stay mass is the share of windows whose target
    is outside and within r km of the last check-in (measured, so no second value is tuned)."""
    moved = haversine_km(true_lat, true_lon, places.last_lat, places.last_lon)
    inside = max(float(np.mean(~outside)), 1e-9) if len(moved) else 1.0
    rules = [PointRule(0.0, 0.0)] + [PointRule(radius, float(np.mean(outside & (moved < radius))) / inside
                                               if len(moved) else 0.0) for radius in RADII_KM]
    medians = [float(np.nanmedian(miss_km(rule, places, true_lat, true_lon))) if len(true_lat) else 0.0
               for rule in rules]
    return rules[int(np.argmin(medians))]  # ties: the simpler rule (the top place, then smaller radii)


def ranked_candidates(cands: np.ndarray, mask: np.ndarray, logits: np.ndarray, depth: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Each window's ``depth`` best candidates by score (-1 past its real ones) and the model's
    probability of each: one ordering for training's rankings and points and an export's points."""
    order = np.argsort(-np.where(mask, logits, -np.inf), axis=1, kind="stable")[:, :depth]
    ranked = np.where(np.take_along_axis(mask, order, axis=1), np.take_along_axis(cands, order, axis=1), -1)
    return ranked, np.take_along_axis(probabilities(logits, mask), order, axis=1)


def probabilities(logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Softmax of each window's candidate scores over its real candidates (0 for padding)."""
    logits = np.where(mask, np.asarray(logits, dtype=np.float64), -np.inf)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
