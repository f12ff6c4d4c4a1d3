"""Opt-in calendar features, the livestream study's proposed next step: weekend, public holiday,
day part and hour of day, as numeric input columns derived from each row's timestamp.

Public holidays come from the maintained ``holidays`` package (China's include the substituted
days off); day parts follow the study: night 0-6 h, morning 6-11, noon 11-14, afternoon 14-18,
evening 18-24. Hour of day is a sine/cosine pair so 23:59 sits next to 00:00.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from sweepcast.errors import ConfigError

FEATURES = ("weekend", "holiday", "day_part", "hour")
DAY_PARTS = (("night", 0, 6), ("morning", 6, 11), ("noon", 11, 14), ("afternoon", 14, 18), ("evening", 18, 24))


@dataclass(frozen=True)
class CalendarSpec:
    enabled: bool
    country: str
    features: tuple[str, ...]


def calendar_spec(cfg: Mapping[str, Any] | None) -> CalendarSpec:
    """Parse ``data.calendar``; off unless ``enabled: true``."""
    cfg = cfg or {}
    enabled = cfg.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ConfigError("data.calendar.enabled", "true or false", enabled)
    features = cfg.get("features", list(FEATURES))
    if isinstance(features, str) or not features or any(f not in FEATURES for f in features):
        raise ConfigError("data.calendar.features", f"a non-empty list drawn from {FEATURES}", features)
    country = cfg.get("country", "CN")
    if not isinstance(country, str):
        raise ConfigError("data.calendar.country", "an ISO country code such as CN or US", country)
    return CalendarSpec(enabled, country, tuple(dict.fromkeys(features)))


def calendar_features(index: pd.DatetimeIndex, spec: CalendarSpec) -> pd.DataFrame:
    """One numeric column per feature (``cal_*``), aligned with ``index``."""
    columns: dict[str, np.ndarray] = {}
    if "weekend" in spec.features:
        columns["cal_weekend"] = (index.day_of_week >= 5).astype(np.float64)
    if "holiday" in spec.features:
        days = holiday_dates(spec.country, sorted(set(index.year)))
        columns["cal_holiday"] = np.isin(index.normalize().date, list(days)).astype(np.float64)
    if "day_part" in spec.features:
        hours = index.hour
        for name, start, stop in DAY_PARTS:
            columns[f"cal_{name}"] = ((hours >= start) & (hours < stop)).astype(np.float64)
    if "hour" in spec.features:
        angle = 2 * np.pi * (index.hour + index.minute / 60) / 24
        columns["cal_hour_sin"], columns["cal_hour_cos"] = np.sin(angle), np.cos(angle)
    return pd.DataFrame(columns, index=index)


def holiday_dates(country: str, years: list[int]) -> set[Any]:
    import holidays

    try:
        return set(holidays.country_holidays(country, years=years))
    except NotImplementedError:
        raise ConfigError("data.calendar.country", "a country the holidays package knows (e.g. CN, US, DE)",
                          country) from None
