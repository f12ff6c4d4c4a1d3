"""Check-in trajectories as model windows: per-user sequences, next check-in targets.

Each user's cleaned check-ins, in time order, become rows of ``dt`` (hours since the user's
previous check-in, ``log1p``-compressed by default: gaps run from minutes to months), ``lat`` and
``lon``, optionally ``hour_of_week`` and ``friends``. A window is ``timestep`` consecutive rows of
one user and forecasts that user's next row's ``(dt, lat, lon)``; it never crosses users.

A window belongs to the split of the check-in it forecasts. ``split.by=time`` (default) cuts all
check-ins at two moments (70 % / 15 % / 15 % of check-ins), so the test split is the future for
everyone; ``split.by=user`` puts whole users in one split, which measures generalisation to
unseen users. A window's inputs may reach back into an earlier split of the same user: that
past is known when the forecast is made, and only the forecast target decides the split.

Windows are target row numbers (one int64 each); a batch gathers its inputs, so memory does not
grow with ``timestep``. Scalers are fit on training rows only.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from sweepcast import checks
from sweepcast.data.checkin_clean import CheckinCleanReport, CheckinCleanSpec, clean_checkins
from sweepcast.data.checkins import BAD_ROWS, generate_checkins, read_edges, read_snap
from sweepcast.data.scalers import check_scaler, make_scaler
from sweepcast.data.splits import SPLITS
from sweepcast.data.windows import ForecastTask, input_rows, rows_window_dataset, window_settings
from sweepcast.errors import ConfigError, DataError

log = logging.getLogger(__name__)

TARGETS = ("dt", "lat", "lon")  # what each window forecasts, in this order
SPLIT_BY = ("time", "user")
PLOT_SAMPLE = 20_000  # check-ins kept (per side) for the before/after cleaning figure
MAX_GAP_HOURS = 10 * 366 * 24.0  # forecast gaps are capped at ten years (Gowalla spans two)


@dataclass(frozen=True)
class CheckinSettings:
    """``data.*`` of a check-in config, parsed once and checked without reading any file
    (``config`` keeps the node itself: the fitted state an export carries)."""

    config: Mapping[str, Any]
    task: ForecastTask
    path: str | None
    edges: str | None
    bad_rows: str
    users: int
    seed: int
    start: str
    days: int
    dt_log: bool
    hour_of_week: bool
    timezone: str
    scaler: str
    split_by: str
    train: float
    val: float
    split_seed: int
    clean: CheckinCleanSpec
    min_history: int  # scored (val/test) windows need this many earlier check-ins of the user: the
    # largest timestep of a sweep, so every trial and baseline is scored on the same rows

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "CheckinSettings":
        timestep, horizon, _ = window_settings(cfg)
        if horizon != 1:
            raise ConfigError("data.horizon", "1 for check-ins (the next check-in: time gap, latitude, longitude)",
                              horizon)
        synthetic = cfg.get("synthetic") or {}
        split = cfg.get("split") or {}
        known_split = ("by", "train", "val", "seed")
        unknown = [k for k in split if k not in known_split]
        if unknown:
            raise ConfigError(f"data.split.{unknown[0]}", f"one of the keys {known_split}", unknown[0])
        by = split.get("by", "time")
        if by not in SPLIT_BY:
            raise ConfigError("data.split.by", f"one of {SPLIT_BY}", by)
        train, val = split.get("train", 0.7), split.get("val", 0.15)
        train = checks.number("data.split.train", train, 0.0, 1.0, low_open=True, high_open=True,
                              expected="a fraction in (0, 1)")
        if not checks.is_number(val) or not 0.0 < val < 1.0 - train:
            raise ConfigError("data.split.val", f"a fraction in (0, {1.0 - train:g}) so test keeps check-ins", val)
        if cfg.get("bad_rows", "fail") not in BAD_ROWS:
            raise ConfigError("data.bad_rows", f"one of {BAD_ROWS}", cfg.get("bad_rows"))
        for key in ("dt_log", "hour_of_week"):
            checks.boolean(f"data.{key}", cfg.get(key, False))
        timezone = str(cfg.get("timezone") or "UTC")
        try:
            pd.Timestamp("2010-01-01", tz="UTC").tz_convert(timezone)
        except Exception:  # pytz/zoneinfo raise different types for an unknown zone
            raise ConfigError("data.timezone", "an IANA time zone such as America/New_York", timezone) from None
        return cls(
            config=cfg,
            task=ForecastTask(timestep, 1, "direct", kind="checkins", targets=3),
            path=str(cfg["path"]) if cfg.get("path") else None,
            edges=str(cfg["edges"]) if cfg.get("edges") else None,
            bad_rows=str(cfg.get("bad_rows", "fail")),
            users=synthetic.get("users", 300), seed=int(synthetic.get("seed", 0)),
            start=str(synthetic.get("start", "2010-01-01")), days=int(synthetic.get("days", 240)),
            dt_log=bool(cfg.get("dt_log", True)), hour_of_week=bool(cfg.get("hour_of_week", False)),
            timezone=timezone, scaler=check_scaler(cfg.get("scaler", "minmax")),
            split_by=by, train=float(train), val=float(val), split_seed=int(split.get("seed", 0)),
            clean=CheckinCleanSpec.from_config(cfg.get("clean") or {}),
            min_history=max(timestep, checks.integer("data.min_history", cfg.get("min_history"), 1, optional=True,
                                                     hint=" (earlier check-ins a scored window needs)") or 0),
        )

    @property
    def features(self) -> list[str]:
        """Input columns, targets first."""
        return [*TARGETS, *(["hour_of_week"] if self.hour_of_week else []), *(["friends"] if self.edges else [])]


@dataclass
class CheckinData:
    """Cleaned check-ins, their split windows and train-fitted scalers: what a check-in run needs.

    Offers the same surface the trainer and the families use on a series
    (:class:`~sweepcast.data.pipeline.PreparedData`): ``dataset``, ``windows``, ``scaled_targets``,
    ``target_matrix``, ``inverse_target``, ``window_count``.
    """

    frame: pd.DataFrame  # modelled check-ins: user, time, lat, lon, location, dt_hours, split, ...
    source: str
    features: list[str]
    settings: CheckinSettings
    task: ForecastTask
    rows: dict[str, np.ndarray]  # per split: the row each window forecasts
    input_scaler: Any
    target_scaler: Any
    inputs: np.ndarray  # [n, F] scaled float32
    targets: np.ndarray  # [n, 3] scaled float32
    report: CheckinCleanReport
    fingerprint: str
    before_cleaning: pd.DataFrame  # a sample of lat/lon as read, for the before/after figure

    target = "next check-in"

    @property
    def timestep(self) -> int:
        return self.task.timestep

    @property
    def horizon(self) -> int:
        return 1

    def window_count(self, split: str) -> int:
        return len(self.rows[split])

    def target_rows(self, split: str, steps: int | None = None) -> np.ndarray:
        return self.rows[split]

    def windows(self, split: str, steps: int | None = None) -> np.ndarray:
        """``[windows, timestep, features]`` scaled inputs at once (GBDT's design matrix)."""
        rows = self.rows[split]
        return self.inputs[input_rows(rows, self.timestep)]

    def scaled_targets(self, split: str, steps: int = 1) -> np.ndarray:
        return self.targets[self.rows[split]]

    def target_matrix(self, split: str) -> np.ndarray:
        """``[windows, 3]`` true (dt hours, lat, lon) of each window's next check-in."""
        return self.frame[["dt_hours", "lat", "lon"]].to_numpy(dtype=np.float64)[self.rows[split]]

    def dataset(self, split: str, batch_size: int, shuffle: bool = False, seed: int | None = None):
        return rows_window_dataset(self.inputs, self.targets, self.rows[split], self.timestep, batch_size,
                                   shuffle, seed)

    def inverse_target(self, scaled: np.ndarray) -> np.ndarray:
        """Scaled ``[windows, 3]`` outputs -> (dt hours, lat, lon)."""
        return unscale_targets(self.target_scaler, scaled, self.settings.dt_log)

    def scale_target(self, values: np.ndarray) -> np.ndarray:
        """(dt hours, lat, lon) -> the scaled values models are trained and scored on."""
        values = np.array(values, dtype=np.float64).reshape(-1, 3)
        if self.settings.dt_log:
            values[:, 0] = np.log1p(np.maximum(values[:, 0], 0.0))
        return self.target_scaler.transform(values)

    def target_unit_scale(self) -> float:
        """Check-in RMSEs stay in scaled units (three quantities, three units), as the study reported."""
        return 1.0


def unscale_targets(scaler: Any, scaled: np.ndarray, dt_log: bool) -> np.ndarray:
    """Scaled ``[windows, 3]`` model outputs -> (gap hours, lat, lon); training and exported models share it."""
    values = scaler.inverse_transform(np.asarray(scaled, dtype=np.float64).reshape(-1, 3))
    if dt_log:
        values[:, 0] = np.expm1(np.minimum(values[:, 0], np.log1p(MAX_GAP_HOURS)))
    values[:, 0] = np.clip(values[:, 0], 0.0, MAX_GAP_HOURS)  # never negative; a wild output stays a date
    return values


def unscale_gap(scaler: Any, scaled: np.ndarray, dt_log: bool) -> np.ndarray:
    """Scaled gap outputs alone (a next-place model's second output) -> hours, as :func:`unscale_targets`
    turns the gap column of a full (dt, lat, lon) output."""
    stacked = np.zeros((np.size(scaled), 3))
    stacked[:, 0] = np.ravel(scaled)
    return unscale_targets(scaler, stacked, dt_log)[:, 0]


def prepare_checkins(data_cfg: "Mapping[str, Any] | CheckinSettings", max_points: int | None = None) -> CheckinData:
    """Load (or generate), clean, featurise, split, scale and index the windows of check-ins."""
    settings = data_cfg if isinstance(data_cfg, CheckinSettings) else CheckinSettings.from_config(data_cfg)
    task = settings.task
    raw, source = load_checkins(settings)
    before = raw[["lat", "lon"]].sample(min(PLOT_SAMPLE, len(raw)), random_state=0)
    if settings.edges:
        raw = raw.assign(friends=friend_counts(settings.edges, raw["user"]))
    frame, report = clean_checkins(raw, settings.clean, source)
    if max_points is not None:
        frame = frame.iloc[:max_points]  # whole users, in user order (the last may be cut)
    frame = featurise(frame, settings)
    frame["split"] = assign_splits(frame, settings)
    rows = window_rows(frame, task.timestep, settings.min_history)
    check_checkin_windows(rows, frame, settings.min_history, source,
                          "data.timestep" if settings.min_history == task.timestep else "data.min_history")
    train = frame["split"].to_numpy() == 0
    input_scaler, target_scaler = make_scaler(settings.scaler), make_scaler(settings.scaler)
    features = settings.features
    input_values = frame[features].to_numpy(dtype=np.float64)
    target_values = frame[list(TARGETS)].to_numpy(dtype=np.float64)
    input_scaler.fit(input_values[train])
    target_scaler.fit(target_values[train])
    data = CheckinData(
        frame=frame, source=source, features=features, settings=settings, task=task, rows=rows,
        input_scaler=input_scaler, target_scaler=target_scaler,
        inputs=input_scaler.transform(input_values).astype(np.float32),
        targets=target_scaler.transform(target_values).astype(np.float32),
        report=report, fingerprint=fingerprint(frame), before_cleaning=before,
    )
    log.info("data %s: %d check-ins of %d users, %d input feature(s), windows %s (split by %s), timestep %d",
             source, len(frame), frame["user"].nunique(), len(features),
             " / ".join(f"{name} {len(rows[name])}" for name in SPLITS), settings.split_by, task.timestep)
    return data


def load_checkins(settings: CheckinSettings) -> tuple[pd.DataFrame, str]:
    """The SNAP file at ``data.path``, else the embedded synthetic check-ins."""
    if settings.path:
        frame, loaded = read_snap(settings.path, settings.bad_rows)
        if loaded.bad_coordinates:
            log.warning("%s: dropped %d line(s) with impossible coordinates (data.bad_rows=drop)",
                        settings.path, loaded.bad_coordinates)
        return frame, settings.path
    frame = generate_checkins(settings.users, settings.seed, settings.start, settings.days)
    return frame, f"synthetic check-ins ({settings.users} users, seed {settings.seed})"


def friend_counts(path: str, users: pd.Series) -> np.ndarray:
    """Each check-in's user's number of friends (``log1p``; 0 for users the file does not list), from
    the friendship edges file. SNAP lists every friendship in both directions, so a user's lines
    are its friends."""
    degree = read_edges(path)["user"].value_counts()
    return friends_feature(users.map(degree).fillna(0))


def friends_feature(counts: pd.Series) -> np.ndarray:
    """The ``friends`` input from raw friend counts (a request carries the count itself)."""
    return np.log1p(counts.to_numpy(dtype=np.float64))


def featurise(frame: pd.DataFrame, settings: CheckinSettings) -> pd.DataFrame:
    """Add ``dt_hours`` / ``dt`` (and ``hour_of_week``); drop each user's first check-in, which has no gap."""
    user = frame["user"].to_numpy()
    first = np.concatenate([[True], user[1:] != user[:-1]])
    hours = np.concatenate([[np.nan], np.diff(frame["time"].to_numpy()).astype("timedelta64[s]").astype(np.float64)
                            / 3600.0])
    frame = frame.assign(dt_hours=hours)[~first].reset_index(drop=True)
    frame["dt"] = np.log1p(frame["dt_hours"]) if settings.dt_log else frame["dt_hours"]
    if settings.hour_of_week:
        local = frame["time"].dt.tz_localize("UTC").dt.tz_convert(settings.timezone)
        frame["hour_of_week"] = (local.dt.day_of_week * 24 + local.dt.hour).astype(np.float64)
    return frame


def assign_splits(frame: pd.DataFrame, settings: CheckinSettings) -> np.ndarray:
    """0/1/2 (train/val/test) per check-in: by global time cut-offs, or whole users at random."""
    if settings.split_by == "user":
        users = frame["user"].unique()
        order = np.random.default_rng(settings.split_seed).permutation(len(users))
        cuts = np.round(np.array([settings.train, settings.train + settings.val]) * len(users)).astype(int)
        split_of_user = np.searchsorted(cuts, np.argsort(order), side="right")  # rank in the shuffle -> split
        return split_of_user[np.searchsorted(users, frame["user"].to_numpy())].astype(np.int8)
    times = frame["time"].to_numpy().astype("datetime64[ns]").astype(np.int64)
    cuts = np.quantile(times, [settings.train, settings.train + settings.val], method="lower")
    return np.searchsorted(cuts, times, side="right").astype(np.int8)


def window_rows(frame: pd.DataFrame, timestep: int, min_history: int | None = None) -> dict[str, np.ndarray]:
    """Per split, the rows with at least ``timestep`` earlier check-ins of the same user; in the
    validation and test splits at least ``min_history`` (a sweep's largest timestep), so a sweep
    over ``data.timestep`` scores every trial on the same check-ins."""
    position = frame.groupby("user", sort=False).cumcount().to_numpy()
    split = frame["split"].to_numpy()
    needed = np.array([timestep, *(2 * [max(timestep, min_history or timestep)])])[split]
    usable = position >= needed
    return {name: np.flatnonzero(usable & (split == i)).astype(np.int64) for i, name in enumerate(SPLITS)}


def check_checkin_windows(rows: Mapping[str, np.ndarray], frame: pd.DataFrame, timestep: int, source: str,
                          key: str = "data.timestep") -> None:
    """Every split needs a window: a user with more than ``timestep`` check-ins in it (``key``
    names the setting that asks for them)."""
    for i, name in enumerate(SPLITS):
        if len(rows[name]) == 0 and not (frame["split"].to_numpy() == i).any():
            raise DataError(f"{source}: the {name} split holds no check-ins ({frame['user'].nunique()} users, "
                            f"{len(frame)} check-ins after cleaning); use more data or other data.split fractions")
        if len(rows[name]) == 0:
            longest = int(frame.groupby("user", sort=False).size().max())
            raise DataError(
                f"{source}: {key}={timestep} leaves no window in the {name} split: a window needs a user "
                f"with more than {timestep} check-ins before it (the longest user has {longest} after cleaning); "
                f"use a smaller {key} or more data"
            )
    users_without = int((frame.groupby("user", sort=False).size() <= timestep).sum())
    if users_without:
        log.info("%d user(s) have too few check-ins for a window of data.timestep=%d", users_without, timestep)


def fingerprint(frame: pd.DataFrame) -> str:
    """A short content hash of the modelled check-ins, so runs on identical data can be matched."""
    digest = hashlib.sha256()
    # time in whole seconds: the same check-ins hash the same whichever unit a reader produced
    rows = frame[["user", "lat", "lon"]].assign(time=frame["time"].to_numpy().astype("datetime64[s]").astype(np.int64))
    digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]
