"""Rolling-origin backtests (issue 14.1): folds on a tiny hand-made series never leak (scalers fit
per fold, no target across a cut), bad settings fail before data loads, and a run logs the folds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sweepcast.data.backtest import BacktestSpec, backtest_spec, fold_bounds, fold_data
from sweepcast.data.pipeline import prepare
from sweepcast.errors import ConfigError, DataError
from tests.test_train_e2e import assert_ok, runs, train

VALUES = np.arange(100.0) ** 1.5  # rising: a scaler fit on later rows would show in its maximum


def tiny(tmp_path: Path, folds: int | None, mode: str = "expanding", timestep: int = 4, horizon: int = 2):
    """100 rows: train 0-59, val 60-74, test 75-99."""
    path = tmp_path / "s.csv"
    pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=100, freq="1h"), "value": VALUES}).to_csv(
        path, index=False)
    return prepare({"source": "csv_series", "path": str(path), "target": "value", "timestep": timestep,
                    "horizon": horizon, "split": {"train": 0.6, "val": 0.15},
                    "backtest": {"folds": folds, "mode": mode},
                    "clean": {"freq": "infer", "fill_value": None, "nan": "interpolate"}})


@pytest.mark.parametrize("mode", ["expanding", "sliding"])
def test_folds_are_chronological_blocks_ending_at_the_validation_split(tmp_path: Path, mode: str) -> None:
    data = tiny(tmp_path, 3, mode)
    folds = fold_bounds(data.bounds, data.settings.backtest)
    assert [f.val for f in folds] == [(30, 45), (45, 60), (60, 75)]
    expected = [(0, 30), (0, 45), (0, 60)] if mode == "expanding" else [(0, 30), (15, 45), (30, 60)]
    assert [f.train for f in folds] == expected
    assert folds[-1].train == data.bounds.train or mode == "sliding"  # expanding: the last fold is the run's split


def test_each_fold_scales_on_its_own_training_rows_and_no_target_crosses_a_cut(tmp_path: Path) -> None:
    data = tiny(tmp_path, 3)
    for bounds in fold_bounds(data.bounds, data.settings.backtest):
        fold = fold_data(data, bounds)
        start, stop = bounds.train
        assert fold.target_scaler.data_max_[0] == VALUES[stop - 1] and fold.target_scaler.data_min_[0] == VALUES[start]
        truth = fold.target_matrix("val")
        assert truth[0, 0] == VALUES[bounds.val[0]] and truth[-1, -1] == VALUES[bounds.val[1] - 1]
        for split in ("train", "val"):
            for x, y in fold.dataset(split, batch_size=64):
                target = fold.target_scaler.inverse_transform(y.numpy().reshape(-1, 1))
                lo, hi = bounds[split]
                assert target.min() >= VALUES[lo] - 1e-3 and target.max() <= VALUES[hi - 1] + 1e-3
                window = fold.input_scaler.inverse_transform(x.numpy().reshape(-1, 1))
                assert window.max() < VALUES[hi - 1] + 1e-3  # inputs never read a row the fold has not seen
    assert np.array_equal(data.inputs, tiny(tmp_path, None).inputs)  # the run's own scaling is untouched


@pytest.mark.parametrize(("cfg", "key"), [({"folds": 1}, "data.backtest.folds"), ({"folds": "3"}, "data.backtest.folds"),
                                          ({"folds": 3, "mode": "rolling"}, "data.backtest.mode"),
                                          ({"folds": 3, "gap": 1}, "data.backtest.gap")])
def test_bad_backtest_settings_name_their_key_before_data(cfg: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        backtest_spec(cfg)
    assert backtest_spec({"folds": None}) is None and backtest_spec({"folds": 2}) == BacktestSpec(2, "expanding")


def test_folds_that_leave_fold_one_no_window_are_refused_before_any_run(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data.backtest.folds=5 leaves fold 1 0 training rows"):
        tiny(tmp_path, 5)
    tiny(tmp_path, 4)  # 60 - 3 * 15 = 15 rows: a window of 4 + 2 fits


@pytest.mark.slow
def test_a_run_logs_each_fold_and_a_sweep_selects_and_prunes_on_cv_val_rmse(tmp_path: Path) -> None:
    import mlflow

    (tmp_path / "one").mkdir()
    done = train(tmp_path / "one", "trainer=smoke", "model=persistence", "data.backtest.folds=3")
    assert_ok(done)
    (run,) = runs(tmp_path / "one")
    metrics = run.data.metrics
    store = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'one' / 'mlruns' / 'mlflow.db'}")
    curve = [m.value for m in sorted(store.get_metric_history(run.info.run_id, "cv_val_rmse_by_fold"),
                                     key=lambda m: m.step)]
    assert len(curve) == 3 and curve[-1] == pytest.approx(metrics["val_rmse"])  # expanding: fold 3 is the run's split
    assert metrics["cv_val_rmse"] == pytest.approx(np.mean(curve)) and metrics["cv_val_rmse_std"] > 0
    log = done.stdout + done.stderr
    assert "fold 1/3 (expanding)" in log and "rows 800-1099" in log

    (tmp_path / "sweep").mkdir()
    sweep = train(tmp_path / "sweep", "-m", "trainer=smoke", "model=persistence,moving_average", "data.backtest.folds=3",
                  "optimized_metric=cv_val_rmse", "+hydra.sweeper.pruner._target_=optuna.pruners.ThresholdPruner",
                  "+hydra.sweeper.pruner.upper=0.0", timeout=600)
    assert_ok(sweep)
    trials = [r for r in runs(tmp_path / "sweep") if "model.name" in r.data.params]
    assert len(trials) == 2 and all("cv_val_rmse" not in r.data.metrics for r in trials)  # pruned after fold 1
    assert "2 pruned" in sweep.stdout + sweep.stderr or "pruned: 2" in sweep.stdout + sweep.stderr
