"""A time series' data half of a run: settings, then source -> clean -> cap -> split -> scale, ready for windowing.

Everything here is NumPy/pandas and fast, so every data or config problem surfaces before
TensorFlow is imported or an MLflow run is opened.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np
import pandas as pd

from sweepcast.data.backtest import BacktestSpec, backtest_spec, check_folds
from sweepcast.data.calendar import CalendarSpec, calendar_features, calendar_spec
from sweepcast.data.clean import CleanReport, CleanSpec, clean
from sweepcast.data.scalers import check_scaler, fit_scaled
from sweepcast.data.sources import load_source
from sweepcast.data.splits import SPLITS, SplitBounds, SplitFractions, split_bounds
from sweepcast.data.transforms import TargetTransform, model_values, target_transform
from sweepcast.data.windows import ForecastTask, check_windows, input_rows, window_dataset, window_settings
from sweepcast.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeriesSettings:
    """``data.*`` of a time-series config, parsed once and checked without reading any file.

    ``config`` keeps the node itself for the source loader, which owns its own keys
    (``path``, ``synthetic``, ``timestamp_column``, ...)."""

    config: Mapping[str, Any]
    task: ForecastTask
    target: Any
    features: Any  # null (the target alone), "all", or a list of column names: resolved against the file
    clean: CleanSpec
    calendar: CalendarSpec
    split: SplitFractions
    scaler: str
    backtest: BacktestSpec | None = None  # data.backtest: rolling-origin folds (sweepcast.data.backtest)
    transform: TargetTransform = TargetTransform()  # data.transform: none | log1p (sweepcast.data.transforms)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "SeriesSettings":
        timestep, horizon, strategy = window_settings(cfg)
        calendar = calendar_spec(cfg.get("calendar"))
        features = check_features(cfg.get("target"), cfg.get("features"))
        univariate = features is None or (isinstance(features, (list, tuple)) and set(features) == {cfg.get("target")})
        if strategy == "recursive" and horizon > 1 and (not univariate or calendar.enabled):
            raise ConfigError(
                "data.strategy", "direct when data.features or data.calendar add inputs (recursive feeds "
                "predictions back as the only input)", strategy,
            )
        return cls(config=cfg, task=ForecastTask(timestep, horizon, strategy), target=cfg.get("target"),
                   features=features, clean=clean_spec(cfg.get("clean") or {}), calendar=calendar,
                   split=SplitFractions.from_config(cfg.get("split")), scaler=check_scaler(cfg.get("scaler", "minmax")),
                   backtest=backtest_spec(cfg.get("backtest")), transform=target_transform(cfg.get("transform")))

    def for_requests(self) -> "SeriesSettings":
        """The settings an exported model cleans requests with: quiet days kept (the latest rows are
        what a forecast starts from, however quiet)."""
        return replace(self, clean=replace(self.clean, dead_day_threshold=None))


@dataclass
class PreparedData:
    """Cleaned series, split bounds and train-fitted scalers: all a model run needs."""

    frame: pd.DataFrame
    source: str
    target: str
    features: list[str]
    task: ForecastTask
    bounds: SplitBounds
    input_scaler: Any
    target_scaler: Any
    inputs: np.ndarray  # [n, F] scaled float32
    targets: np.ndarray  # [n] scaled float32
    report: CleanReport
    fingerprint: str
    settings: SeriesSettings  # what it was prepared from; its config is the fitted state's data

    @property
    def timestep(self) -> int:
        return self.task.timestep

    @property
    def horizon(self) -> int:
        return self.task.horizon

    def window_start(self, name: str) -> int:
        """The first row the split's windows read. Validation and test windows read their history
        from the split before them (known at forecast time; scalers stay fit on training rows), so
        they forecast from the split's first row whatever the timestep: every trial of a sweep over
        ``data.timestep``, and every baseline, is scored on the same target rows. Training windows
        stay inside the training split."""
        start, _ = self.bounds[name]
        return start if name == "train" else start - self.timestep

    def target_rows(self, name: str, steps: int | None = None) -> np.ndarray:
        """Row numbers (in the whole cleaned series) of the first value each of the split's windows
        forecasts: a window reads the ``timestep`` rows before it and forecasts ``steps`` rows
        (default: the horizon, on which every forecaster is scored; a recursive model trains on
        one-step windows, of which there are ``horizon - 1`` more). See :meth:`window_start`."""
        _, stop = self.bounds[name]
        return np.arange(self.window_start(name) + self.timestep, stop - (self.horizon if steps is None else steps) + 1)

    def target_matrix(self, name: str) -> np.ndarray:
        """``[windows, horizon]`` true values in original units, aligned with :meth:`target_rows`."""
        rows = self.target_rows(name)[:, None] + np.arange(self.horizon)[None, :]
        return self.frame[self.target].to_numpy(dtype=np.float64)[rows]

    def windows(self, name: str, steps: int | None = None) -> np.ndarray:
        """The split's scaled input windows as one ``[windows, timestep, features]`` array.

        Training never builds this (see :meth:`dataset`); it serves models that need all windows
        at once: GBDT's design matrix and recursive forecasting.
        """
        rows = self.target_rows(name, steps)
        return self.inputs[input_rows(rows, self.timestep)]

    def scaled_targets(self, name: str, steps: int) -> np.ndarray:
        """``[windows, steps]`` scaled targets of the split's windows that forecast ``steps`` ahead."""
        return self.targets[self.target_rows(name, steps)[:, None] + np.arange(steps)[None, :]]

    def window_count(self, name: str) -> int:
        """Windows :meth:`dataset` gives for the split (one-step windows for a recursive model)."""
        return len(self.target_rows(name, self.task.outputs))

    def split_inputs(self, name: str) -> np.ndarray:
        """The rows the split's windows read and forecast (from :meth:`window_start`)."""
        return self.inputs[self.window_start(name):self.bounds[name][1]]

    def split_targets(self, name: str) -> np.ndarray:
        return self.targets[self.window_start(name):self.bounds[name][1]]

    def dataset(self, name: str, batch_size: int, shuffle: bool = False, seed: int | None = None):
        """A ``tf.data`` pipeline of this split's windows with the targets a model is trained on
        (``horizon`` steps for direct models, one step for recursive ones)."""
        return window_dataset(
            self.split_inputs(name), self.split_targets(name), self.timestep, batch_size, shuffle, seed,
            horizon=self.task.outputs,
        )

    def inverse_target(self, scaled: np.ndarray) -> np.ndarray:
        """Scaled model outputs back to original units (unscaled, then the transform inverted),
        keeping their shape."""
        values = np.asarray(scaled, dtype=np.float64)
        unscaled = self.target_scaler.inverse_transform(values.reshape(-1, 1)).reshape(values.shape)
        return self.settings.transform.inverse(unscaled)

    def target_as_input(self, values: np.ndarray) -> np.ndarray:
        """``[W, 1]`` target values in original units as the target's scaled input column: what a
        recursive forecast feeds back (univariate, so that column is the only input)."""
        return self.input_scaler.transform(self.settings.transform.forward(np.asarray(values, dtype=np.float64)))

    @property
    def linear_target(self) -> bool:
        """Whether an RMSE on scaled targets times :meth:`target_unit_scale` is the RMSE in original units."""
        return self.settings.transform.linear

    def target_unit_scale(self) -> float:
        """Original units per scaled unit: an RMSE on scaled targets times this is the RMSE in
        original units (every scaler here is affine; without a transform, see :attr:`linear_target`)."""
        ends = self.target_scaler.inverse_transform(np.array([[0.0], [1.0]])).ravel()
        return float(abs(ends[1] - ends[0]))


