"""Check-in windows: per-user, never crossing users, split by time or user, train-only scalers,
the last-check-in baseline and the check-in metrics, against values worked out by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from sweepcast.data.checkins import haversine_km, write_snap
from sweepcast.data.trajectories import CheckinData, CheckinSettings, prepare_checkins
from sweepcast.errors import ConfigError, DataError
from sweepcast.metrics import checkin_metrics
from sweepcast.models.last_checkin import LastCheckin
from sweepcast.tasks import prepare
from tests.conftest import ROOT

NO_FILTERS = {"bbox": None, "max_speed_kmh": None, "stay_meters": None, "stay_minutes": None, "min_checkins": 1}


def config(**changes: Any) -> dict[str, Any]:
    cfg = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "data" / "checkins.yaml"))
    for key, value in changes.items():
        node = cfg
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return cfg


@pytest.fixture(scope="module")
def synthetic() -> CheckinData:
    return prepare_checkins(config(**{"synthetic.users": 60}))


def crafted(tmp_path: Path, users: dict[int, int], hours: float = 5.0) -> Path:
    """``users[u]`` check-ins per user, ``hours`` apart, walking north 0.01 degrees at a time."""
    rows = []
    for user, count in users.items():
        for i in range(count):
            rows.append({"user": user, "time": pd.Timestamp("2010-01-01") + pd.Timedelta(hours=hours * i + user),
                         "lat": 40.6 + 0.01 * i, "lon": -73.9 + 0.001 * user, "location": 100 * user + i})
    return write_snap(pd.DataFrame(rows), tmp_path / "crafted.txt")


def test_windows_never_cross_users(synthetic: CheckinData) -> None:
    users = synthetic.frame["user"].to_numpy()
    for split in ("train", "val", "test"):
        rows = synthetic.target_rows(split)
        assert len(rows) > 0
        window_users = users[rows[:, None] - synthetic.timestep + np.arange(synthetic.timestep + 1)[None, :]]
        assert (window_users == window_users[:, :1]).all(), split


def test_min_history_scores_every_timestep_on_the_same_checkins() -> None:
    """Issue 14.7: with the sweep's largest timestep as min_history, validation and test rows do not
    depend on the trial's timestep; training rows still use all a small timestep can reach."""
    short, long = (prepare_checkins(config(**{"synthetic.users": 60, "timestep": ts, "min_history": 12}))
                   for ts in (3, 12))
    for split in ("val", "test"):
        assert np.array_equal(short.target_rows(split), long.target_rows(split)), split
        position = short.frame.groupby("user", sort=False).cumcount().to_numpy()
        assert position[short.target_rows(split)].min() >= 12
    assert len(short.target_rows("train")) > len(long.target_rows("train"))
    alone = prepare_checkins(config(**{"synthetic.users": 60, "timestep": 3}))
    assert len(alone.target_rows("test")) > len(short.target_rows("test"))  # the default: the timestep's own rows


def test_time_split_puts_every_test_target_after_every_train_target(synthetic: CheckinData) -> None:
    times = synthetic.frame["time"]
    assert times.iloc[synthetic.target_rows("train")].max() <= times.iloc[synthetic.target_rows("val")].min()
    assert times.iloc[synthetic.target_rows("val")].max() <= times.iloc[synthetic.target_rows("test")].min()
    share = (synthetic.frame["split"] == 0).mean()
    assert share == pytest.approx(0.7, abs=0.01)


def test_user_split_keeps_each_user_in_one_split() -> None:
    data = prepare_checkins(config(**{"synthetic.users": 60, "split.by": "user"}))
    splits_per_user = data.frame.groupby("user")["split"].nunique()
    assert (splits_per_user == 1).all()
    users = {name: set(data.frame["user"].iloc[data.target_rows(name)]) for name in ("train", "val", "test")}
    assert not (users["train"] & users["test"]) and not (users["train"] & users["val"])
    assert len(users["train"]) == pytest.approx(0.7 * 60, abs=2)


