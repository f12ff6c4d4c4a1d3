"""Each cleaning rule on crafted rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sweepcast.data.clean import (
    CleanSpec,
    clean,
    drop_dead_days,
    handle_nan,
    infer_frequency,
    merge_duplicate_timestamps,
    reindex_to_frequency,
    sort_by_time,
)
from sweepcast.errors import ConfigError, DataError


def frame(stamps: list[str], **columns: list[float]) -> pd.DataFrame:
    return pd.DataFrame(columns, index=pd.DatetimeIndex(pd.to_datetime(stamps, format="mixed"), name="timestamp"), dtype="float64")


def test_sort_counts_out_of_order_rows_and_keeps_them() -> None:
    df = frame(["2020-01-01 00:02", "2020-01-01 00:00", "2020-01-01 00:01"], y=[3, 1, 2])
    out, count = sort_by_time(df)
    assert count == 1
    assert out["y"].tolist() == [1, 2, 3]


@pytest.mark.parametrize(("how", "expected"), [("mean", 2.0), ("sum", 4.0), ("first", 1.0), ("last", 3.0)])
def test_duplicate_timestamps_merged_by_policy(how: str, expected: float) -> None:
    df = frame(["2020-01-01 00:00", "2020-01-01 00:01", "2020-01-01 00:01"], y=[9, 1, 3])
    out, count = merge_duplicate_timestamps(df, how, "crafted")
    assert count == 1
    assert len(out) == 2
    assert out["y"].iloc[1] == expected


def test_duplicate_timestamps_can_be_refused() -> None:
    df = frame(["2020-01-01 00:01", "2020-01-01 00:01"], y=[1, 3])
    with pytest.raises(DataError, match="duplicate timestamps.*data.clean.duplicates"):
        merge_duplicate_timestamps(df, "error", "crafted")


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("zero", [1.0, 0.0, 3.0]), ("ffill", [1.0, 1.0, 3.0]), ("interpolate", [1.0, 2.0, 3.0])],
)
def test_nan_policies(policy: str, expected: list[float]) -> None:
    df = frame(["2020-01-01 00:00", "2020-01-01 00:01", "2020-01-01 00:02"], y=[1, np.nan, 3])
    out, cells, dropped = handle_nan(df, policy, "crafted")
    assert (cells, dropped) == (1, 0)
    assert out["y"].tolist() == expected


def test_nan_drop_and_error() -> None:
    df = frame(["2020-01-01 00:00", "2020-01-01 00:01"], y=[1, np.nan])
    out, cells, dropped = handle_nan(df, "drop", "crafted")
    assert (len(out), cells, dropped) == (1, 1, 1)
    with pytest.raises(DataError, match="column 'y'"):
        handle_nan(df, "error", "crafted")


def test_dead_days_dropped_by_daily_traffic() -> None:
    df = frame(
        ["2020-01-01 10:00", "2020-01-01 11:00", "2020-01-02 10:00", "2020-01-03 10:00"],
        natural_all=[3, 4, 50, 9], paid_all=[1, 1, 0, 0], y=[1, 2, 3, 4],
    )
    out, dead, rows = drop_dead_days(df, ["natural_all", "paid_all"], 10, "crafted")
    assert dead == ["2020-01-01", "2020-01-03"]
    assert rows == 3
    assert out["y"].tolist() == [3.0]


def test_dead_day_columns_must_exist() -> None:
    df = frame(["2020-01-01 10:00"], y=[1])
    with pytest.raises(ConfigError, match="data.clean.dead_day_columns"):
        drop_dead_days(df, ["natural_all"], 10, "crafted")


def test_reindex_fills_absent_minutes() -> None:
    df = frame(["2020-01-01 12:00", "2020-01-01 12:03"], y=[5, 7])
    out, added = reindex_to_frequency(df, "1min", 0.0, "crafted")
    assert added == 2
    assert out["y"].tolist() == [5, 0, 0, 7]
    assert out.index.name == "timestamp"


def test_reindex_refuses_off_grid_timestamps() -> None:
    df = frame(["2020-01-01 12:00", "2020-01-01 12:00:30", "2020-01-01 12:02"], y=[1, 2, 3])
    with pytest.raises(DataError, match="not on the 1min grid.*data.clean.resample=mean"):
        reindex_to_frequency(df, "1min", 0.0, "crafted")


@pytest.mark.parametrize(("how", "expected"), [("mean", [1.5, 0.0, 3.0]), ("sum", [3.0, 0.0, 3.0]),
                                               ("last", [2.0, 0.0, 3.0]), ("max", [2.0, 0.0, 3.0])])
def test_resample_aggregates_off_grid_readings_into_each_step(how: str, expected: list[float]) -> None:
    """Issue 14.8: a sensor's off-grid readings land in [t, t + freq) labelled t; an empty step is filled."""
    df = frame(["2020-01-01 12:00:10", "2020-01-01 12:04:50", "2020-01-01 12:11:00"], y=[1, 2, 3])
    out, report = clean(df, CleanSpec(freq="5min", resample=how, fill_value=0.0, nan="error"), "sensor")
    assert out.index.tolist() == list(pd.date_range("2020-01-01 12:00", periods=3, freq="5min"))
    assert out["y"].tolist() == expected and report.filled_rows == 1
    nan_filled, _ = clean(df, CleanSpec(freq="5min", resample=how, fill_value=None, nan="interpolate"), "sensor")
    assert nan_filled["y"].iloc[1] == pytest.approx((expected[0] + expected[2]) / 2)


