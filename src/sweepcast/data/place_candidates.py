"""Per-window candidate places and what is known about each when the forecast is made.

A softmax over every training place cannot learn a user's habits from a few thousand windows
(measured on the New York slice: networks over 5,827 places scored Acc@1 0.000 where the Markov
baseline scored 0.050, ``bench/README.md``). Next-POI rankers instead score a short per-user
candidate list with features of each candidate, so the model learns how to weigh the user's
history against the crowd's. Candidates of a window (first ``CANDIDATES`` distinct):

1. the places in the window itself, most recent first;
2. where everyone went next from the window's last place (training transitions);
3. the user's most visited places among their last ``LOOKBACK`` check-ins;
4. the most visited training places.

Features of a candidate ``c`` for the window whose target is row ``r`` (user ``u``, last place
``p``): ``log1p`` of u's visits to c and of u's transitions p -> c, counted over u's check-ins
before r; ``log1p`` of everyone's visits to c and transitions p -> c in training (the
:class:`Crowd`), less r's own visit and transition when r is itself a training check-in
(leave-one-out: no window sees its own target); ``log1p`` km from u's last check-in to c;
``1 / steps`` since c was last in the window (0 when it is not); and ``1 / (1 + log1p(hours))``
since u last visited c (0: never). An exported model computes the same from its request (the
user's part) and the crowd totals it carries, so a request holding a user's history before a
test window scores exactly as the run did.

Nothing here holds ``[windows, C, G]`` for a whole split: :class:`CandidateIndex` sorts the
check-ins' events once (O(check-ins) memory) and answers any batch of windows, so the full SNAP
file's millions of windows stream through training and scoring a batch at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from sweepcast.data.checkins import haversine_km
from sweepcast.data.place_counts import RankTable, find, merge_rankings, rank_by_counts
from sweepcast.data.places import OTHER, PlaceVocabulary

CANDIDATES = 50  # places scored per window: measured recall of the true next place in bench/README.md
FEATURES = ("user_visits", "visits", "user_transitions", "transitions", "km_from_last", "window_recency",
            "last_visit_recency")
SOURCE_DEPTH = 20  # places taken from each of lists 2 and 3
CHUNK = 8_192  # windows answered at once by CandidateIndex.chunks
LOOKBACK = 100  # check-ins before a target that list 3 (the user's favourites) reads


@dataclass(frozen=True)
class History:
    """The check-ins a user's part of the candidates and features is read from: one row per
    modelled check-in, users contiguous and time-ordered within each user (as the check-in frame
    is). Training windows read the whole modelled history; an exported model reads its request."""

    user: np.ndarray  # [n] dense user code
    place: np.ndarray  # [n] vocabulary index
    seconds: np.ndarray  # [n] Unix time
    lat: np.ndarray
    lon: np.ndarray
    train: np.ndarray  # [n] bool: counted in the crowd's totals (leave-one-out applies to its windows)

    @property
    def previous_same_user(self) -> np.ndarray:
        """[n] whether row i - 1 is the same user's previous check-in."""
        return np.concatenate([[False], self.user[1:] == self.user[:-1]])


@dataclass(frozen=True)
class Crowd:
    """What everyone did in training, as totals: visits per place and transitions between places.
    An exported model carries it (JSON), so serving scores candidates as training did."""

    visits: np.ndarray  # [V] training visits per vocabulary index
    pairs: np.ndarray  # [P] sorted int64 keys previous * V + next of training transitions
    pair_counts: np.ndarray  # [P]

    @classmethod
    def from_history(cls, history: History, size: int) -> "Crowd":
        place, train = history.place.astype(np.int64), history.train
        pair = history.previous_same_user & train & np.roll(train, 1)  # row i - 1 -> i, both in training
        keys = np.roll(place, 1)[pair] * size + place[pair]
        pairs, counts = np.unique(keys[place[pair] > OTHER], return_counts=True)
        visits = np.bincount(place[train], minlength=size)
        return cls(visits.astype(np.int64), pairs.astype(np.int64), counts.astype(np.int64))

    def transitions(self, keys: np.ndarray) -> np.ndarray:
        at = find(self.pairs, np.ravel(keys).astype(np.int64), -1)
        return np.where(at >= 0, self.pair_counts[np.maximum(at, 0)], 0).reshape(np.shape(keys)).astype(np.float64)

    def to_json(self) -> dict[str, list[int]]:
        return {"visits": self.visits.tolist(), "pairs": self.pairs.tolist(), "pair_counts": self.pair_counts.tolist()}

    @classmethod
    def from_json(cls, payload: dict[str, list[int]]) -> "Crowd":
        return cls(*(np.asarray(payload[k], dtype=np.int64) for k in ("visits", "pairs", "pair_counts")))


class PrefixIndex:
    """Events (a key at a time order), sorted once, to count those of a key before a moment;
    ``horizon`` must exceed every order stored or asked about."""

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


