"""Baselines forecast the same windows as the networks; their numbers are checked by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sweepcast.data.pipeline import prepare
from sweepcast.data.windows import ForecastTask
from sweepcast.errors import ConfigError
from sweepcast.metrics import rmse
from sweepcast.models import build_model, is_network, validate_model

Y = np.array([(t % 5) * 10 + t for t in range(30)], dtype=float)  # a period-5 pattern on a trend
GBDT = {"name": "gbdt", "max_iter": 20, "learning_rate": 0.3, "max_leaf_nodes": 4, "min_samples_leaf": 2,
        "l2_regularization": 0.0}


def prepare_tiny(tmp_path: Path, horizon: int = 1, strategy: str = "direct"):
    """30 one-minute values: train 18 rows, val 6, test 6; timestep 3 -> test forecasts rows 24..29
    (its windows read their history from the validation split)."""
    path = tmp_path / "tiny.csv"
    pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=30, freq="1min"), "value": Y}).to_csv(path, index=False)
    return prepare({
        "name": "csv_series", "source": "csv_series", "path": str(path), "timestamp_column": "timestamp",
        "value_columns": None, "target": "value", "features": None, "timestep": 3, "horizon": horizon,
        "strategy": strategy, "scaler": "minmax", "split": {"train": 0.6, "val": 0.2},
        "clean": {"duplicates": "mean", "nan": "interpolate", "dead_day_threshold": None, "freq": "infer",
                  "fill_value": None},
    })


@pytest.fixture
def tiny(tmp_path: Path):
    return prepare_tiny(tmp_path)


def forecast(spec: dict, data, split: str = "test") -> np.ndarray:
    model = build_model(spec, (data.timestep, 1), data.task.outputs)
    model.fit(data, seed=0)
    return model.predict(data, split)


def test_persistence_seasonal_naive_and_moving_average_by_hand(tiny) -> None:
    assert tiny.bounds.test == (24, 30)
    assert np.array_equal(forecast({"name": "persistence"}, tiny), Y[np.arange(23, 29)[:, None]])
    assert np.array_equal(forecast({"name": "seasonal_naive", "period": 5}, tiny), Y[np.arange(19, 25)[:, None]])
    assert np.allclose(forecast({"name": "moving_average", "window": 2}, tiny),
                       [[(Y[r - 2] + Y[r - 1]) / 2] for r in range(24, 30)])
    truth = Y[24:30]
    by_hand = np.sqrt(np.mean((truth - Y[19:25]) ** 2))
    assert rmse(truth, forecast({"name": "seasonal_naive", "period": 5}, tiny).ravel()) == pytest.approx(by_hand)
    assert by_hand == pytest.approx(5.0)  # the pattern repeats; only the trend (+5 per period) is missed


def test_baselines_over_a_horizon_by_hand(tmp_path: Path) -> None:
    """Horizon 2: test windows forecast rows (24, 25) .. (28, 29), reading the rows before each."""
    data = prepare_tiny(tmp_path, horizon=2)
    first = np.arange(24, 29)
    assert np.array_equal(data.target_matrix("test"), Y[np.stack([first, first + 1], axis=1)])
    assert np.array_equal(forecast({"name": "persistence"}, data), Y[np.stack([first - 1] * 2, axis=1)])
    assert np.array_equal(forecast({"name": "seasonal_naive", "period": 5}, data),
                          Y[np.stack([first - 5, first - 4], axis=1)])
    assert np.allclose(forecast({"name": "moving_average", "window": 2}, data),
                       [[(Y[r - 2] + Y[r - 1]) / 2] * 2 for r in first])


def test_gbdt_learns_on_the_same_windows_and_is_seeded(tiny) -> None:
    first, second = forecast(GBDT, tiny, "val"), forecast(GBDT, tiny, "val")
    assert first.shape == (6, 1) and np.isfinite(first).all() and np.array_equal(first, second)
    assert not is_network("gbdt") and is_network("transformer")


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_gbdt_forecasts_a_horizon_directly_or_recursively(tmp_path: Path, strategy: str) -> None:
    data = prepare_tiny(tmp_path, horizon=2, strategy=strategy)
    predicted = forecast(GBDT, data)
    assert predicted.shape == (5, 2) and np.isfinite(predicted).all()
    if strategy == "recursive":  # step 1 of a recursive forecast is the one-step model's own forecast
        assert np.allclose(predicted[:, 0], forecast(GBDT, prepare_tiny(tmp_path))[:5, 0])


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


@pytest.mark.parametrize(("spec", "task", "match"), [
    ({"name": "seasonal_naive", "period": 5}, ForecastTask(10, horizon=6), r"model\.period.*data\.horizon=6"),
    ({**GBDT, "max_horizon": 4}, ForecastTask(10, horizon=5), r"data\.horizon.*model\.max_horizon=4"),
    ({"name": "moving_average", "window": 6}, ForecastTask(5), r"model\.window.*data\.timestep=5"),
])
def test_horizon_and_window_limits_are_checked_before_any_data(spec: dict, task: ForecastTask, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        validate_model(spec, task)


def test_recursive_gbdt_may_exceed_max_horizon() -> None:
    validate_model({**GBDT, "max_horizon": 4}, ForecastTask(10, horizon=50, strategy="recursive"))


def test_data_dependent_limits_name_their_key(tiny) -> None:
    with pytest.raises(ConfigError, match=r"model\.period.*18 rows"):
        forecast({"name": "seasonal_naive", "period": 19}, tiny)
    with pytest.raises(ConfigError, match=r"model\.window.*data\.timestep=3"):
        forecast({"name": "moving_average", "window": 4}, tiny)


def test_the_default_seasonal_period_is_a_day_cut_to_the_training_split(tiny, caplog) -> None:
    """Issue 16.8: ``period: null`` is one day of steps, at most the training split (said in the log),
    so ``trainer=smoke`` runs it; an explicit period too long stays an error (above)."""
    with caplog.at_level("INFO", logger="sweepcast.models.seasonal_naive"):
        default = forecast({"name": "seasonal_naive", "period": None}, tiny)
    assert np.array_equal(default, forecast({"name": "seasonal_naive", "period": 18}, tiny))
    assert "one day is 1440 steps, more than the training split's 18 rows; using 18" in caplog.text


def test_a_period_can_be_a_duration_in_the_datas_steps(tiny) -> None:
    """Issue 14.8: model.period=5min on one-minute rows is 5 rows; a duration off the step is refused."""
    assert np.array_equal(forecast({"name": "seasonal_naive", "period": "5min"}, tiny),
                          forecast({"name": "seasonal_naive", "period": 5}, tiny))
    with pytest.raises(ConfigError, match=r"model.period.*whole number of the data's 0 days 00:01:00 steps"):
        forecast({"name": "seasonal_naive", "period": "90s"}, tiny)
    with pytest.raises(ConfigError, match="model.period"):
        validate_model({"name": "seasonal_naive", "period": "weekly"})
