"""Per-window candidate places and what is known about each when the forecast is made.

A softmax over every training place cannot learn a user's habits from a few thousand windows
(measured on the New York slice: networks over 5,827 places scored Acc@1 0.000 where the Markov
baseline scored 0.050, ``bench/README.md``). Next-POI rankers instead score a short per-user
candidate list with features of each candidate, so the model learns how to weigh the user's
history against the crowd's. Candidates of a window (first ``CANDIDATES`` distinct):

1. the places in the window itself, most recent first;
2. where everyone went next from the window's last place (training transitions);
3. the user's most visited training places;
4. the most visited training places.

Features of a candidate ``c`` for the window whose target is row ``r`` (user ``u``, last place
``p``), all counted over check-ins strictly before ``r``'s time, so no window sees its own target:
``log1p`` of u's visits to c, of everyone's visits to c, of u's transitions p -> c, of everyone's
transitions p -> c; ``log1p`` km from u's last check-in to c; and ``1 / steps`` since c was last in
the window (0 when it is not); and ``1 / (1 + log1p(hours))`` since u last visited c before the
window's last check-in (0: never). A training window's list may hold its target only because of its
own transition or visit (lists 2-3 use whole-training counts); its features do not, and the
scores that matter are on val/test windows, whose lists never see their targets.

Nothing here holds ``[windows, C, G]`` for a whole split: :class:`CandidateIndex` sorts the
check-ins' events once (O(check-ins) memory) and answers any batch of windows, so the full SNAP
file's millions of windows stream through training and scoring a batch at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from sweepcast.data.checkins import haversine_km
from sweepcast.data.place_counts import RankTable, find, merge_rankings
from sweepcast.data.places import OTHER, PlaceVocabulary

CANDIDATES = 50  # places scored per window: measured recall of the true next place in bench/README.md
FEATURES = ("user_visits", "visits", "user_transitions", "transitions", "km_from_last", "window_recency",
            "last_visit_recency")
SOURCE_DEPTH = 20  # places taken from each of lists 2 and 3
CHUNK = 8_192  # windows answered at once by CandidateIndex.chunks


@dataclass(frozen=True)
class History:
    """The check-ins candidates and features are computed from: one row per modelled check-in,
    users contiguous and time-ordered within each user (as the check-in frame is)."""

    user: np.ndarray  # [n] dense user code
    place: np.ndarray  # [n] vocabulary index
    order: np.ndarray  # [n] rank of the check-in's time among all rows (ties share a rank)
    seconds_of_order: np.ndarray  # the time (Unix seconds) of each rank
    lat: np.ndarray
    lon: np.ndarray
    train: np.ndarray  # [n] bool

    @property
    def previous_same_user(self) -> np.ndarray:
        """[n] whether row i - 1 is the same user's previous check-in."""
        return np.concatenate([[False], self.user[1:] == self.user[:-1]])


