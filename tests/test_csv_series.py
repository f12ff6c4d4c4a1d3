"""The generic timestamp,value source and the data pipeline's input checks."""

from __future__ import annotations

import pytest

from sweepcast.data.csv_series import read_series_csv
from sweepcast.data.pipeline import prepare
from sweepcast.errors import ConfigError, DataError


def test_nab_taxi_file(taxi_csv) -> None:
    df = read_series_csv(taxi_csv)
    assert len(df) == 10320
    assert list(df.columns) == ["value"]
    assert df.index.name == "timestamp"
    assert df["value"].iloc[0] == 10844


def test_taxi_pipeline_infers_half_hours(taxi_csv) -> None:
    cfg = {"source": "csv_series", "path": str(taxi_csv), "target": "value", "timestep": 48,
           "clean": {"freq": "infer", "fill_value": None, "nan": "interpolate"}}
    data = prepare(cfg)
    assert len(data.frame) == 10320 and data.report.filled_rows == 0


def test_missing_file(tmp_path) -> None:
    with pytest.raises(DataError, match="nope.csv: file not found"):
        read_series_csv(tmp_path / "nope.csv")


def test_non_numeric_value_names_column_and_row(tmp_path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("timestamp,value\n2020-01-01 00:00,1\n2020-01-01 00:01,lots\n")
    with pytest.raises(DataError, match=r"column 'value', row 2: expected a number, got 'lots'"):
        read_series_csv(path)


def test_bad_timestamp_names_row(tmp_path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("timestamp,value\n2020-01-01 00:00,1\nyesterday,2\n")
    with pytest.raises(DataError, match="column 'timestamp', row 2: expected a timestamp"):
        read_series_csv(path)


def test_missing_timestamp_column(tmp_path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("time,value\n2020-01-01 00:00,1\n")
    with pytest.raises(DataError, match="missing timestamp column 'timestamp'"):
        read_series_csv(path)


def test_missing_target_and_feature(tmp_path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("timestamp,value\n2020-01-01 00:00,1\n2020-01-01 00:01,2\n")
    base = {"source": "csv_series", "path": str(path), "timestep": 1}
    with pytest.raises(DataError, match="target column 'WATCH_UCNT'"):
        prepare({**base, "target": "WATCH_UCNT"})
    with pytest.raises(DataError, match="feature column 'nope'"):
        prepare({**base, "target": "value", "features": ["nope"]})


def test_path_required_and_unknown_source() -> None:
    with pytest.raises(ConfigError, match="data.path"):
        prepare({"source": "csv_series", "path": None, "timestep": 5})
    with pytest.raises(ConfigError, match="data.source"):
        prepare({"source": "parquet", "timestep": 5})


def test_offsets_that_change_within_a_file_become_one_utc_clock(tmp_path) -> None:
    from sweepcast.data.csv_series import read_series_csv

    path = tmp_path / "dst.csv"
    path.write_text("timestamp,value\n2024-03-31T00:30:00+01:00,1\n2024-03-31T03:30:00+02:00,2\n")
    frame = read_series_csv(path)
    assert [str(t) for t in frame.index] == ["2024-03-30 23:30:00", "2024-03-31 01:30:00"]


def test_an_off_grid_sensor_file_points_at_resampling_and_resamples(tmp_path) -> None:
    """Issue 14.8: readings every ~5 minutes at jittered times fail on the inferred grid, naming
    data.clean.resample; with data.clean.freq=5min and resample=mean they become a 5-minute series."""
    import numpy as np
    import pandas as pd
    import pytest

    from sweepcast.data.pipeline import prepare
    from sweepcast.errors import DataError

    rng = np.random.default_rng(0)
    stamps = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(600) * 300 + rng.integers(0, 240, 600), unit="s")
    path = tmp_path / "sensor.csv"
    pd.DataFrame({"timestamp": stamps, "value": rng.normal(20, 2, 600)}).to_csv(path, index=False)
    cfg = {"source": "csv_series", "path": str(path), "target": "value", "timestep": 12,
           "clean": {"freq": "infer", "fill_value": None, "nan": "interpolate"}}
    with pytest.raises(DataError, match="not on the inferred .* grid.*data.clean.resample=mean"):
        prepare(cfg)
    data = prepare({**cfg, "clean": {"freq": "5min", "resample": "mean", "fill_value": None, "nan": "interpolate"}})
    assert len(data.frame) == 600 and (data.frame.index.to_series().diff().dropna() == pd.Timedelta("5min")).all()
