"""Source registry: ``data.source`` name -> loader returning a raw frame and its description.

A loader returns float64 columns indexed by a DatetimeIndex named ``timestamp``, in file
order; cleaning happens later. Adding a source is one function here and one YAML file in
``conf/data/``.
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


def load_source(cfg: Mapping[str, Any]) -> tuple[pd.DataFrame, str]:
    """Dispatch on ``data.source``."""
    name = cfg.get("source")
    if name not in SOURCES:
        raise ConfigError("data.source", f"one of {tuple(SOURCES)}", name)
    return SOURCES[name](cfg)