def test_scalers_are_fit_on_training_checkins_only(synthetic: CheckinData) -> None:
    train = synthetic.frame[synthetic.frame["split"] == 0]
    assert synthetic.input_scaler.data_min_ == pytest.approx(train[synthetic.features].min().to_numpy())
    assert synthetic.target_scaler.data_max_ == pytest.approx(train[["dt", "lat", "lon"]].max().to_numpy())
    assert synthetic.frame[synthetic.features].max().max() > train[synthetic.features].max().max() - 1e-9


def test_features_targets_and_the_round_trip(tmp_path: Path) -> None:
    data = prepare_checkins(config(path=str(crafted(tmp_path, {0: 30, 1: 30})), clean=NO_FILTERS, timestep=4))
    # each user's first check-in has no gap and is not modelled: 29 rows per user
    assert len(data.frame) == 58 and data.frame["dt_hours"].to_numpy() == pytest.approx(np.full(58, 5.0))
    assert data.frame["dt"].to_numpy() == pytest.approx(np.log1p(np.full(58, 5.0)))
    truth = data.target_matrix("test")
    assert truth[:, 0] == pytest.approx(5.0)
    assert data.inverse_target(data.scale_target(truth)) == pytest.approx(truth)
    assert data.windows("train").shape == (data.window_count("train"), 4, 3)


def test_hour_of_week_is_local_time_and_friends_come_from_edges(tmp_path: Path) -> None:
    edges = tmp_path / "edges.txt"
    edges.write_text("0\t1\n1\t0\n0\t7\n7\t0\n")  # user 0: two friends, user 1: one
    data = prepare_checkins(config(path=str(crafted(tmp_path, {0: 30, 1: 30})), clean=NO_FILTERS, timestep=4,
                                   hour_of_week=True, edges=str(edges)))
    assert data.features == ["dt", "lat", "lon", "hour_of_week", "friends"]
    first = data.frame.iloc[0]  # user 0's second check-in: Friday 2010-01-01 05:00 UTC = 00:00 in New York
    assert first["hour_of_week"] == 4 * 24 + 0  # Monday 00:00 is 0
    friends = data.frame.groupby("user")["friends"].first()
    assert friends.to_dict() == pytest.approx({0: np.log1p(2), 1: np.log1p(1)})


def test_users_too_short_for_the_timestep_are_one_clear_error(tmp_path: Path) -> None:
    path = crafted(tmp_path, {0: 8, 1: 9})
    with pytest.raises(DataError, match=r"data.timestep=10 leaves no window in the train split.*longest user has 8"):
        prepare_checkins(config(path=str(path), clean=NO_FILTERS, timestep=10))


