"""Opt-in calendar features, the livestream study's proposed next step: weekend, public holiday,
day part and hour of day, as numeric input columns derived from each row's timestamp.

Public holidays come from the maintained ``holidays`` package (China's include the substituted
days off); day parts follow the study: night 0-6 h, morning 6-11, noon 11-14, afternoon 14-18,
evening 18-24. Hour of day is a sine/cosine pair so 23:59 sits next to 00:00. "Weekend" is the
country's weekend minus its make-up working days (China moves some weekends to build
holidays). Timestamps are read as local wall-clock time: a CSV with UTC offsets is converted to UTC
on load, so its calendar is UTC's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from sweepcast import checks
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
    cfg = {} if cfg is None else cfg
    if not isinstance(cfg, Mapping):
        raise ConfigError("data.calendar", "a mapping with enabled, country, features", cfg)
    enabled = checks.boolean("data.calendar.enabled", cfg.get("enabled", False))
    features = cfg.get("features", list(FEATURES))
    if not isinstance(features, (list, tuple)) or not features or any(f not in FEATURES for f in features):
        raise ConfigError("data.calendar.features", f"a non-empty list drawn from {FEATURES}", features)
    country = cfg.get("country", "CN")
    if not isinstance(country, str):
        raise ConfigError("data.calendar.country", "an ISO country code such as CN or US", country)
    return CalendarSpec(enabled, country, tuple(dict.fromkeys(features)))


def calendar_features(index: pd.DatetimeIndex, spec: CalendarSpec) -> pd.DataFrame:
    """One numeric column per feature (``cal_*``), aligned with ``index``."""
    columns: dict[str, np.ndarray] = {}
    if {"weekend", "holiday"} & set(spec.features):
        days = country_calendar(spec.country, sorted(set(index.year)))
        dates = index.normalize().date
    if "weekend" in spec.features:  # the country's weekend, minus its make-up working days
        weekend = np.isin(index.day_of_week, list(days.weekend)) & ~np.isin(dates, list(days.weekend_workdays))
        columns["cal_weekend"] = weekend.astype(np.float64)
    if "holiday" in spec.features:
        columns["cal_holiday"] = np.isin(dates, list(days)).astype(np.float64)
    if "day_part" in spec.features:
        hours = index.hour
        for name, start, stop in DAY_PARTS:
            columns[f"cal_{name}"] = ((hours >= start) & (hours < stop)).astype(np.float64)
    if "hour" in spec.features:
        angle = 2 * np.pi * (index.hour + index.minute / 60) / 24
        columns["cal_hour_sin"], columns["cal_hour_cos"] = np.sin(angle), np.cos(angle)
    return pd.DataFrame(columns, index=index)


def country_calendar(country: str, years: list[int]) -> Any:
    """The ``holidays`` package's calendar: holiday dates, ``weekend`` weekdays, make-up workdays."""
    import holidays  # here: only a run with calendar features on pays for the package's import

    try:
        return holidays.country_holidays(country, years=years)
    except NotImplementedError:
        raise ConfigError("data.calendar.country", "a country the holidays package knows (e.g. CN, US, DE)",
                          country) from None
