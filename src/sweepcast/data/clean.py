"""Cleaning: make a raw frame a regular, gap-free, numeric time series.

Policy, applied in this order and each step counted in a :class:`CleanReport` (logged and
sent to MLflow as ``clean_*`` metrics):

1. **sort** rows by timestamp (rows found out of order are counted, never dropped);
2. **duplicate timestamps** are merged by ``duplicates`` (``mean``, ``sum``, ``first``,
   ``last``) or refused (``error``);
3. **dead days** — calendar days whose summed ``dead_day_columns`` fall below
   ``dead_day_threshold`` — are dropped, as the livestream study did;
4. **reindex** to every ``freq`` step (``infer``: the most common step) between the first and
   last timestamp, filling absent steps with ``fill_value`` (null: leave them NaN for step 5);
   with ``resample`` (``mean``, ``sum``, ``first``, ``last``, ``min``, ``max``) readings at any
   times are aggregated into the grid's steps instead of refused when off it.
   A dead day inside the span therefore comes back as filled steps (no broadcast = no
   viewers); dead days at either end are trimmed away;
5. **NaN cells** become 0 (``zero``, right for per-minute counts), are forward-filled
   (``ffill``), time-interpolated (``interpolate``), their rows dropped (``drop``) or refused
   (``error``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from sweepcast import checks
from sweepcast.errors import ConfigError, DataError

log = logging.getLogger(__name__)

DUPLICATE_POLICIES = ("mean", "sum", "first", "last", "error")
RESAMPLE = ("mean", "sum", "first", "last", "min", "max")  # how readings in one grid step are aggregated
NAN_POLICIES = ("zero", "ffill", "interpolate", "drop", "error")


@dataclass(frozen=True)
class CleanSpec:
    """What cleaning does; mirrors the ``data.clean`` config node."""

    duplicates: str = "mean"
    nan: str = "zero"
    dead_day_columns: Sequence[str] = ()
    dead_day_threshold: float | None = None
    freq: str | None = "1min"
    fill_value: float | None = 0.0
    resample: str | None = None  # aggregate off-grid readings onto the freq grid (null: refuse them)

    def validate(self, prefix: str = "data.clean") -> None:
        checks.choice(f"{prefix}.duplicates", self.duplicates, DUPLICATE_POLICIES)
        checks.choice(f"{prefix}.nan", self.nan, NAN_POLICIES)
        if self.dead_day_threshold is not None and not self.dead_day_columns:
            raise ConfigError(
                f"{prefix}.dead_day_columns", "a non-empty list when dead_day_threshold is set",
                list(self.dead_day_columns),
            )
        if self.resample is not None:
            checks.choice(f"{prefix}.resample", self.resample, RESAMPLE)
            if self.freq is None:
                raise ConfigError(f"{prefix}.resample", "null unless data.clean.freq names a grid (e.g. 5min)",
                                  self.resample)
        if self.freq is not None and self.freq != "infer":
            try:
                to_offset(self.freq)
            except (ValueError, TypeError):
                raise ConfigError(f"{prefix}.freq", "a pandas frequency such as '1min' or '30min', 'infer', or null", self.freq) from None


@dataclass
class CleanReport:
    """How many rows and cells each cleaning step touched, for logs and MLflow."""

    rows_in: int = 0
    unsorted_rows: int = 0
    duplicate_rows: int = 0
    nan_cells: int = 0
    nan_rows_dropped: int = 0
    dead_days: list[str] = field(default_factory=list)
    dead_day_rows: int = 0
    filled_rows: int = 0
    rows_out: int = 0

    def as_metrics(self) -> dict[str, float]:
        """Numeric fields as ``clean_<name>`` metrics (dead days counted, listed in logs)."""
        values = asdict(self)
        values["dead_days"] = len(self.dead_days)
        return {f"clean_{k}": float(v) for k, v in values.items()}

    def summary(self) -> str:
        return (
            f"{self.rows_in} rows in -> {self.rows_out} out: {self.unsorted_rows} out of order, "
            f"{self.duplicate_rows} duplicate timestamps merged, {self.nan_cells} NaN cells "
            f"({self.nan_rows_dropped} rows dropped), {len(self.dead_days)} dead days "
            f"({self.dead_day_rows} rows) dropped, {self.filled_rows} absent steps filled"
        )


def clean(frame: pd.DataFrame, spec: CleanSpec, source: str, level: int = logging.INFO) -> tuple[pd.DataFrame, CleanReport]:
    """Apply the whole policy; ``source`` names the data in error messages; ``level``: the log
    level of the summary (an exported model's requests log it at DEBUG: one line per request is noise)."""
    spec.validate()
    report = CleanReport(rows_in=len(frame))
    frame, report.unsorted_rows = sort_by_time(frame)
    frame, report.duplicate_rows = merge_duplicate_timestamps(frame, spec.duplicates, source)
    if spec.dead_day_threshold is not None:
        frame, report.dead_days, report.dead_day_rows = drop_dead_days(
            frame, spec.dead_day_columns, spec.dead_day_threshold, source
        )
    _require_rows(frame, source, report)
    if spec.freq is not None and spec.resample is not None:
        frame, report.filled_rows = resample_to_frequency(frame, spec.freq, spec.resample, spec.fill_value, source,
                                                          level)
    elif spec.freq is not None:
        frame, report.filled_rows = reindex_to_frequency(frame, spec.freq, spec.fill_value, source)
    frame, report.nan_cells, report.nan_rows_dropped = handle_nan(frame, spec.nan, source)
    _require_rows(frame, source, report)
    report.rows_out = len(frame)
    log.log(level, "cleaning %s: %s", source, report.summary())
    if report.dead_days:
        log.log(level, "dead days dropped: %s", ", ".join(report.dead_days))
    return frame, report


def _require_rows(frame: pd.DataFrame, source: str, report: CleanReport) -> None:
    if frame.empty:
        raise DataError(f"{source}: no rows left after cleaning ({report.summary()})")


def sort_by_time(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Sort stably by timestamp; count rows that were earlier than their predecessor."""
    stamps = frame.index.asi8
    out_of_order = int(np.count_nonzero(np.diff(stamps) < 0))
    if out_of_order:
        frame = frame.sort_index(kind="stable")
    return frame, out_of_order


def merge_duplicate_timestamps(frame: pd.DataFrame, how: str, source: str) -> tuple[pd.DataFrame, int]:
    """Collapse rows sharing a timestamp (frame must be sorted); return rows removed."""
    duplicated = frame.index.duplicated()
    count = int(duplicated.sum())
    if count == 0:
        return frame, 0
    if how == "error":
        first = frame.index[duplicated][0]
        raise DataError(
            f"{source}: {count} duplicate timestamps (first {first}); "
            f"set data.clean.duplicates to one of mean, sum, first, last"
        )
    merged = getattr(frame.groupby(level=0, sort=False), how)()
    merged.index.name = frame.index.name
    return merged, count


def handle_nan(frame: pd.DataFrame, policy: str, source: str) -> tuple[pd.DataFrame, int, int]:
    """Resolve NaN cells by ``policy``; return (frame, NaN cells seen, rows dropped)."""
    mask = frame.isna()
    cells = int(mask.to_numpy().sum())
    if cells == 0:
        return frame, 0, 0
    if policy == "error":
        column = mask.any().idxmax()
        stamp = frame.index[mask[column].to_numpy().argmax()]
        raise DataError(
            f"{source}: {cells} empty/NaN cells (first in column '{column}' at {stamp}); "
            f"set data.clean.nan to one of zero, ffill, interpolate, drop"
        )
    if policy == "zero":
        return frame.fillna(0.0), cells, 0
    if policy == "ffill":
        return frame.ffill().fillna(0.0), cells, 0
    if policy == "interpolate":
        return frame.interpolate(method="time", limit_direction="both"), cells, 0
    kept = frame.dropna()
    return kept, cells, len(frame) - len(kept)


def drop_dead_days(
    frame: pd.DataFrame, columns: Sequence[str], threshold: float, source: str
) -> tuple[pd.DataFrame, list[str], int]:
    """Drop calendar days whose summed ``columns`` are below ``threshold``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(
            "data.clean.dead_day_columns", f"columns of {source} ({', '.join(frame.columns)})", missing
        )
    days = frame.index.normalize()
    daily = frame[list(columns)].sum(axis=1).groupby(days).sum()
    dead = daily.index[daily < threshold]
    if len(dead) == 0:
        return frame, [], 0
    keep = ~days.isin(dead)
    return frame[keep], [d.strftime("%Y-%m-%d") for d in dead], int((~keep).sum())


def reindex_to_frequency(
    frame: pd.DataFrame, freq: str, fill_value: float, source: str
) -> tuple[pd.DataFrame, int]:
    """Reindex to every ``freq`` step between first and last timestamp; return steps added."""
    offset = infer_frequency(frame.index, source) if freq == "infer" else to_offset(freq)
    start = frame.index[0]
    full = pd.date_range(start, frame.index[-1], freq=offset, name=frame.index.name)
    misaligned = ~frame.index.isin(full)
    if misaligned.any():
        stamp = frame.index[misaligned][0]
        grid = freq if freq != "infer" else f"inferred {offset.freqstr}"
        raise DataError(
            f"{source}: timestamp {stamp} is not on the {grid} grid starting at {start}; "
            f"set data.clean.resample=mean (or sum, last, ...) to aggregate the readings onto that grid, "
            f"data.clean.freq to the data's frequency, or null to keep timestamps as they are"
        )
    filled = frame.reindex(full, fill_value=np.nan if fill_value is None else fill_value)
    return filled, len(full) - len(frame)


def resample_to_frequency(frame: pd.DataFrame, freq: str, how: str, fill_value: float | None,
                          source: str, level: int = logging.INFO) -> tuple[pd.DataFrame, int]:
    """Readings at any times -> one row per ``freq`` step (bins ``[t, t + freq)`` labelled ``t``,
    aligned to midnight), aggregated by ``how``; steps without a reading get ``fill_value`` (null:
    NaN, for the NaN policy). Returns the frame and the empty steps."""
    offset = infer_frequency(frame.index, source) if freq == "infer" else to_offset(freq)
    bins = frame.resample(offset, origin="start_day")
    binned = bins.sum(min_count=1) if how == "sum" else getattr(bins, how)()  # an empty step is NaN, not 0
    empty = int(binned.isna().all(axis=1).sum())
    if fill_value is not None:
        binned = binned.fillna(fill_value)
    binned.index.name = frame.index.name
    log.log(level, "%s: %d readings resampled into %d steps of %s (%s), %d empty", source, len(frame), len(binned),
             offset.freqstr, how, empty)
    return binned, empty


def infer_frequency(index: pd.DatetimeIndex, source: str) -> pd.DateOffset:
    """The most common step between consecutive timestamps (robust to gaps, unlike pd.infer_freq)."""
    steps = np.diff(index.values).astype("timedelta64[ns]").astype(np.int64)
    steps = steps[steps > 0]
    if len(steps) == 0:
        raise DataError(f"{source}: cannot infer a frequency from fewer than two distinct timestamps; set data.clean.freq")
    values, counts = np.unique(steps, return_counts=True)
    return to_offset(pd.Timedelta(int(values[counts.argmax()]), unit="ns"))