@pytest.mark.parametrize(("changes", "key"), [
    ({"split.by": "random"}, "data.split.by"),
    ({"split.val": 0.4}, "data.split.val"),
    ({"split.shuffle": True}, "data.split.shuffle"),
    ({"dt_log": "yes"}, "data.dt_log"),
    ({"timezone": "Mars/Olympus"}, "data.timezone"),
    ({"bad_rows": "ignore"}, "data.bad_rows"),
    ({"min_history": 0}, "data.min_history"),
])
def test_bad_checkin_settings_name_their_key(changes: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        CheckinSettings.from_config(config(**changes))


def test_horizon_beyond_one_is_refused_before_loading() -> None:
    with pytest.raises(ConfigError, match="data.horizon"):
        prepare(config(horizon=3, path="/nonexistent.txt"))


def test_last_checkin_baseline_by_hand(tmp_path: Path) -> None:
    data = prepare_checkins(config(path=str(crafted(tmp_path, {0: 40, 1: 40})), clean=NO_FILTERS, timestep=3))
    baseline = LastCheckin()
    baseline.fit(data, 0)
    forecast = baseline.predict(data, "test")
    rows = data.target_rows("test")
    # the place of the window's last check-in, after the user's median training gap (5 h)
    assert forecast[:, 1] == pytest.approx(data.frame["lat"].to_numpy()[rows - 1])
    assert forecast[:, 2] == pytest.approx(data.frame["lon"].to_numpy()[rows - 1])
    assert forecast[:, 0] == pytest.approx(5.0)
    assert np.abs(forecast[:, 1] - data.target_matrix("test")[:, 1]) == pytest.approx(0.01)  # one step behind


def test_last_checkin_uses_the_windows_gaps_for_users_without_training_checkins(tmp_path: Path) -> None:
    data = prepare_checkins(config(path=str(crafted(tmp_path, {u: 30 for u in range(10)})), clean=NO_FILTERS,
                                   timestep=3, **{"split.by": "user"}))
    baseline = LastCheckin()
    baseline.fit(data, 0)
    assert baseline.predict(data, "test")[:, 0] == pytest.approx(5.0)  # test users have no training gaps


def test_checkin_metrics_against_hand_values() -> None:
    true = np.array([[1.0, 40.0, -74.0], [2.0, 40.0, -74.0]])
    pred = np.array([[1.5, 41.0, -74.0], [2.0, 40.0, -74.0]])  # one miss of one degree north, 30 min late
    scaled_true = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    scaled_pred = np.array([[0.3, 0.0, 0.0], [1.0, 0.6, 1.0]])
    scores = checkin_metrics(true, pred, scaled_true, scaled_pred, "test")
    assert scores["test_km_median"] == pytest.approx(111.19 / 2, abs=0.01)
    assert scores["test_km_mean"] == pytest.approx(111.19 / 2, abs=0.01)
    assert scores["test_dt_minutes_mae"] == pytest.approx(15.0)
    assert scores["test_rmse"] == pytest.approx(np.sqrt((0.09 + 0.16) / 6))  # pooled over the three values
    assert scores["test_rmse_lat"] == pytest.approx(np.sqrt(0.16 / 2))
    r2 = [1 - 0.09 / 0.5, 1 - 0.16 / 0.5, 1.0]  # mean over the three columns, as the study reported R²
    assert scores["test_r2"] == pytest.approx(np.mean(r2))
    assert haversine_km(np.array([40.0]), np.array([-74.0]), np.array([41.0]), np.array([-74.0]))[0] == \
        pytest.approx(111.19, abs=0.01)


def test_dataset_batches_match_the_windows(synthetic: CheckinData) -> None:
    batch_x, batch_y = next(iter(synthetic.dataset("val", 64)))
    assert batch_x.shape == (64, synthetic.timestep, 3) and batch_y.shape == (64, 3)
    assert batch_x.numpy() == pytest.approx(synthetic.windows("val")[:64])
    assert batch_y.numpy() == pytest.approx(synthetic.scaled_targets("val")[:64])


def test_max_points_keeps_whole_users_first(synthetic: CheckinData) -> None:
    data = prepare_checkins(config(**{"synthetic.users": 60}), max_points=1500)
    assert len(data.frame) <= 1500 and data.frame["user"].min() == 0


def test_a_user_split_with_too_few_users_says_which_split_is_empty(tmp_path: Path) -> None:
    path = crafted(tmp_path, {0: 30, 1: 30, 2: 30})  # 3 users: 70 / 15 / 15 % gives 2 / 1 / 0
    with pytest.raises(DataError, match=r"the test split holds no check-ins \(3 users"):
        prepare_checkins(config(path=str(path), clean=NO_FILTERS, timestep=3, **{"split.by": "user"}))


def test_forecast_gaps_are_never_negative_and_capped(synthetic: CheckinData) -> None:
    from sweepcast.data.trajectories import MAX_GAP_HOURS

    values = synthetic.inverse_target(np.array([[-5.0, 0.5, 0.5], [1e6, 0.5, 0.5]]))
    assert values[0, 0] == 0.0 and values[1, 0] == MAX_GAP_HOURS
