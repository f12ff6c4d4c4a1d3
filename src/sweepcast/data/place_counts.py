"""Rankings from counts, and rankings merged in order of preference: what the next-place
baselines and the candidate lists (:mod:`.place_candidates`) share.

A ranking is ``[windows, depth]`` vocabulary indices, best first, -1 where a source has nothing
more to say.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sweepcast.data.places import OTHER

MERGE_CHUNK = 8_192  # windows merged at once


class RankTable:
    """For each key, the ``depth`` values seen most often with it (ties: the lower index first,
    i.e. the globally more visited place); ``other`` is never a value. Built once, looked up per batch."""

    def __init__(self, keys: np.ndarray, values: np.ndarray, depth: int, weights: np.ndarray | None = None) -> None:
        """Each (key, value) event counts once, or ``weights`` times (events given as counts)."""
        frame = pd.DataFrame({"key": np.asarray(keys, dtype=np.int64), "value": np.asarray(values, dtype=np.int64),
                              "n": np.ones(len(keys)) if weights is None else np.asarray(weights, dtype=np.float64)})
        frame = frame[frame["value"] != OTHER]
        counts = frame.groupby(["key", "value"], sort=False)["n"].sum().reset_index().sort_values(
            ["key", "n", "value"], ascending=[True, False, True], kind="stable")
        counts["rank"] = counts.groupby("key").cumcount()
        counts = counts[counts["rank"] < depth]
        self.known = np.unique(counts["key"].to_numpy())
        self.table = np.full((len(self.known) + 1, depth), -1, dtype=np.int32)  # the last row: unknown keys
        self.table[np.searchsorted(self.known, counts["key"].to_numpy()), counts["rank"].to_numpy()] = \
            counts["value"].to_numpy()

    def lookup(self, queries: np.ndarray) -> np.ndarray:
        """``[queries, depth]`` values, -1 padded."""
        return self.table[find(self.known, np.asarray(queries, dtype=np.int64), len(self.known))]


def rank_by_counts(keys: np.ndarray, values: np.ndarray, queries: np.ndarray, depth: int) -> np.ndarray:
    """:class:`RankTable` of ``keys``/``values`` looked up once for ``queries``."""
    return RankTable(keys, values, depth).lookup(queries)


def find(known: np.ndarray, queries: np.ndarray, missing: int) -> np.ndarray:
    """Positions of ``queries`` in the sorted unique ``known``, ``missing`` where absent."""
    at = np.searchsorted(known, queries)
    if not len(known):
        return np.full(np.shape(queries), missing, dtype=np.int64)
    return np.where((at < len(known)) & (known[np.minimum(at, len(known) - 1)] == queries), at, missing)


def merge_rankings(rankings: list[np.ndarray], depth: int) -> np.ndarray:
    """The first ``depth`` distinct places of each row across ``rankings``, in order: a stable sort
    of each row marks every value's first occurrence (O(width log width) per row)."""
    joined = np.concatenate([np.asarray(r, dtype=np.int32) for r in rankings], axis=1)
    out = np.full((len(joined), depth), -1, dtype=np.int32)
    for start in range(0, len(joined), MERGE_CHUNK):
        block = joined[start:start + MERGE_CHUNK]
        order = np.argsort(block, axis=1, kind="stable")
        ordered = np.take_along_axis(block, order, axis=1)
        first_sorted = np.concatenate([np.ones((len(block), 1), dtype=bool), ordered[:, 1:] != ordered[:, :-1]], axis=1)
        first = np.empty_like(first_sorted)
        np.put_along_axis(first, order, first_sorted, axis=1)
        keep = (block >= 0) & first
        rank = np.cumsum(keep, axis=1) - 1
        rows, cols = np.nonzero(keep & (rank < depth))
        out[start + rows, rank[rows, cols]] = block[rows, cols]
    return out
