"""Splits, train-only scaling, and window datasets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sweepcast.data.pipeline import prepare
from sweepcast.data.scalers import scaler_from_state, scaler_state
from sweepcast.data.splits import split_bounds
from sweepcast.data.windows import ForecastTask, check_windows, window_count, window_dataset
from sweepcast.errors import ConfigError, DataError
from sweepcast.tasks import forecast_task


def write_series(path, values) -> str:
    stamps = pd.date_range("2021-01-01", periods=len(values), freq="1h")
    pd.DataFrame({"timestamp": stamps, "value": values}).to_csv(path, index=False)
    return str(path)


def series_cfg(path: str, timestep: int = 5, scaler: str = "minmax", horizon: int = 1) -> dict:
    return {
        "name": "t", "source": "csv_series", "path": path, "target": "value", "features": None,
        "timestep": timestep, "horizon": horizon, "scaler": scaler, "split": {"train": 0.6, "val": 0.2},
        "clean": {"nan": "interpolate", "freq": "infer", "fill_value": None},
    }


def test_split_bounds_are_chronological_and_cover_everything() -> None:
    b = split_bounds(100, {"train": 0.7, "val": 0.15})
    assert (b.train, b.val, b.test) == ((0, 70), (70, 85), (85, 100))


@pytest.mark.parametrize(("fractions", "key"), [({"train": 1.2}, "data.split.train"), ({"train": 0.8, "val": 0.3}, "data.split.val")])
def test_bad_split_fractions(fractions: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        split_bounds(100, fractions)


def test_timestep_and_horizon_must_fit_every_split() -> None:
    """Training windows stay in the training split (70 rows); validation and test windows read
    their history from the split before, so there only the horizon must fit (15 rows)."""
    b = split_bounds(100, {"train": 0.7, "val": 0.15})
    check_windows(ForecastTask(69), b)
    check_windows(ForecastTask(10, horizon=15), b)
    with pytest.raises(DataError, match="data.timestep=70 with data.horizon=1 leaves no window in the train split"):
        check_windows(ForecastTask(70), b)
    with pytest.raises(DataError, match=r"data.horizon=16 leaves no window in the val split \(15 rows\); use a "
                                        r"horizon of at most 15"):
        check_windows(ForecastTask(1, horizon=16), b)


@pytest.mark.parametrize(("cfg", "key"), [
    ({"timestep": 0}, "data.timestep"),
    ({"timestep": 5, "horizon": 0}, "data.horizon"),
    ({"timestep": 5, "horizon": 2.5}, "data.horizon"),
    ({"timestep": 5, "horizon": True}, "data.horizon"),
    ({"timestep": 5, "strategy": "both"}, "data.strategy"),
    ({"timestep": 5, "horizon": 3, "strategy": "recursive", "target": "y", "features": ["y", "x"]}, "data.strategy"),
    ({"timestep": 5, "horizon": 3, "strategy": "recursive", "target": "y", "calendar": {"enabled": True}}, "data.strategy"),
])
def test_bad_forecast_task_names_its_key(cfg: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        forecast_task(cfg)


def test_a_calendar_that_is_not_a_mapping_is_named_before_the_strategy_check() -> None:
    with pytest.raises(ConfigError, match="data.calendar"):
        forecast_task({"timestep": 5, "horizon": 3, "strategy": "recursive", "target": "y", "calendar": True})


def test_forecast_task_outputs() -> None:
    assert forecast_task({"timestep": 5}) == ForecastTask(5, 1, "direct")
    assert forecast_task({"timestep": 5, "horizon": 10}).outputs == 10
    recursive = forecast_task({"timestep": 5, "horizon": 10, "strategy": "recursive", "target": "y", "features": ["y", "y"]})
    assert recursive.outputs == 1 and recursive.horizon == 10


def test_scaler_is_fit_on_train_only(tmp_path) -> None:
    values = np.concatenate([np.linspace(0, 10, 60), np.full(40, 1000.0)])
    data = prepare(series_cfg(write_series(tmp_path / "s.csv", values)))
    assert data.input_scaler.data_max_[0] == pytest.approx(10.0)  # the 1000s are in val/test
    assert data.split_targets("train").max() == pytest.approx(1.0)
    assert data.split_targets("test").max() == pytest.approx(100.0)


def test_scaler_state_round_trips_without_pickle(tmp_path) -> None:
    data = prepare(series_cfg(write_series(tmp_path / "s.csv", np.arange(100.0)), scaler="robust"))
    state = scaler_state(data.target_scaler)
    rebuilt = scaler_from_state(state)
    x = np.array([[3.0], [50.0]])
    assert np.allclose(rebuilt.transform(x), data.target_scaler.transform(x))


def test_window_shapes_and_targets() -> None:
    inputs = np.arange(20, dtype=np.float32).reshape(10, 2)
    targets = np.arange(10, dtype=np.float32) * 10
    batches = list(window_dataset(inputs, targets, timestep=3, batch_size=4))
    x = np.concatenate([b[0].numpy() for b in batches])
    y = np.concatenate([b[1].numpy() for b in batches])
    assert x.shape == (window_count(10, 3), 3, 2) == (7, 3, 2)
    assert y.shape == (7, 1)
    assert np.array_equal(x[0], inputs[0:3]) and y[0, 0] == 30.0
    assert np.array_equal(x[-1], inputs[6:9]) and y[-1, 0] == 90.0


def test_windows_with_a_horizon_hold_the_next_steps() -> None:
    inputs = np.arange(10, dtype=np.float32).reshape(10, 1)
    batches = list(window_dataset(inputs, inputs[:, 0] * 10, timestep=3, batch_size=4, horizon=3))
    x = np.concatenate([b[0].numpy() for b in batches])
    y = np.concatenate([b[1].numpy() for b in batches])
    assert x.shape == (window_count(10, 3, 3), 3, 1) == (5, 3, 1)
    assert y.shape == (5, 3)
    assert y[0].tolist() == [30.0, 40.0, 50.0] and y[-1].tolist() == [70.0, 80.0, 90.0]


def test_shuffled_windows_are_a_permutation() -> None:
    inputs = np.arange(50, dtype=np.float32).reshape(50, 1)
    batches = list(window_dataset(inputs, inputs[:, 0], timestep=4, batch_size=8, shuffle=True, seed=1))
    firsts = sorted(float(b) for batch in batches for b in batch[0].numpy()[:, 0, 0])
    assert firsts == [float(i) for i in range(46)]


@pytest.mark.parametrize("horizon", [1, 4])
def test_no_target_crosses_a_split(tmp_path, horizon: int) -> None:
    data = prepare(series_cfg(write_series(tmp_path / "s.csv", np.arange(100.0)), timestep=5, horizon=horizon))
    scale = data.input_scaler
    for split in ("train", "val", "test"):
        start, stop = data.bounds[split]
        first = start + data.timestep if split == "train" else start  # later splits: history from the one before
        for x, y in data.dataset(split, batch_size=16):
            raw = scale.inverse_transform(x.numpy().reshape(-1, 1)).reshape(x.shape)
            assert raw.min() >= first - data.timestep - 1e-6 and raw.max() < stop - 1
            target_raw = data.target_scaler.inverse_transform(y.numpy())
            assert target_raw.min() >= first - 1e-3 and target_raw.max() < stop  # no target crosses a cut
            assert y.shape[1] == horizon
        matrix = data.target_matrix(split)  # what metrics score: the same rows, in original units
        assert matrix.shape == (stop - first - horizon + 1, horizon)
        assert matrix[0, 0] == first and matrix[-1, -1] == stop - 1
        assert np.allclose(data.inverse_target(data.windows(split))[:, -1, 0], matrix[:, 0] - 1)


def test_unknown_scaler(tmp_path) -> None:
    with pytest.raises(ConfigError, match="data.scaler"):
        prepare(series_cfg(write_series(tmp_path / "s.csv", np.arange(100.0)), scaler="log"))


def test_every_timestep_is_scored_on_the_same_target_rows(tmp_path) -> None:
    """Issue 14.7: a sweep over data.timestep ranks trials on the same validation and test rows."""
    path = write_series(tmp_path / "s.csv", np.arange(200.0))
    matrices = {ts: {s: prepare(series_cfg(path, timestep=ts, horizon=3)).target_matrix(s) for s in ("val", "test")}
                for ts in (2, 10, 60)}
    for split in ("val", "test"):
        assert all(np.array_equal(matrices[2][split], m[split]) for m in matrices.values())
