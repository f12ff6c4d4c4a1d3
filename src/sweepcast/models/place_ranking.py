"""What the next-place baselines share: the popular-places fallback and training transitions.

A ranking is ``[windows, depth]`` vocabulary indices, best first (-1: nothing more to say; see
:mod:`sweepcast.data.place_counts`). Every baseline ends with the globally most visited places,
so each returns a full ranking and its Acc@10 is comparable with a network's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sweepcast.data.place_windows import NextPlaceData


def popular(data: "NextPlaceData", windows: int) -> np.ndarray:
    """The globally most visited training places (vocabulary order), for every window."""
    top = np.arange(1, data.depth + 1, dtype=np.int32)
    return np.broadcast_to(top, (windows, data.depth))


def train_transitions(data: "NextPlaceData") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user, previous place, next place) of consecutive training check-ins of one user."""
    frame = data.frame
    users = frame["user"].to_numpy(dtype=np.int64)
    train = frame["split"].to_numpy() == 0
    pair = (users[1:] == users[:-1]) & train[1:] & train[:-1]
    return users[1:][pair], data.place_index[:-1][pair].astype(np.int64), data.place_index[1:][pair].astype(np.int64)
