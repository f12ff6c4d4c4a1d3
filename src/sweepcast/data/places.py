"""The places a next-place model can name: a vocabulary of location ids built from training check-ins.

Index 0 is ``other``: every place seen fewer than ``min_count`` times in training, beyond the
``max_places`` most visited, or never seen in training at all (a val/test place, a new place in a
request). No ranker may answer ``other`` (it is not a place), and a target that is ``other`` is a
miss for every ranker: the share of such targets is the ceiling the metrics report.

Why a capped vocabulary and not all places: SNAP's full Gowalla file has about 1.28 M distinct
places, most visited once; a softmax over all of them would need a 1.28 M-wide output layer
(82 M weights at 64 units) for places no model can learn from a single visit. The cap keeps the
output layer bounded whatever the file (``max_places`` x units weights) and the places it drops
are the ones seen too rarely to rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from sweepcast import checks
from sweepcast.errors import ConfigError

OTHER = 0  # the vocabulary index of every place outside it
PLACE_KEYS = ("min_count", "max_places", "embedding_dim")


@dataclass(frozen=True)
class PlaceSettings:
    """``data.places.*``: which training places get their own index, and their embedding width."""

    min_count: int = 1
    max_places: int = 20_000
    embedding_dim: int = 32

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> "PlaceSettings":
        cfg = cfg or {}
        if not isinstance(cfg, Mapping):
            raise ConfigError("data.places", f"a mapping with the keys {PLACE_KEYS}", cfg)
        unknown = [k for k in cfg if k not in PLACE_KEYS]
        if unknown:
            raise ConfigError(f"data.places.{unknown[0]}", f"one of the keys {PLACE_KEYS}", unknown[0])
        return cls(
            min_count=checks.integer("data.places.min_count", cfg.get("min_count", 1), 1),
            max_places=checks.integer("data.places.max_places", cfg.get("max_places", 20_000), 2, maximum=200_000),
            embedding_dim=checks.integer("data.places.embedding_dim", cfg.get("embedding_dim", 32), 1, maximum=1024),
        )


@dataclass(frozen=True)
class PlaceVocabulary:
    """Location ids with their own index (``ids[i - 1]`` is index ``i``) and where each one is."""

    ids: np.ndarray  # int64 location ids, most visited first
    lat: np.ndarray  # per index, index 0 (other) is NaN
    lon: np.ndarray
    counts: np.ndarray  # training check-ins per index (index 0: those of the places left out)

    @classmethod
    def fit(cls, locations: np.ndarray, lat: np.ndarray, lon: np.ndarray, settings: PlaceSettings) -> "PlaceVocabulary":
        """From training check-ins only: the ``max_places`` most visited places seen at least
        ``min_count`` times; a place's coordinates are the mean of its check-ins'."""
        frame = pd.DataFrame({"location": np.asarray(locations, dtype=np.int64), "lat": lat, "lon": lon})
        stats = frame.groupby("location").agg(count=("lat", "size"), lat=("lat", "mean"), lon=("lon", "mean"))
        stats = stats.sort_values("count", ascending=False, kind="stable")
        kept = stats[stats["count"] >= settings.min_count].head(settings.max_places)
        left_out = int(stats["count"].sum() - kept["count"].sum())
        return cls(ids=kept.index.to_numpy(dtype=np.int64),
                   lat=np.concatenate([[np.nan], kept["lat"].to_numpy(dtype=np.float64)]),
                   lon=np.concatenate([[np.nan], kept["lon"].to_numpy(dtype=np.float64)]),
                   counts=np.concatenate([[left_out], kept["count"].to_numpy(dtype=np.int64)]))

    @property
    def size(self) -> int:
        """Indices a model scores, ``other`` included."""
        return len(self.ids) + 1

    def encode(self, locations: np.ndarray) -> np.ndarray:
        """Location ids -> vocabulary indices (``OTHER`` for any id outside it)."""
        locations = np.asarray(locations, dtype=np.int64)
        order = np.argsort(self.ids, kind="stable")
        sorted_ids = self.ids[order]
        at = np.clip(np.searchsorted(sorted_ids, locations), 0, max(len(sorted_ids) - 1, 0))
        found = (sorted_ids[at] == locations) if len(sorted_ids) else np.zeros(len(locations), dtype=bool)
        return np.where(found, order[at] + 1, OTHER).astype(np.int32)

    def decode(self, indices: np.ndarray) -> np.ndarray:
        """Vocabulary indices -> location ids (-1 for ``other`` and for padding)."""
        indices = np.asarray(indices)
        ids = np.concatenate([[-1], self.ids])
        return np.where(indices > 0, ids[np.clip(indices, 0, len(self.ids))], -1)

    def coordinates(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lat, lon) of vocabulary indices: NaN for ``other`` and for -1 padding (index 0 holds NaN)."""
        safe = np.clip(np.asarray(indices), OTHER, len(self.ids))
        return self.lat[safe], self.lon[safe]

    def to_json(self) -> dict[str, Any]:
        return {"ids": self.ids.tolist(), "lat": self.lat[1:].tolist(), "lon": self.lon[1:].tolist(),
                "counts": self.counts.tolist()}

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> "PlaceVocabulary":
        return cls(ids=np.asarray(payload["ids"], dtype=np.int64),
                   lat=np.concatenate([[np.nan], np.asarray(payload["lat"], dtype=np.float64)]),
                   lon=np.concatenate([[np.nan], np.asarray(payload["lon"], dtype=np.float64)]),
                   counts=np.asarray(payload["counts"], dtype=np.int64))
