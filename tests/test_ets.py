"""ETS baseline (issue 14.3): statsmodels' Holt-Winters fit on the training split, forecasting
every validation and test window from the states after its own last row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sweepcast.data.pipeline import prepare
from sweepcast.errors import ConfigError
from sweepcast.models import build_model, validate_model


def seasonal_series(tmp_path: Path, rows: int = 600, period: int = 24) -> Path:
    t = np.arange(rows)
    values = 50 + 10 * np.sin(2 * np.pi * t / period) + 0.02 * t + np.random.default_rng(0).normal(0, 0.5, rows)
    path = tmp_path / "hourly.csv"
    pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=rows, freq="1h"), "value": values}).to_csv(
        path, index=False)
    return path


def prepared(path: Path, horizon: int = 1):
    return prepare({
        "name": "csv_series", "source": "csv_series", "path": str(path), "timestamp_column": "timestamp",
        "value_columns": None, "target": "value", "features": None, "timestep": 12, "horizon": horizon,
        "strategy": "direct", "scaler": "minmax", "split": {"train": 0.7, "val": 0.15},
        "clean": {"duplicates": "mean", "nan": "interpolate", "dead_day_threshold": None, "freq": "infer",
                  "fill_value": None},
    })


@pytest.mark.parametrize("horizon", [1, 10, 30])
def test_the_first_validation_window_is_statsmodels_own_forecast(tmp_path: Path, horizon: int) -> None:
    """At the training split's end our state formula must equal statsmodels' forecast (seasons wrap at 30 > 24)."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    data = prepared(seasonal_series(tmp_path), horizon)
    model = build_model({"name": "ets", "period": None}, (12, 1), horizon)
    fitted = model.fit(data, seed=0)
    assert fitted["period"] == 24 and 0 < fitted["ets_alpha"] <= 1 and 0 < fitted["ets_phi"] <= 1
    val = model.predict(data, "val")
    assert val.shape == (data.window_count("val"), horizon)
    train = data.frame["value"].to_numpy()[slice(*data.bounds["train"])]
    own = ExponentialSmoothing(train, trend="add", damped_trend=True, seasonal="add", seasonal_periods=24,
                               initialization_method="heuristic").fit(use_brute=False).forecast(horizon)
    # statsmodels 0.15's forecast reuses the season from before its last update at whole periods
    # ahead (step 24 here); we follow Hyndman & Athanasopoulos (s[t + h - m(k + 1)]), which uses it
    steps = np.arange(1, horizon + 1)
    assert np.allclose(val[0][steps % 24 != 0], own[steps % 24 != 0], rtol=1e-9)


def test_it_beats_persistence_on_a_seasonal_series_and_uses_only_the_past(tmp_path: Path) -> None:
    data = prepared(seasonal_series(tmp_path), horizon=6)
    model = build_model({"name": "ets"}, (12, 1), 6)
    model.fit(data, seed=0)
    test, truth = model.predict(data, "test"), data.target_matrix("test")
    persistence = build_model({"name": "persistence"}, (12, 1), 6)
    persistence.fit(data, seed=0)
    assert np.sqrt(np.mean((test - truth) ** 2)) < 0.5 * np.sqrt(np.mean((persistence.predict(data, "test") - truth) ** 2))
    # changing a value after a window's last row leaves that window's forecast alone
    origin = int(data.target_rows("test")[3]) - 1
    data.frame.iloc[origin + 1:, 0] += 1000.0
    model.fit(data, seed=0)
    assert np.allclose(model.predict(data, "test")[:4], test[:4])


def test_too_short_a_split_drops_the_default_season_and_refuses_an_explicit_one(tmp_path: Path, caplog) -> None:
    data = prepared(seasonal_series(tmp_path, rows=60))  # 42 training rows: fewer than two days of hours
    model = build_model({"name": "ets"}, (12, 1), 1)
    with caplog.at_level("INFO"):
        assert model.fit(data, seed=0)["period"] == 0
    assert "ETS without a season" in caplog.text and np.isfinite(model.predict(data, "test")).all()
    with pytest.raises(ConfigError, match="model.period"):
        build_model({"name": "ets", "period": 24}, (12, 1), 1).fit(data, seed=0)


@pytest.mark.parametrize(("spec", "key"), [({"trend": "mul"}, "model.trend"), ({"seasonal": "multiplicative"},
                                            "model.seasonal"), ({"period": 1}, "model.period"),
                                           ({"damped": "yes"}, "model.damped"), ({"alpha": 0.3}, "model.alpha")])
def test_bad_ets_settings_name_their_key(spec: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate_model({"name": "ets", **spec})


def test_a_daily_season_given_as_a_duration(tmp_path: Path) -> None:
    data = prepared(seasonal_series(tmp_path))
    model = build_model({"name": "ets", "period": "1D"}, (12, 1), 1)
    assert model.fit(data, seed=0)["period"] == 24