def prepare(data_cfg: "Mapping[str, Any] | SeriesSettings", max_points: int | None = None) -> PreparedData:
    """Load, clean, cap to the last ``max_points`` rows, split and scale (fit on train only)."""
    settings = data_cfg if isinstance(data_cfg, SeriesSettings) else SeriesSettings.from_config(data_cfg)
    task = settings.task
    raw, source = load_source(settings.config)
    check_columns(raw, settings.target, resolve_features(raw, source, settings.target, settings.features), source)
    frame, features, report = model_frame(raw, source, settings, max_points)
    target = settings.target
    bounds = split_bounds(len(frame), settings.split)
    check_windows(task, bounds)
    if settings.backtest is not None:
        check_folds(bounds, settings.backtest, task)
    input_values, target_values = model_values(frame, features, target, settings.transform, source)
    check_magnitudes(np.hstack([target_values, input_values]), [target, *features], source)
    input_scaler, inputs = fit_scaled(settings.scaler, input_values, bounds.train)
    target_scaler, targets = fit_scaled(settings.scaler, target_values, bounds.train)
    prepared = PreparedData(
        frame=frame,
        source=source,
        target=target,
        features=features,
        task=task,
        bounds=bounds,
        input_scaler=input_scaler,
        target_scaler=target_scaler,
        inputs=inputs,
        targets=targets.ravel(),
        report=report,
        fingerprint=fingerprint(frame.drop(columns=derived_calendar(features, raw))),
        settings=settings,
    )
    log.info(
        "data %s: %d rows, target %s, %d input feature(s), splits %s, timestep %d, horizon %d (%s)",
        source, len(frame), target, len(features),
        " / ".join(f"{name} {bounds.length(name)}" for name in SPLITS), task.timestep, task.horizon, task.strategy,
    )
    return prepared


