"""Source registry: ``data.source`` name -> how to load it, parse rows of it, and render rows of it.

``load`` reads the configured file (or generates the embedded default); ``parse_rows`` turns rows
already read as text, such as those an exported model receives, into the same frame; ``render_rows``
goes back from that frame to the raw text layout (an exported model's input example). Frames
hold float64 columns indexed by a DatetimeIndex named ``timestamp``, in file order (check-ins:
one row per check-in, as :func:`~sweepcast.data.checkins.read_snap` gives); cleaning happens later. Adding a source is one :class:`Source` here and one YAML file in ``conf/data/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import pandas as pd

from sweepcast.data import checkins, trajectories
from sweepcast.data.csv_series import parse_series_frame, read_series_csv
from sweepcast.data.livestream import parse_livestream_frame, read_livestream_csv, to_raw_layout
from sweepcast.data.livestream_synthetic import generate_livestream
from sweepcast.errors import ConfigError

Config = Mapping[str, Any]


@dataclass(frozen=True)
class Source:
    load: Callable[[Config], tuple[pd.DataFrame, str]]
    parse_rows: Callable[[Config, pd.DataFrame, str], pd.DataFrame]
    render_rows: Callable[[Config, pd.DataFrame], pd.DataFrame]


def load_livestream(cfg: Config) -> tuple[pd.DataFrame, str]:
    """The real Douyin CSV layout when ``path`` is set, else the embedded synthetic stream."""
    if cfg.get("path"):
        return read_livestream_csv(cfg["path"]), str(cfg["path"])
    synthetic = cfg.get("synthetic") or {}
    days, seed = synthetic.get("days", 62), synthetic.get("seed", 0)
    frame = generate_livestream(days=days, seed=seed, start=synthetic.get("start", "2019-10-01"))
    return frame, f"synthetic livestream ({days} days, seed {seed})"


def parse_livestream_rows(cfg: Config, rows: pd.DataFrame, name: str) -> pd.DataFrame:
    return parse_livestream_frame(rows, name)


def render_livestream_rows(cfg: Config, frame: pd.DataFrame) -> pd.DataFrame:
    return as_text(to_raw_layout(frame))


def load_csv_series(cfg: Config) -> tuple[pd.DataFrame, str]:
    """Any CSV with a timestamp column and numeric value columns."""
    if not cfg.get("path"):
        raise ConfigError("data.path", "the path of a CSV file with a timestamp column", cfg.get("path"))
    columns = cfg.get("value_columns")
    frame = read_series_csv(cfg["path"], cfg.get("timestamp_column", "timestamp"), list(columns) if columns else None)
    return frame, str(cfg["path"])


def parse_series_rows(cfg: Config, rows: pd.DataFrame, name: str) -> pd.DataFrame:
    columns = cfg.get("value_columns")
    return parse_series_frame(rows, name, cfg.get("timestamp_column", "timestamp"), list(columns) if columns else None)


def render_series_rows(cfg: Config, frame: pd.DataFrame) -> pd.DataFrame:
    stamps = frame.index.strftime("%Y-%m-%d %H:%M:%S")
    return as_text(pd.concat([pd.DataFrame({cfg.get("timestamp_column", "timestamp"): stamps}),
                              frame.reset_index(drop=True)], axis=1))


def load_checkins(cfg: Config) -> tuple[pd.DataFrame, str]:
    """A SNAP check-in file, or the embedded synthetic check-ins (rows as read, before cleaning)."""
    return trajectories.load_checkins(trajectories.CheckinSettings.from_config(cfg))


def parse_checkin_rows(cfg: Config, rows: pd.DataFrame, name: str) -> pd.DataFrame:
    """Named columns ``user, time, lat, lon[, location]``, plus ``friends`` (a count) when the model
    was trained with the friendship graph (``data.edges``)."""
    return checkins.parse_checkin_rows(rows, name, ("friends",) if cfg.get("edges") else ())


def render_checkin_rows(cfg: Config, frame: pd.DataFrame) -> pd.DataFrame:
    return checkins.render_checkin_rows(frame)


SOURCES: dict[str, Source] = {
    "livestream": Source(load_livestream, parse_livestream_rows, render_livestream_rows),
    "csv_series": Source(load_csv_series, parse_series_rows, render_series_rows),
    "checkins": Source(load_checkins, parse_checkin_rows, render_checkin_rows),
}


def source(cfg: Config) -> Source:
    name = cfg.get("source")
    if name not in SOURCES:
        raise ConfigError("data.source", f"one of {tuple(SOURCES)}", name)
    return SOURCES[name]


def load_source(cfg: Config) -> tuple[pd.DataFrame, str]:
    """Dispatch on ``data.source``."""
    return source(cfg).load(cfg)


def parse_rows(cfg: Config, rows: pd.DataFrame, name: str) -> pd.DataFrame:
    """Rows in the source's raw layout, parsed exactly as its files are; cells may be text or
    numbers (JSON requests carry both); ``name`` names the rows in errors."""
    return source(cfg).parse_rows(cfg, as_text(rows), name)


def as_text(rows: pd.DataFrame) -> pd.DataFrame:
    """Every cell as the text a CSV reader would give (missing cells stay missing)."""
    def text(value: Any) -> Any:
        if value is None or isinstance(value, str) or (isinstance(value, float) and value != value):
            return value
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    return rows.astype(object).map(text)