def test_infer_frequency_uses_most_common_step_despite_gaps() -> None:
    stamps = pd.date_range("2020-01-01", periods=10, freq="30min").delete([3, 4, 7])
    assert infer_frequency(pd.DatetimeIndex(stamps), "crafted") == pd.tseries.frequencies.to_offset("30min")


def test_full_policy_counts_every_step() -> None:
    df = frame(
        ["2020-01-02 00:02", "2020-01-02 00:00", "2020-01-02 00:00", "2020-01-01 09:00", "2020-01-02 00:05"],
        natural_all=[20, 5, 5, 1, np.nan], paid_all=[0, 0, 0, 0, 0], y=[2, 1, 1, 9, np.nan],
    )
    spec = CleanSpec(dead_day_columns=("natural_all", "paid_all"), dead_day_threshold=10, freq="1min")
    out, report = clean(df, spec, "crafted")
    assert report.rows_in == 5
    assert report.unsorted_rows == 2
    assert report.duplicate_rows == 1
    assert report.dead_days == ["2020-01-01"]
    assert report.filled_rows == 3  # 00:01, 00:03, 00:04
    assert report.nan_cells == 2
    assert report.rows_out == len(out) == 6
    assert out["y"].tolist() == [1, 0, 2, 0, 0, 0]
    assert report.as_metrics()["clean_dead_days"] == 1.0


def test_nothing_left_is_an_error() -> None:
    df = frame(["2020-01-01 10:00"], natural_all=[1], paid_all=[0])
    spec = CleanSpec(dead_day_columns=("natural_all", "paid_all"), dead_day_threshold=10)
    with pytest.raises(DataError, match="no rows left after cleaning"):
        clean(df, spec, "crafted")


@pytest.mark.parametrize(
    ("field", "value", "key"),
    [("duplicates", "median", "data.clean.duplicates"), ("nan", "guess", "data.clean.nan"), ("freq", "every minute", "data.clean.freq"),
     ("resample", "median", "data.clean.resample")],
)
def test_bad_policies_name_their_key(field: str, value: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        CleanSpec(**{field: value}).validate()


def test_resample_needs_a_grid() -> None:
    with pytest.raises(ConfigError, match="data.clean.resample.*data.clean.freq"):
        CleanSpec(freq=None, resample="mean").validate()
