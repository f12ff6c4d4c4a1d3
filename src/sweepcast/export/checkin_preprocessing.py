"""Raw check-ins -> each user's next check-in, for an exported check-in model.

The counterpart of :class:`~sweepcast.export.preprocessing.Preprocessing` for the check-in
task: the same JSON-only :class:`~sweepcast.fitted_state.FittedState` (data config, fitted scalers), and requests go through the
training code (parse, clean, featurise), so a forecast sees the preprocessing its model learned on.
A request holds recent check-ins of one or more users (columns ``user, time, lat, lon`` and
optionally ``location``); the answer has one row per user: when and where they check in next.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from sweepcast import checks
from sweepcast.data.checkin_clean import clean_checkins
from sweepcast.data.checkins import TIME_FORMAT, read_edges
from sweepcast.data.sources import parse_rows
from sweepcast.data.trajectories import CheckinSettings, featurise, friends_feature, unscale_targets
from sweepcast.errors import DataError, SweepcastError
from sweepcast.export.serving import Serving

EXAMPLE_WINDOWS = 3  # the input example: the busiest user's last 3 x timestep check-ins


class CheckinPreprocessing(Serving):
    """A check-in model's preprocessing: recent check-ins -> each user's window -> next check-in."""

    @cached_property
    def settings(self) -> CheckinSettings:
        return CheckinSettings.from_config(self.data)

    target = "next_checkin"
    step = "one check-in"

    def max_horizon(self) -> int:
        return 1

    def check_horizon(self, horizon: Any) -> int:
        if not checks.is_integer(horizon) or horizon != 1:
            raise SweepcastError(f"horizon: a check-in model forecasts the next check-in only (1), got {horizon!r}")
        return 1

    def example_rows(self, raw: pd.DataFrame) -> pd.DataFrame:
        """The latest check-ins (newest first, as SNAP writes) of the user who keeps the most after
        cleaning: in the full world-wide file the busiest raw user may live outside the box."""
        kept, _ = clean_checkins(raw.assign(request_user=raw["user"]),
                                 replace(self.settings.clean, min_checkins=1), "the training data")
        counts = kept["request_user"].value_counts()
        busiest = counts.index[counts.to_numpy() == counts.max()].min()
        rows = raw[raw["user"] == busiest].sort_values("time", ascending=False)
        rows = rows.head(EXAMPLE_WINDOWS * self.task.timestep)
        if self.data.get("edges"):  # a request carries the user's friend count itself
            degree = read_edges(self.data["edges"])["user"].value_counts()
            rows = rows.assign(friends=rows["user"].map(degree).fillna(0).astype(np.int64))
        return rows

    def frame(self, rows: pd.DataFrame, name: str) -> pd.DataFrame:
        """Request rows -> modelled check-ins (cleaned as in training, but no user is too short to keep)."""
        if not isinstance(rows, pd.DataFrame) or rows.empty:
            raise DataError(f"{name}: expected check-in rows (user, time, lat, lon[, location]), got none")
        settings = self.settings
        parsed = parse_rows(self.data, rows, name)
        if "friends" in self.features:
            parsed["friends"] = friends_feature(parsed["friends"])
        parsed["request_user"] = parsed["user"]  # cleaning renumbers users; answers use the request's ids
        frame, _ = clean_checkins(parsed, replace(settings.clean, min_checkins=1), name)
        frame = featurise(frame, settings)
        timestep = self.task.timestep
        gaps = frame.groupby("request_user").size().reindex(parsed["user"].unique(), fill_value=0)
        short = gaps[gaps < timestep]
        if len(short):
            raise DataError(f"{name}: user {short.index[0]} keeps {int(short.iloc[0])} gap(s) between check-ins after "
                            f"cleaning; the model reads the last {timestep} (data.timestep), so send at least "
                            f"{timestep + 1} recent check-ins per user")
        return frame

    def forecast(self, predict: Any, rows: pd.DataFrame, horizon: int = 1, name: str = "input") -> pd.DataFrame:
        """``user, time, step, gap_hours, lat, lon``: each user's next check-in."""
        self.check_horizon(horizon)
        frame = self.frame(rows, name)
        timestep = self.task.timestep
        last = frame.groupby("user").tail(timestep)  # time-ordered per user, users in id order
        values = last[self.features].to_numpy(dtype=np.float64).reshape(-1, timestep, len(self.features))
        window = self.input_scaler.transform(values.reshape(-1, len(self.features)))
        scaled = np.asarray(predict(window.reshape(values.shape).astype(np.float32)), dtype=np.float64)
        gap, lat, lon = unscale_targets(self.target_scaler, scaled, self.settings.dt_log).T
        users = last["request_user"].to_numpy()[timestep - 1 :: timestep]
        latest = last["time"].to_numpy()[timestep - 1 :: timestep]
        times = pd.DatetimeIndex(latest) + pd.to_timedelta(gap, unit="h")
        return pd.DataFrame({"user": users, "time": times.round("s").strftime(TIME_FORMAT),
                             "step": np.ones(len(users), dtype=np.int64), "gap_hours": gap, "lat": lat, "lon": lon})
