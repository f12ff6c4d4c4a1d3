"""Baselines forecast the same windows as the networks; their numbers are checked by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sweepcast.data.pipeline import prepare
from sweepcast.errors import ConfigError
from sweepcast.metrics import rmse
from sweepcast.models import build_model, is_network, validate_model

Y = np.array([(t % 5) * 10 + t for t in range(30)], dtype=float)  # a period-5 pattern on a trend


@pytest.fixture
def tiny(tmp_path: Path):
    """30 one-minute values: train 18 rows, val 6, test 6; timestep 3 -> test forecasts rows 27..29."""
    path = tmp_path / "tiny.csv"
    pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=30, freq="1min"), "value": Y}).to_csv(path, index=False)
    return prepare({
        "name": "csv_series", "source": "csv_series", "path": str(path), "timestamp_column": "timestamp",
        "value_columns": None, "target": "value", "features": None, "timestep": 3, "scaler": "minmax",
        "split": {"train": 0.6, "val": 0.2},
        "clean": {"duplicates": "mean", "nan": "interpolate", "dead_day_threshold": None, "freq": "infer",
                  "fill_value": None},
    })


def forecast(spec: dict, data, split: str = "test") -> np.ndarray:
    model = build_model(spec, (data.timestep, 1))
    model.fit(data, seed=0)
    return model.predict(data, split)


def test_persistence_seasonal_naive_and_moving_average_by_hand(tiny) -> None:
    assert tiny.bounds.test == (24, 30)
    assert np.array_equal(forecast({"name": "persistence"}, tiny), Y[[26, 27, 28]])
    assert np.array_equal(forecast({"name": "seasonal_naive", "period": 5}, tiny), Y[[22, 23, 24]])
    assert np.allclose(forecast({"name": "moving_average", "window": 2}, tiny),
                       [(Y[25] + Y[26]) / 2, (Y[26] + Y[27]) / 2, (Y[27] + Y[28]) / 2])
    truth = Y[27:30]
    by_hand = np.sqrt(np.mean((truth - Y[[22, 23, 24]]) ** 2))
    assert rmse(truth, forecast({"name": "seasonal_naive", "period": 5}, tiny)) == pytest.approx(by_hand)
    assert by_hand == pytest.approx(5.0)  # the pattern repeats; only the trend (+5 per period) is missed


def test_gbdt_learns_on_the_same_windows_and_is_seeded(tiny) -> None:
    spec = {"name": "gbdt", "max_iter": 20, "learning_rate": 0.3, "max_leaf_nodes": 4, "min_samples_leaf": 2,
            "l2_regularization": 0.0}
    first, second = forecast(spec, tiny, "val"), forecast(spec, tiny, "val")
    assert first.shape == (3,) and np.isfinite(first).all() and np.array_equal(first, second)
    assert not is_network("gbdt") and is_network("transformer")


@pytest.mark.parametrize(("spec", "key"), [
    ({"name": "seasonal_naive", "period": 0}, "model.period"),
    ({"name": "moving_average", "window": -1}, "model.window"),
    ({"name": "gbdt", "max_iter": 10, "learning_rate": 0, "max_leaf_nodes": 8, "min_samples_leaf": 2,
      "l2_regularization": 0.0}, "model.learning_rate"),
    ({"name": "persistence", "window": 3}, "model.window"),
])
def test_bad_baseline_specs_name_their_key(spec: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate_model(spec)


def test_data_dependent_limits_name_their_key(tiny) -> None:
    with pytest.raises(ConfigError, match=r"model\.period.*18 rows"):
        forecast({"name": "seasonal_naive", "period": 19}, tiny)
    with pytest.raises(ConfigError, match=r"model\.window.*data\.timestep=3"):
        forecast({"name": "moving_average", "window": 4}, tiny)
