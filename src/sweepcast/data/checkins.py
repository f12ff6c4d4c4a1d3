"""Gowalla check-ins in SNAP's layout: a fast loader and a deterministic synthetic generator.

Layout (``loc-gowalla_totalCheckins.txt``, plain or gzipped): tab-separated, no header,
``user<TAB>time<TAB>latitude<TAB>longitude<TAB>location id``, time as ``2010-10-12T00:21:28Z``,
rows per user newest first. The full file has 6,442,890 rows, so the loader is vectorised:
pandas' C parser with numeric dtypes and an exact time format. Only when that fast path meets a
malformed line does a second, text-only pass find it to report its line number.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as arrow_csv

from sweepcast import checks
from sweepcast.data.reading import read_text_table, readable_file
from sweepcast.errors import DataError

COLUMNS = ("user", "time", "lat", "lon", "location")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
BAD_ROWS = ("fail", "drop")
# New York, the check-in study's city (lat, lon bounds)
NYC = (40.4774, 40.9176, -74.2591, -73.7004)
EARTH_KM = 6371.0088


@dataclass
class LoadReport:
    rows_in: int = 0
    bad_coordinates: int = 0  # latitude outside [-90, 90] or longitude outside [-180, 180], dropped


def read_snap(path: str | os.PathLike[str], bad_rows: str = "fail") -> tuple[pd.DataFrame, LoadReport]:
    """``user`` int64, ``time`` datetime64 (UTC, naive), ``lat``/``lon`` float64, ``location`` int64.

    A line with the wrong number of fields, a non-numeric id or coordinate, or a bad time fails
    with its 1-based line number. Impossible coordinates fail too, or with ``bad_rows="drop"``
    are dropped and counted (the report says how many).
    """
    checks.choice("data.bad_rows", bad_rows, BAD_ROWS)
    file = readable_file(path, "SNAP check-in file")
    frame = read_text_table(file, "a SNAP check-in file", lambda: read_fast(file))
    if frame is None:  # the fast reader met something it cannot take: find and name the line
        raise read_text_table(file, "a SNAP check-in file", lambda: locate_bad_line(file))  # e.g. UTF-16 bytes
    report = LoadReport(rows_in=len(frame))
    bad = ~(frame["lat"].between(-90, 90) & frame["lon"].between(-180, 180))
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0])
        if bad_rows == "fail":
            raise DataError(f"{file}: line {line + 1}: latitude must be in [-90, 90] and longitude in [-180, 180], "
                            f"got {frame['lat'].iloc[line]}, {frame['lon'].iloc[line]} "
                            f"({int(bad.sum())} such line(s); data.bad_rows=drop drops them)")
        frame = frame[~bad.to_numpy()].reset_index(drop=True)
        report.bad_coordinates = int(bad.sum())
    return frame, report


def read_fast(file: Path) -> pd.DataFrame | None:
    """Arrow's multithreaded CSV reader with the layout's types and time format (6.4 M rows in
    about 3 s, against 18 s for pandas' C parser and a separate time conversion). None when any
    line does not fit: wrong field count, a non-number, a bad time, an empty field, no lines."""
    types = {"user": pa.int64(), "time": pa.timestamp("s"), "lat": pa.float64(), "lon": pa.float64(),
             "location": pa.int64()}
    try:
        table = arrow_csv.read_csv(
            file, read_options=arrow_csv.ReadOptions(column_names=list(COLUMNS)),
            parse_options=arrow_csv.ParseOptions(delimiter="\t"),
            convert_options=arrow_csv.ConvertOptions(column_types=types, timestamp_parsers=[TIME_FORMAT]))
    except pa.ArrowInvalid:
        return None
    if any(column.null_count for column in table.columns):  # an empty field
        return None
    frame = table.to_pandas()
    del table
    pa.default_memory_pool().release_unused()  # Arrow keeps ~350 MB of freed buffers at full size otherwise
    return frame


def locate_bad_line(file: Path) -> DataError:
    """The slow, exact pass: which line broke the fast reader, and how."""
    try:
        text = pd.read_csv(file, sep="\t", header=None, dtype=str, compression="infer", keep_default_na=False)
    except pd.errors.EmptyDataError:
        return DataError(f"{file}: no check-ins (expected lines of user, time, latitude, longitude, location id)")
    except pd.errors.ParserError as err:  # e.g. "Expected 5 fields in line 7, saw 6"
        return DataError(f"{file}: {' '.join(str(err).split())} (expected 5 tab-separated fields: "
                         "user, time, latitude, longitude, location id)")
    if text.shape[1] != len(COLUMNS):
        return DataError(f"{file}: expected 5 tab-separated fields per line, got {text.shape[1]}")
    text.columns = list(COLUMNS)
    times = pd.to_datetime(text["time"], format=TIME_FORMAT, errors="coerce")
    if times.isna().any():
        line = int(np.flatnonzero(times.isna().to_numpy())[0])
        return DataError(f"{file}: line {line + 1}: expected a time like 2010-10-12T00:21:28Z, "
                         f"got {text['time'].iloc[line]!r}")
    for column in ("user", "lat", "lon", "location"):
        kind = "integer" if column in ("user", "location") else "number"
        parsed = pd.to_numeric(text[column], errors="coerce")
        wrong = parsed.isna() | (~np.isfinite(parsed) if kind == "number" else (parsed != parsed.round()))
        if wrong.any():
            line = int(np.flatnonzero(wrong.to_numpy())[0])
            shown = text[column].iloc[line]
            problem = "is missing (fewer than 5 fields?)" if shown == "" else f"expected an {kind}, got {shown!r}"
            return DataError(f"{file}: line {line + 1}, {column}: {problem}")
    return DataError(f"{file}: not in the SNAP check-in layout (user, time, latitude, longitude, location id)")


def read_edges(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The friendship graph (``user<TAB>friend`` per line) as two int64 columns."""
    file = readable_file(path, "friendship edges file")
    try:
        return read_text_table(file, "lines of 'user<TAB>friend' integers", lambda: pd.read_csv(
            file, sep="\t", header=None, names=["user", "friend"], dtype=np.int64, compression="infer"))
    except ValueError as err:
        raise DataError(f"{file}: expected lines of 'user<TAB>friend' integers ({' '.join(str(err).split())})") from None


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km, element-wise."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


# --- synthetic generator ------------------------------------------------------------------

def generate_checkins(users: int = 400, seed: int = 0, start: str = "2010-01-01", days: int = 240) -> pd.DataFrame:
    """Check-ins in SNAP's layout, deterministic by ``seed``, with work for every cleaning filter.

    Each user has a home and a work anchor in New York and a handful of favourite places around
    them (location ids shared across users), and checks in at those places at any hour,
    travelling no faster than a car. On top come, per user, a few stay duplicates (the same place
    again minutes later, a few metres off), impossible jumps (the other side of the city a minute
    after the last check-in, as a GPS glitch would), trips out of the city (plausible, but outside the box) and exact
    duplicate lines. Rows are written newest first per user, as SNAP does.
    """
    checks.integer("data.synthetic.users", users, 1)
    rng = np.random.default_rng(seed)
    lat0, lat1, lon0, lon1 = NYC
    n_places = max(50, users * 3)
    places_lat = rng.uniform(lat0 + 0.02, lat1 - 0.02, n_places)
    places_lon = rng.uniform(lon0 + 0.02, lon1 - 0.02, n_places)
    origin = pd.Timestamp(start).value // 10**9
    parts = []
    for user in range(users):
        home, work = rng.integers(0, n_places, 2)
        near = np.argsort(np.hypot(places_lat - places_lat[home], places_lon - places_lon[home]))[:6]
        favourites = np.unique(np.concatenate([[home, work], near, rng.integers(0, n_places, 3)]))
        weights = rng.dirichlet(np.ones(len(favourites)) * 0.7)
        count = int(rng.integers(15, 120))
        place = favourites[rng.choice(len(favourites), size=count, p=weights)]
        lat, lon = places_lat[place], places_lon[place]
        # gaps: hours to days, never faster than 40 km/h between places
        gaps = rng.exponential(days * 86400 / count / 2, count) + 600
        dist = np.concatenate([[0.0], haversine_km(lat[:-1], lon[:-1], lat[1:], lon[1:])])
        gaps = np.maximum(gaps, dist / 40.0 * 3600 + 300)
        seconds = origin + rng.integers(0, 86400 * 7) + np.cumsum(gaps)
        part = pd.DataFrame({"user": user, "time": seconds.astype(np.int64), "lat": lat + rng.normal(0, 1e-5, count),
                             "lon": lon + rng.normal(0, 1e-5, count), "location": place})
        parts.append(with_noise(part, rng))
    frame = pd.concat(parts, ignore_index=True)
    frame["time"] = pd.to_datetime(frame["time"], unit="s")
    return frame.sort_values(["user", "time"], ascending=[True, False], kind="stable").reset_index(drop=True)


def with_noise(part: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Add what the cleaning filters exist for: stay duplicates, teleports, out-of-city trips, duplicates."""
    n = len(part)
    extra = []
    for row in rng.choice(n, size=max(1, n // 12), replace=False):  # stay duplicates: same place, minutes later
        stay = part.iloc[[row]].copy()
        stay["time"] += int(rng.integers(60, 1200))
        stay[["lat", "lon"]] += rng.normal(0, 2e-4, 2)  # ~20 m
        extra.append(stay)
    lat0, lat1, lon0, lon1 = NYC
    for row in rng.choice(n, size=max(1, n // 40), replace=False):  # impossible jumps: across the city in a minute
        jump = part.iloc[[row]].copy()
        jump["time"] += int(rng.integers(30, 90))
        jump["lat"] = lat0 + lat1 - float(jump["lat"].iloc[0]) + rng.normal(0, 0.01)  # the opposite side of the box
        jump["lon"] = lon0 + lon1 - float(jump["lon"].iloc[0]) + rng.normal(0, 0.01)
        jump[["lat", "lon"]] = jump[["lat", "lon"]].clip([lat0, lon0], [lat1, lon1], axis=1)
        jump["location"] = int(rng.integers(10**6, 2 * 10**6))
        extra.append(jump)
    for row in rng.choice(n, size=max(1, n // 30), replace=False):  # a trip out of the city, days later
        trip = part.iloc[[row]].copy()
        trip["time"] += int(rng.integers(86400, 3 * 86400))
        trip["lat"], trip["lon"] = 42.36 + rng.normal(0, 0.02), -71.06 + rng.normal(0, 0.02)  # Boston
        trip["location"] = int(rng.integers(2 * 10**6, 3 * 10**6))
        extra.append(trip)
    duplicates = part.iloc[rng.choice(n, size=max(1, n // 50), replace=False)]
    return pd.concat([part, *extra, duplicates], ignore_index=True)


def write_snap(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write in SNAP's layout (gzipped when the name ends in .gz)."""
    out = frame.assign(time=frame["time"].dt.strftime(TIME_FORMAT))[list(COLUMNS)]
    out.to_csv(path, sep="\t", header=False, index=False, float_format="%.10g", compression="infer")
    return Path(path)


# --- rows already read (an exported model's requests) ---------------------------------------

REQUEST_COLUMNS = ("user", "time", "lat", "lon")  # location is optional in a request


def parse_checkin_rows(rows: pd.DataFrame, name: str, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Text cells with named columns (``user, time, lat, lon``, optionally ``location`` and the
    ``extra`` numeric columns) -> the frame :func:`read_snap` gives, each problem named by row."""
    missing = [c for c in (*REQUEST_COLUMNS, *extra) if c not in rows.columns]
    if missing:
        raise DataError(f"{name}: column '{missing[0]}' is missing; expected columns "
                        f"{', '.join((*REQUEST_COLUMNS, 'location', *extra))} (location optional)")
    frame = pd.DataFrame(index=rows.index)
    for column in ("user", "location", "lat", "lon", *extra):
        if column == "location" and column not in rows.columns:
            frame[column] = np.int64(0)
            continue
        values = pd.to_numeric(rows[column], errors="coerce")
        integer = column in ("user", "location")
        wrong = values.isna() | ~np.isfinite(values) | ((values != values.round()) if integer else False)
        if wrong.any():
            line = int(np.flatnonzero(wrong.to_numpy())[0])
            raise DataError(f"{name}: row {line + 1}, {column}: expected {'an integer' if integer else 'a number'}, "
                            f"got {rows[column].iloc[line]!r}")
        frame[column] = values.astype(np.int64 if integer else np.float64)
    times = pd.to_datetime(rows["time"], format="ISO8601", utc=True, errors="coerce")
    if times.isna().any():
        line = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise DataError(f"{name}: row {line + 1}, time: expected a time like 2010-10-12T00:21:28Z, "
                        f"got {rows['time'].iloc[line]!r}")
    frame["time"] = times.dt.tz_convert(None).astype("datetime64[ns]")
    bad = ~(frame["lat"].between(-90, 90) & frame["lon"].between(-180, 180))
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{name}: row {line + 1}: latitude must be in [-90, 90] and longitude in [-180, 180], "
                        f"got {frame['lat'].iloc[line]}, {frame['lon'].iloc[line]}")
    return frame[[*COLUMNS, *extra]].reset_index(drop=True)


def render_checkin_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Check-ins as the text cells a request carries (times as in SNAP's files)."""
    out = frame.assign(time=frame["time"].dt.strftime(TIME_FORMAT))
    return out.astype(object).map(lambda v: f"{v:.10g}" if isinstance(v, float) else str(v))
