"""Source registry: ``data.source`` name -> loader returning a raw frame and its description,
and -> row parser turning rows already read as text (what an exported model receives) into the
same frame.

Both return float64 columns indexed by a DatetimeIndex named ``timestamp``, in file order;
cleaning happens later. Adding a source is one loader and one row parser here and one YAML file
in ``conf/data/``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import pandas as pd

from sweepcast.errors import ConfigError

Loader = Callable[[Mapping[str, Any]], tuple[pd.DataFrame, str]]


def load_livestream(cfg: Mapping[str, Any]) -> tuple[pd.DataFrame, str]:
    """The real Douyin CSV layout when ``path`` is set, else the embedded synthetic stream."""
    from sweepcast.data import livestream

    if cfg.get("path"):
        return livestream.read_livestream_csv(cfg["path"]), str(cfg["path"])
    synthetic = cfg.get("synthetic") or {}
    days, seed = synthetic.get("days", 62), synthetic.get("seed", 0)
    frame = livestream.generate_livestream(days=days, seed=seed, start=synthetic.get("start", "2019-10-01"))
    return frame, f"synthetic livestream ({days} days, seed {seed})"


def load_csv_series(cfg: Mapping[str, Any]) -> tuple[pd.DataFrame, str]:
    """Any CSV with a timestamp column and numeric value columns."""
    from sweepcast.data.csv_series import read_series_csv

    if not cfg.get("path"):
        raise ConfigError("data.path", "the path of a CSV file with a timestamp column", cfg.get("path"))
    columns = cfg.get("value_columns")
    frame = read_series_csv(cfg["path"], cfg.get("timestamp_column", "timestamp"), list(columns) if columns else None)
    return frame, str(cfg["path"])


SOURCES: dict[str, Loader] = {
    "livestream": load_livestream,
    "csv_series": load_csv_series,
}


def parse_livestream_rows(cfg: Mapping[str, Any], rows: pd.DataFrame, name: str) -> pd.DataFrame:
    from sweepcast.data.livestream import parse_livestream_frame

    return parse_livestream_frame(rows, name)


def parse_series_rows(cfg: Mapping[str, Any], rows: pd.DataFrame, name: str) -> pd.DataFrame:
    from sweepcast.data.csv_series import parse_series_frame

    columns = cfg.get("value_columns")
    return parse_series_frame(rows, name, cfg.get("timestamp_column", "timestamp"), list(columns) if columns else None)


RowParser = Callable[[Mapping[str, Any], pd.DataFrame, str], pd.DataFrame]
ROW_PARSERS: dict[str, RowParser] = {
    "livestream": parse_livestream_rows,
    "csv_series": parse_series_rows,
}


def parse_rows(cfg: Mapping[str, Any], rows: pd.DataFrame, name: str) -> pd.DataFrame:
    """Rows in the source's raw layout, every cell as text (as ``pd.read_csv(dtype=str)`` gives
    them), parsed exactly as the source's files are; ``name`` names the rows in errors."""
    source = cfg.get("source")
    if source not in ROW_PARSERS:
        raise ConfigError("data.source", f"one of {tuple(ROW_PARSERS)}", source)
    return ROW_PARSERS[source](cfg, rows, name)


def load_source(cfg: Mapping[str, Any]) -> tuple[pd.DataFrame, str]:
    """Dispatch on ``data.source``."""
    name = cfg.get("source")
    if name not in SOURCES:
        raise ConfigError("data.source", f"one of {tuple(SOURCES)}", name)
    return SOURCES[name](cfg)
