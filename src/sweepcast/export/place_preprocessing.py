"""Raw check-ins -> each user's top-k next places, for an exported next-place model.

Requests go through the check-in task's training code (parse, clean, featurise:
:class:`~sweepcast.export.checkin_preprocessing.CheckinPreprocessing`), then through the same
candidate lists and features as training (:mod:`sweepcast.data.place_candidates`): the user's
part read from the request, the crowd's from the training totals the export carries. So a
request holding a user's check-ins before a test window ranks exactly as the run did.

Places in a request that are not in the model's vocabulary (new places, or ones too rare in
training) still move the window (gap, coordinates) but are never candidates: the model can only
name places it was trained on. A request needs at least ``timestep + 1`` check-ins per user
after cleaning; more history (up to the last 100 check-ins, and every visit counted) sharpens
the user's part of the features.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from sweepcast import checks
from sweepcast.data.checkins import TIME_FORMAT
from sweepcast.data.place_candidates import CANDIDATES, CandidateIndex, Crowd, History
from sweepcast.data.places import OTHER, PlaceVocabulary
from sweepcast.data.trajectories import unscale_gap
from sweepcast.errors import DataError, SweepcastError
from sweepcast.export.checkin_preprocessing import CheckinPreprocessing
from sweepcast.metrics import RANK_DEPTH
from sweepcast.models.place_point import Places, PointRule, probabilities, ranked_candidates

DEFAULT_TOP = 5


class PlacePreprocessing(CheckinPreprocessing):
    """A next-place model's preprocessing: recent check-ins -> each user's window -> ranked places."""

    target = "next_place"
    step = "one check-in"

    @cached_property
    def vocabulary(self) -> PlaceVocabulary:
        return PlaceVocabulary.from_json(self.state.details["places"])

    @cached_property
    def crowd(self) -> Crowd:
        return Crowd.from_json(self.state.details["crowd"])

    def params(self) -> dict[str, Any]:
        return {"horizon": 1, "top": DEFAULT_TOP}

    def check_top(self, top: Any) -> int:
        most = min(CANDIDATES, self.vocabulary.size - 1)  # a ranking holds the window's candidates
        if not checks.is_integer(top) or not 1 <= top <= most:
            raise SweepcastError(f"top: expected a whole number of places in [1, {most}], got {top!r}")
        return int(top)

    def forecast(self, predict: Any, rows: pd.DataFrame, horizon: int = 1, name: str = "input",
                 top: int = DEFAULT_TOP) -> pd.DataFrame:
        """``user, time, rank, location, lat, lon, score``: each user's ``top`` most likely next
        places (``score``: the model's probability among the user's candidates); ``point_lat,
        point_lon``, the km answer (where to look for the user: the run's ``test_point_km_*``),
        repeated on each of the user's rows; and ``gap_hours`` to that check-in when the model was
        trained with ``data.predict_gap``."""
        self.check_horizon(horizon)
        top = self.check_top(top)
        frame = self.frame(rows, name)
        if (frame["location"] < 0).all():
            raise DataError(f"{name}: a next-place model needs each check-in's location id (the fifth SNAP field, "
                            "column 'location')")
        frame = frame.reset_index(drop=True)
        ends = np.flatnonzero(np.r_[frame["user"].to_numpy()[1:] != frame["user"].to_numpy()[:-1], True])
        history, rows_at = self.history_with_targets(frame, ends)
        index = CandidateIndex(history, self.vocabulary, self.task.timestep, self.crowd)
        cands, facts = index(rows_at)
        scaled = self.input_scaler.transform(frame[self.features[1:]].to_numpy(dtype=np.float64))
        places = self.vocabulary.encode(frame["location"].to_numpy()).astype(np.float64)
        inputs = np.column_stack([places, scaled]).astype(np.float32)
        starts = ends[:, None] - np.arange(self.task.timestep - 1, -1, -1)[None, :]
        out = predict({"window": inputs[starts], "candidates": np.maximum(cands, 0), "candidate_mask": cands >= 0,
                       "candidate_features": facts})
        gap = isinstance(out, dict)  # trained with data.predict_gap: the scores and the gap
        logits = np.asarray(out["scores"] if gap else out, dtype=np.float64)
        table = ranked_table(frame, ends, cands, logits, self.vocabulary, min(top, cands.shape[1]))
        if "point" in self.state.details:  # the km answer, calibrated by the run on its validation windows
            lat, lon = self.point(frame, ends, cands, logits)
            table["point_lat"], table["point_lon"] = (np.repeat(v, min(top, cands.shape[1])) for v in (lat, lon))
        if gap:
            hours = unscale_gap(self.target_scaler, out["gap"], self.settings.dt_log)
            table["gap_hours"] = np.repeat(hours, min(top, cands.shape[1]))
        return table

    def point(self, frame: pd.DataFrame, ends: np.ndarray, cands: np.ndarray, logits: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
        """Each user's km point (:mod:`sweepcast.models.place_point`) from the same top places and
        probabilities the run scored it on."""
        ranked, chance = ranked_candidates(cands, cands >= 0, logits, min(RANK_DEPTH, self.vocabulary.size - 1))
        lat, lon = self.vocabulary.coordinates(ranked)
        places = Places(chance, lat, lon, frame["lat"].to_numpy(dtype=np.float64)[ends],
                        frame["lon"].to_numpy(dtype=np.float64)[ends])
        point_lat, point_lon, _ = PointRule.from_json(self.state.details["point"]).choose(places)
        return point_lat, point_lon

    def history_with_targets(self, frame: pd.DataFrame, ends: np.ndarray) -> tuple[History, np.ndarray]:
        """The request as candidate history, with one placeholder row after each user's last
        check-in: the target row the forecast is for (never counted, never read as input)."""
        places = self.vocabulary.encode(frame["location"].to_numpy()).astype(np.int64)
        position = np.arange(len(frame)) + np.searchsorted(ends, np.arange(len(frame)))  # room for the placeholders
        size = len(frame) + len(ends)
        rows_at = ends + np.arange(1, len(ends) + 1)

        def spread(values: np.ndarray, fill: Any) -> np.ndarray:
            out = np.empty(size, dtype=np.asarray(values).dtype)
            out[position] = values
            out[rows_at] = fill if fill is not None else np.asarray(values)[ends]
            return out

        seconds = frame["time"].to_numpy().astype("datetime64[s]").astype(np.int64).astype(np.float64)
        users = np.unique(frame["user"].to_numpy(), return_inverse=True)[1].astype(np.int64)
        history = History(user=spread(users, None), place=spread(places, OTHER), seconds=spread(seconds, None),
                          lat=spread(frame["lat"].to_numpy(dtype=np.float64), None),
                          lon=spread(frame["lon"].to_numpy(dtype=np.float64), None),
                          train=np.zeros(size, dtype=bool))  # a request is not in the crowd's totals
        return history, rows_at


def ranked_table(frame: pd.DataFrame, ends: np.ndarray, cands: np.ndarray, logits: np.ndarray,
                 vocabulary: PlaceVocabulary, top: int) -> pd.DataFrame:
    """One row per user and rank: the place, where it is, and its probability among the candidates."""
    probability = probabilities(logits, cands >= 0)
    order = np.argsort(-probability, axis=1, kind="stable")[:, :top]
    best = np.take_along_axis(cands, order, axis=1)
    users = frame["request_user"].to_numpy()[ends]
    latest = pd.DatetimeIndex(frame["time"].to_numpy()[ends]).round("s").strftime(TIME_FORMAT)
    lat, lon = vocabulary.coordinates(best)
    return pd.DataFrame({
        "user": np.repeat(users, top), "time": np.repeat(np.asarray(latest), top),
        "rank": np.tile(np.arange(1, top + 1), len(users)), "location": vocabulary.decode(best).ravel(),
        "lat": lat.ravel(), "lon": lon.ravel(),
        "score": np.take_along_axis(probability, order, axis=1).ravel(),
    })