class PrefixIndex:
    """Events (a key at a time order), sorted once, to count those of a key before a moment."""

    def __init__(self, keys: np.ndarray, order: np.ndarray, horizon: int) -> None:
        self.known, codes = np.unique(np.asarray(keys, dtype=np.int64), return_inverse=True)
        self.horizon = np.int64(horizon)
        self.combined = np.sort(codes.astype(np.int64) * self.horizon + np.asarray(order, dtype=np.int64))

    def query(self, keys: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """How many events with key ``keys[i]`` happened strictly before ``order[i]``, and the
        order of the latest of them (-1: none); any shape of queries."""
        flat_keys, flat_order = np.ravel(keys).astype(np.int64), np.ravel(order).astype(np.int64)
        at = find(self.known, flat_keys, -1)
        base = np.maximum(at, 0) * self.horizon
        end = np.searchsorted(self.combined, base + flat_order, side="left")
        before = np.where(at >= 0, end - np.searchsorted(self.combined, base, side="left"), 0)
        latest = np.where(before > 0, self.combined[np.maximum(end - 1, 0)] - base, -1) if len(self.combined) \
            else np.full(len(flat_keys), -1)
        return before.reshape(np.shape(keys)).astype(np.float64), latest.reshape(np.shape(keys))


def prefix_counts(keys: np.ndarray, order: np.ndarray, query_keys: np.ndarray,
                  query_order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`PrefixIndex.query` of a one-off index."""
    horizon = max(int(np.max(order, initial=0)), int(np.max(query_order, initial=0))) + 2
    return PrefixIndex(keys, order, horizon).query(query_keys, query_order)


class CandidateIndex:
    """Everything candidate lists and features need, computed once from the check-ins; then
    ``index(rows)`` answers any batch of windows (by their target rows)."""

    def __init__(self, history: History, vocabulary: PlaceVocabulary, timestep: int) -> None:
        self.history, self.vocabulary, self.timestep = history, vocabulary, timestep
        self.size = np.int64(vocabulary.size)
        self.depth = min(CANDIDATES, vocabulary.size - 1)
        user, place, order = history.user, history.place, history.order
        same, train = history.previous_same_user, history.train
        pair = same & train & np.roll(train, 1)  # row i - 1 -> i, both training check-ins of one user
        self.successors = RankTable(place[:-1][pair[1:]], place[1:][pair[1:]], SOURCE_DEPTH)
        self.own = RankTable(user[train], place[train], SOURCE_DEPTH)
        prev = np.where(same, np.roll(place, 1), -1)
        visit, step = place > OTHER, same & (place > OTHER)
        horizon = int(order.max(initial=0)) + 2
        size = self.size
        self.user_visits = PrefixIndex((user * size + place)[visit], order[visit], horizon)
        self.visits = PrefixIndex(place[visit], order[visit], horizon)
        self.user_transitions = PrefixIndex(((user * size + prev) * size + place)[step], order[step], horizon)
        self.transitions = PrefixIndex((prev * size + place)[step], order[step], horizon)

    def __call__(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``[windows, C]`` vocabulary indices (-1 padding) for the windows forecasting ``rows``, and
        their ``[windows, C, G]`` float32 features. A place from lists 2 and 3 stays only if what put
        it there happened before the window's target (so a training window's list never holds its
        target just because of the target's own visit)."""
        history, depth, timestep = self.history, self.depth, self.timestep
        rows = np.asarray(rows, dtype=np.int64)
        window = history.place[rows[:, None] - np.arange(1, timestep + 1)[None, :]].astype(np.int32)  # newest first
        window = np.where(window > OTHER, window, -1)
        popular = np.broadcast_to(np.arange(1, depth + 1, dtype=np.int32), (len(rows), depth))
        pool = merge_rankings([window, self.successors.lookup(history.place[rows - 1]),
                               self.own.lookup(history.user[rows]), popular], timestep + 2 * SOURCE_DEPTH + depth)
        facts = self.features(rows, pool)
        from_history = (facts[:, :, FEATURES.index("user_visits")] > 0) | (facts[:, :, FEATURES.index("transitions")] > 0)
        in_window = facts[:, :, FEATURES.index("window_recency")] > 0
        keep = (pool >= 0) & (from_history | in_window | ((pool > OTHER) & (pool <= depth)))
        order = np.argsort(~keep, axis=1, kind="stable")[:, :depth]  # kept first, in pool order
        kept = np.take_along_axis(keep, order, axis=1)
        cands = np.where(kept, np.take_along_axis(pool, order, axis=1), -1).astype(np.int32)
        facts = np.where(kept[:, :, None], np.take_along_axis(facts, order[:, :, None], axis=1), 0.0)
        return cands, facts.astype(np.float32)

    def chunks(self, rows: np.ndarray) -> "Iterator[tuple[slice, np.ndarray, np.ndarray]]":
        """``(slice of rows, candidates, features)`` for ``rows``, :data:`CHUNK` windows at a time."""
        for start in range(0, len(rows), CHUNK):
            part = slice(start, start + CHUNK)
            yield (part, *self(rows[part]))

    def features(self, rows: np.ndarray, cands: np.ndarray) -> np.ndarray:
        """``[windows, candidates, len(FEATURES)]`` features of each candidate (0 for padding)."""
        history, size, timestep = self.history, self.size, self.timestep
        when = np.broadcast_to(history.order[rows][:, None], cands.shape)
        c = np.maximum(cands.astype(np.int64), 0)
        u = history.user[rows][:, None]
        p = history.place[rows - 1][:, None]
        user_visits, latest = self.user_visits.query(u * size + c, when)
        counts = [user_visits, self.visits.query(c, when)[0],
                  self.user_transitions.query((u * size + p) * size + c, when)[0],
                  self.transitions.query(p * size + c, when)[0]]
        now = history.seconds_of_order[history.order[rows - 1]][:, None]  # the window's last check-in
        hours_since = (now - history.seconds_of_order[np.maximum(latest, 0)]) / 3600.0
        last_visit = np.where(latest >= 0, 1.0 / (1.0 + np.log1p(np.maximum(hours_since, 0.0))), 0.0)
        km = haversine_km(history.lat[rows - 1][:, None], history.lon[rows - 1][:, None],
                          self.vocabulary.lat[c], self.vocabulary.lon[c])
        window = history.place[rows[:, None] - np.arange(1, timestep + 1)[None, :]]  # most recent first
        seen = window[:, None, :] == c[:, :, None]  # [windows, candidates, timestep]
        recency = np.where(seen.any(axis=2), 1.0 / (seen.argmax(axis=2) + 1), 0.0)
        stacked = np.stack([*(np.log1p(n) for n in counts), np.log1p(np.nan_to_num(km, nan=0.0)), recency,
                            last_visit], axis=2)
        return np.where((cands >= 0)[:, :, None], stacked, 0.0).astype(np.float32)
