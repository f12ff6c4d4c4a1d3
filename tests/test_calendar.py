"""Calendar features on dates whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sweepcast.data.calendar import calendar_features, calendar_spec
from sweepcast.data.pipeline import prepare
from sweepcast.errors import ConfigError
from tests.test_pipeline import LIVESTREAM

ON = calendar_spec({"enabled": True, "country": "CN"})


def row(stamp: str) -> pd.Series:
    return calendar_features(pd.DatetimeIndex([pd.Timestamp(stamp)]), ON).iloc[0]


def test_weekend_and_chinese_public_holidays() -> None:
    saturday = row("2019-11-09 10:00")  # an ordinary Saturday
    assert saturday["cal_weekend"] == 1 and saturday["cal_holiday"] == 0
    national_day = row("2019-10-01 10:00")  # a Tuesday, PRC National Day
    assert national_day["cal_weekend"] == 0 and national_day["cal_holiday"] == 1
    assert row("2019-02-05 20:00")["cal_holiday"] == 1  # Spring Festival
    for make_up_workday in ("2019-09-29 10:00", "2019-10-12 10:00"):  # a Sunday and a Saturday China worked
        assert row(make_up_workday)["cal_weekend"] == 0
    workday = row("2019-11-12 10:00")
    assert workday["cal_weekend"] == 0 and workday["cal_holiday"] == 0
    us = calendar_features(pd.DatetimeIndex([pd.Timestamp("2019-07-04 12:00")]),
                           calendar_spec({"enabled": True, "country": "US"}))
    assert us["cal_holiday"].iloc[0] == 1


@pytest.mark.parametrize(("stamp", "part"), [("2019-11-12 03:00", "night"), ("2019-11-12 07:30", "morning"),
                                             ("2019-11-12 12:00", "noon"), ("2019-11-12 15:59", "afternoon"),
                                             ("2019-11-12 23:59", "evening")])
def test_day_parts_are_one_hot(stamp: str, part: str) -> None:
    values = row(stamp)
    parts = {c[4:]: values[c] for c in values.index if c[4:] in ("night", "morning", "noon", "afternoon", "evening")}
    assert parts[part] == 1 and sum(parts.values()) == 1


def test_hour_is_a_circle() -> None:
    six, midnight = row("2019-11-12 06:00"), row("2019-11-12 00:00")
    assert np.isclose(six["cal_hour_sin"], 1) and np.isclose(six["cal_hour_cos"], 0, atol=1e-12)
    assert np.isclose(midnight["cal_hour_cos"], 1)
    before = row("2019-11-12 23:59")
    assert np.hypot(before["cal_hour_sin"] - midnight["cal_hour_sin"], before["cal_hour_cos"] - midnight["cal_hour_cos"]) < 0.01


def test_prepare_adds_them_as_scaled_inputs_only_when_enabled() -> None:
    off = prepare(LIVESTREAM)
    on = prepare({**LIVESTREAM, "calendar": {"enabled": True, "country": "CN", "features": ["weekend", "hour"]}})
    assert off.features == ["WATCH_UCNT"]
    assert on.features == ["WATCH_UCNT", "cal_weekend", "cal_hour_sin", "cal_hour_cos"]
    assert on.inputs.shape == (len(on.frame), 4) and np.array_equal(on.targets, off.targets)
    train = on.split_inputs("train")
    assert np.isclose(train.min(axis=0), 0).all() and np.isclose(train.max(axis=0), 1).all()
    # the same data either way: runs with and without calendar inputs can be compared and averaged
    assert on.fingerprint == off.fingerprint


@pytest.mark.parametrize(("cfg", "key"), [({"enabled": "yes"}, "data.calendar.enabled"),
                                          (True, "data.calendar"),
                                          ({"features": 5}, "data.calendar.features"),
                                          ({"features": ["moon"]}, "data.calendar.features"),
                                          ({"features": []}, "data.calendar.features"),
                                          ({"country": 7}, "data.calendar.country")])
def test_bad_calendar_config_names_its_key(cfg, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        calendar_spec(cfg)
