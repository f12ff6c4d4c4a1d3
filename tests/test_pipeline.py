"""The data half of a run on real and synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sweepcast.data.pipeline import fingerprint, prepare

LIVESTREAM = {
    "name": "livestream", "source": "livestream", "path": None,
    "synthetic": {"days": 14, "seed": 3}, "target": "WATCH_UCNT", "features": None,
    "timestep": 30, "scaler": "minmax", "split": {"train": 0.7, "val": 0.15},
    "clean": {"duplicates": "mean", "nan": "zero", "dead_day_columns": ["natural_all", "paid_all"],
              "dead_day_threshold": 10, "freq": "1min", "fill_value": 0},
}


def test_real_day_is_reindexed_and_its_afternoon_gap_filled(douyin_csv) -> None:
    data = prepare({**LIVESTREAM, "path": str(douyin_csv), "timestep": 100})
    frame = data.frame
    assert data.report.rows_in == 696
    assert frame.index[0] == pd.Timestamp("2019-12-02 08:12") and frame.index[-1] == pd.Timestamp("2019-12-02 23:48")
    assert len(frame) == 937  # every minute 08:12..23:48
    assert data.report.filled_rows == 937 - 696
    gap = frame.loc["2019-12-02 12:01":"2019-12-02 15:59", "WATCH_UCNT"]
    assert len(gap) == 239 and (gap == 0).all()


def test_synthetic_default_is_deterministic_and_cleaned() -> None:
    a, b = prepare(LIVESTREAM), prepare(LIVESTREAM)
    assert a.fingerprint == b.fingerprint
    assert a.report.dead_days and a.report.filled_rows > 0
    assert a.frame.index.to_series().diff().dropna().eq(pd.Timedelta("1min")).all()
    assert prepare({**LIVESTREAM, "synthetic": {"days": 14, "seed": 4}}).fingerprint != a.fingerprint


def test_multivariate_features_and_cap() -> None:
    data = prepare({**LIVESTREAM, "features": ["WATCH_UCNT", "natural_all", "paid_all"]}, max_points=3000)
    assert data.inputs.shape == (3000, 3) and data.inputs.dtype == np.float32
    x, y = next(iter(data.dataset("train", batch_size=8)))
    assert tuple(x.shape) == (8, 30, 3) and tuple(y.shape) == (8, 1)


def test_fingerprint_changes_with_content() -> None:
    frame = pd.DataFrame({"v": [1.0, 2.0]}, index=pd.date_range("2020", periods=2, freq="1min"))
    changed = frame.copy()
    changed.iloc[1, 0] = 2.5
    assert fingerprint(frame) != fingerprint(changed)


def test_all_features_is_every_column_with_the_target_first() -> None:
    import yaml

    from tests.conftest import ROOT

    cfg = yaml.safe_load((ROOT / "conf" / "data" / "livestream.yaml").read_text())
    cfg["synthetic"]["days"] = 3
    data = prepare({**cfg, "features": "all", "timestep": 10}, max_points=2000)
    assert data.features[0] == "WATCH_UCNT" and len(data.features) == 26 and data.inputs.shape[1] == 26


def test_log1p_is_modelled_and_inverted_before_every_metric(tmp_path) -> None:
    """Issue 14.4: data.transform=log1p: the scaled targets are log1p's, inverse_target gives the
    original units back, and negative counts are refused naming the column."""
    from sweepcast.errors import ConfigError, DataError

    values = np.random.default_rng(0).poisson(20, 300).astype(float)
    path = tmp_path / "counts.csv"
    pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=300, freq="1h"), "value": values}).to_csv(
        path, index=False)
    cfg = {"source": "csv_series", "path": str(path), "target": "value", "timestep": 8, "horizon": 2,
           "transform": "log1p", "clean": {"freq": "infer", "fill_value": None, "nan": "interpolate"}}
    data = prepare(cfg)
    assert not data.linear_target
    assert np.allclose(data.inverse_target(data.targets), values, atol=1e-4)  # float32 storage
    assert np.allclose(data.target_scaler.inverse_transform(data.targets[:, None]).ravel(), np.log1p(values), atol=1e-5)
    assert np.allclose(data.inverse_target(data.scaled_targets("test", 2)), data.target_matrix("test"), atol=1e-4)
    assert np.allclose(data.target_as_input(values[:5, None]), data.inputs[:5], atol=1e-6)
    pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=300, freq="1h"), "value": values - 30}).to_csv(
        path, index=False)
    with pytest.raises(DataError, match="column 'value'.*log1p needs values >= 0"):
        prepare(cfg)
    with pytest.raises(ConfigError, match="data.transform"):
        prepare({**cfg, "transform": "sqrt"})
