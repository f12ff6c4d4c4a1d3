"""Generic ``timestamp,value`` series from a CSV file (e.g. the NAB NYC taxi counts).

The file needs one timestamp column and at least one numeric column; which are used is
configurable so any tidy series file works without a custom loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from sweepcast.data.cells import numeric_column, show
from sweepcast.data.reading import read_csv
from sweepcast.errors import DataError


def read_series_csv(
    path: str | Path,
    timestamp_column: str = "timestamp",
    value_columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read ``path`` into float64 columns indexed by a DatetimeIndex named ``timestamp``.

    Rows stay in file order: sorting, duplicate timestamps and NaN are the cleaning step's
    job, so it can count and log them. ``value_columns=None`` keeps every other column.
    """
    raw = read_csv(path, "a readable CSV file", dtype=str, keep_default_na=False, na_values=[""])
    return parse_series_frame(raw, str(path), timestamp_column, value_columns)


def parse_series_frame(
    raw: pd.DataFrame, path: str, timestamp_column: str = "timestamp", value_columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The parsing half of :func:`read_series_csv`, for rows already read as text (a CSV file,
    or the rows an exported model receives); ``path`` names the source in errors."""
    if timestamp_column not in raw.columns:
        raise DataError(
            f"{path}: missing timestamp column '{timestamp_column}' "
            f"(columns: {', '.join(map(str, raw.columns))}); set data.timestamp_column"
        )
    wanted = [c for c in raw.columns if c != timestamp_column] if value_columns is None else list(value_columns)
    missing = [c for c in wanted if c not in raw.columns]
    if missing:
        raise DataError(
            f"{path}: missing column '{missing[0]}' (columns: {', '.join(map(str, raw.columns))})"
        )
    if not wanted:
        raise DataError(f"{path}: no value column besides '{timestamp_column}'")
    index = parse_timestamps(raw[timestamp_column], path, timestamp_column)
    frame = pd.DataFrame(
        {c: numeric_column(raw[c], path=str(path), column=c) for c in wanted}, index=index
    )
    return frame


def parse_timestamps(values: pd.Series, path: Path, column: str) -> pd.DatetimeIndex:
    """Parse timestamps strictly, naming the first unparseable row (1-based data row)."""
    # utc=True: offsets that change inside a file (a daylight-saving switch) become one UTC clock;
    # naive timestamps are taken as they are
    parsed = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
    bad = parsed.isna()
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise DataError(
            f"{path}: column '{column}', row {row + 1}: expected a timestamp, "
            f"got {show(values.iloc[row])}"
        )
    index = pd.DatetimeIndex(parsed, name="timestamp")
    if index.tz is not None:
        index = index.tz_convert(None)
    return index