def model_frame(
    raw: pd.DataFrame, source: str, settings: SeriesSettings, max_points: int | None = None, level: int = logging.INFO
) -> tuple[pd.DataFrame, list[str], CleanReport]:
    """Parsed rows -> the cleaned ``[target, *inputs]`` frame models read, with its input columns.

    Training and an exported model's forecasts both come through here, so a forecast sees the
    preprocessing its model was trained on (requests with :meth:`SeriesSettings.for_requests`).
    Calendar columns are derived from the cleaned timestamps after the optional cap to the last
    ``max_points`` rows.
    """
    target = settings.target
    features = resolve_features(raw, source, target, settings.features)
    spec = settings.clean
    frame, report = clean(raw[unique([target, *features, *spec.dead_day_columns])], spec, source, level)
    frame = frame[unique([target, *features])]
    if max_points is not None:
        frame = frame.iloc[-max_points:]
    calendar = settings.calendar
    if calendar.enabled:  # derived from timestamps: added after cleaning, scaled like any input
        extra = calendar_features(frame.index, calendar)
        frame = frame.join(extra)
        features = unique([*features, *extra.columns])
    return frame, features, report


def check_columns(raw: pd.DataFrame, target: str, features: list[str], source: str) -> None:
    """A column a model reads must hold numbers: an all-NaN one would only fail deep in training
    or scoring (scikit-learn's ``Input contains NaN``), after the run was opened."""
    for column in unique([target, *features]):
        if column in raw.columns and not raw[column].notna().any():
            fix = "choose another data.target" if column == target else "drop it from data.features"
            raise DataError(f"{source}: column '{column}' holds no value (every cell is empty or NaN); {fix} "
                            "or fix the file")


def check_magnitudes(values: np.ndarray, columns: list[str], source: str) -> None:
    """Values so large (|x| near 1e308) that their range or spread overflows float64 make every
    scaler and metric inf or NaN; refuse them before any run exists."""
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.ptp(values, axis=0) + np.std(values, axis=0) if len(values) else np.zeros(values.shape[1])
    bad = np.flatnonzero(~np.isfinite(spread))
    if bad.size:
        column = int(bad[0])
        peak = float(np.nanmax(np.abs(values[:, column])))
        raise DataError(f"{source}: column '{columns[column]}' holds values too large to scale (up to {peak:.3g}: "
                        "their range overflows float64); rescale it, e.g. to other units")


def row_step(index: pd.DatetimeIndex, name: str) -> pd.Timedelta:
    """The most common time between rows: the series' frequency, which a forecast's timestamps follow."""
    gaps = pd.Series(index).diff().dropna()
    if gaps.empty:
        raise DataError(f"{name}: needs at least two rows to know the time between them")
    return gaps.mode().iloc[0]


def check_features(target: Any, features: Any) -> Any:
    """The shapes ``data.target`` and ``data.features`` may take, checked before any file is read
    (whether the columns exist is checked once it is: :func:`resolve_features`)."""
    if target is not None and (not isinstance(target, str) or not target):  # None: named once the file is read
        raise ConfigError("data.target", "a column name", target)
    if features is None or features == "all":
        return features
    if isinstance(features, str) or not isinstance(features, (list, tuple)) or not features \
            or not all(isinstance(f, str) for f in features):
        raise ConfigError("data.features", "a non-empty list of column names, all, or null", features)
    return features


def resolve_features(raw: pd.DataFrame, source: str, target: Any, features: Any) -> list[str]:
    """Input columns: the target alone by default (univariate), every column with ``all`` (the
    study's 27-feature model), else the listed columns."""
    if not isinstance(target, str) or target not in raw.columns:
        raise DataError(
            f"{source}: target column {target!r} (data.target) not found; columns: {', '.join(raw.columns)}"
        )
    if features is None:
        return [target]
    if features == "all":
        return unique([target, *map(str, raw.columns)])
    unknown = [f for f in features if f not in raw.columns]
    if unknown:
        raise DataError(
            f"{source}: feature column '{unknown[0]}' (data.features) not found; columns: {', '.join(raw.columns)}"
        )
    return unique(list(features))


def clean_spec(cfg: Mapping[str, Any]) -> CleanSpec:
    """Build a :class:`CleanSpec` from ``data.clean``, refusing unknown keys."""
    known = CleanSpec.__dataclass_fields__
    unknown = [k for k in cfg if k not in known]
    if unknown:
        raise ConfigError(f"data.clean.{unknown[0]}", f"one of the keys {tuple(known)}", unknown[0])
    values = dict(cfg)
    if values.get("dead_day_columns") is not None:
        values["dead_day_columns"] = tuple(values["dead_day_columns"])
    else:
        values.pop("dead_day_columns", None)
    return CleanSpec(**values)


def derived_calendar(features: list[str], raw: pd.DataFrame) -> list[str]:
    """The calendar columns :func:`model_frame` derived (not the file's own): left out of the
    fingerprint, since a run with calendar inputs forecasts the same rows of the same data as one
    without, and their forecasts may be compared (champion) and averaged (ensembles)."""
    return [c for c in features if c.startswith("cal_") and c not in raw.columns]


def fingerprint(frame: pd.DataFrame) -> str:
    """A short content hash of the cleaned data, so runs on identical data can be matched."""
    digest = hashlib.sha256()
    digest.update(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def unique(items: list[Any]) -> list[Any]:
    """Order-preserving de-duplication."""
    return list(dict.fromkeys(items))