class CandidateIndex:
    """Everything candidate lists and features need, computed once; then ``index(rows)`` answers any
    batch of windows by their target rows (row ``r - 1`` is the window's last check-in)."""

    def __init__(self, history: History, vocabulary: PlaceVocabulary, timestep: int, crowd: Crowd) -> None:
        self.history, self.vocabulary, self.timestep, self.crowd = history, vocabulary, timestep, crowd
        self.size = np.int64(vocabulary.size)
        self.depth = min(CANDIDATES, vocabulary.size - 1)
        user, place, row = history.user, history.place, np.arange(len(history.user))
        size = self.size
        self.successors = RankTable(crowd.pairs // size, crowd.pairs % size, SOURCE_DEPTH, crowd.pair_counts)
        prev = np.where(history.previous_same_user, np.roll(place, 1), -1)
        visit = place > OTHER
        step = history.previous_same_user & visit
        self.user_visits = PrefixIndex((user * size + place)[visit], row[visit], len(row) + 2)
        self.user_transitions = PrefixIndex(((user * size + prev) * size + place)[step], row[step], len(row) + 2)

    def __call__(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``[windows, C]`` candidates (:meth:`lists`) of the windows forecasting ``rows`` and their
        ``[windows, C, G]`` float32 features."""
        rows = np.asarray(rows, dtype=np.int64)
        cands = self.lists(rows)
        return cands, self.features(rows, cands)

    def lists(self, rows: np.ndarray) -> np.ndarray:
        """``[windows, C]`` vocabulary indices (-1 padding). A place from lists 2 and 3 stays only
        if the user visited it before, or someone other than this window's own target made the
        transition to it (leave-one-out), or it is one of the most visited places."""
        history, depth, timestep, size = self.history, self.depth, self.timestep, self.size
        rows = np.asarray(rows, dtype=np.int64)
        window = history.place[rows[:, None] - np.arange(1, timestep + 1)[None, :]].astype(np.int32)  # newest first
        window = np.where(window > OTHER, window, -1)
        popular = np.broadcast_to(np.arange(1, depth + 1, dtype=np.int32), (len(rows), depth))
        pool = merge_rankings([window, self.successors.lookup(history.place[rows - 1]), self.recent_favourites(rows),
                               popular], timestep + 2 * SOURCE_DEPTH + depth)
        c = np.maximum(pool.astype(np.int64), 0)
        visited = self.user_visits.query(history.user[rows][:, None] * size + c, np.broadcast_to(rows[:, None], c.shape))[0]
        keep = (pool >= 0) & ((visited > 0) | (self.crowd_transitions(rows, c) > 0) | ((pool > OTHER) & (pool <= depth)))
        order = np.argsort(~keep, axis=1, kind="stable")[:, :depth]  # kept first, in pool order
        return np.where(np.take_along_axis(keep, order, axis=1), np.take_along_axis(pool, order, axis=1),
                        -1).astype(np.int32)

    def crowd_transitions(self, rows: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Training transitions last place -> ``c``, less this target's own (leave-one-out)."""
        history = self.history
        own = (c == history.place[rows][:, None]) & (history.train[rows] & history.train[rows - 1])[:, None]
        return np.maximum(self.crowd.transitions(history.place[rows - 1][:, None] * self.size + c) - own, 0)

    def recent_favourites(self, rows: np.ndarray) -> np.ndarray:
        """The user's most visited places among their last :data:`LOOKBACK` check-ins before each target."""
        back = rows[:, None] - np.arange(1, LOOKBACK + 1)[None, :]
        inside = (back >= 0) & (self.history.user[np.maximum(back, 0)] == self.history.user[rows][:, None])
        places = np.where(inside, self.history.place[np.maximum(back, 0)], OTHER)
        window_of = np.broadcast_to(np.arange(len(rows))[:, None], places.shape)
        return rank_by_counts(window_of.ravel(), places.ravel(), np.arange(len(rows)), SOURCE_DEPTH)

    def chunks(self, rows: np.ndarray) -> "Iterator[tuple[slice, np.ndarray, np.ndarray]]":
        """``(slice of rows, candidates, features)`` for ``rows``, :data:`CHUNK` windows at a time."""
        for start in range(0, len(rows), CHUNK):
            part = slice(start, start + CHUNK)
            yield (part, *self(rows[part]))

    def features(self, rows: np.ndarray, cands: np.ndarray) -> np.ndarray:
        """``[windows, candidates, len(FEATURES)]`` features of each candidate (0 for padding). The
        user's counts are over their check-ins before the target; the crowd's are training totals,
        less the target's own visit and transition when the target is a training check-in."""
        history, size, timestep, crowd = self.history, self.size, self.timestep, self.crowd
        c = np.maximum(cands.astype(np.int64), 0)
        u = history.user[rows][:, None]
        p = history.place[rows - 1][:, None]
        at = np.broadcast_to(rows[:, None], cands.shape)
        user_visits, latest = self.user_visits.query(u * size + c, at)
        user_transitions = self.user_transitions.query((u * size + p) * size + c, at)[0]
        own = (c == history.place[rows][:, None]) & history.train[rows][:, None]  # the target itself, if counted
        visits = crowd.visits[c] - own
        transitions = self.crowd_transitions(rows, c)
        hours_since = (history.seconds[rows - 1][:, None] - history.seconds[np.maximum(latest, 0)]) / 3600.0
        last_visit = np.where(latest >= 0, 1.0 / (1.0 + np.log1p(np.maximum(hours_since, 0.0))), 0.0)
        km = haversine_km(history.lat[rows - 1][:, None], history.lon[rows - 1][:, None],
                          self.vocabulary.lat[c], self.vocabulary.lon[c])
        window = history.place[rows[:, None] - np.arange(1, timestep + 1)[None, :]]  # most recent first
        seen = window[:, None, :] == c[:, :, None]  # [windows, candidates, timestep]
        recency = np.where(seen.any(axis=2), 1.0 / (seen.argmax(axis=2) + 1), 0.0)
        counts = (user_visits, np.maximum(visits, 0), user_transitions, np.maximum(transitions, 0))
        columns = [*(np.log1p(n) for n in counts), np.log1p(np.nan_to_num(km, nan=0.0)), recency, last_visit]
        stacked = np.stack([np.asarray(column, dtype=np.float32) for column in columns], axis=2)
        return np.where((cands >= 0)[:, :, None], stacked, np.float32(0.0))
