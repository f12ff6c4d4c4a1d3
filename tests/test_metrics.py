"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sweepcast.metrics import forecast_metrics, mae, per_step, r2, rmse, skill, smape


def test_values_by_hand() -> None:
    y, p = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 8.0])
    assert rmse(y, p) == pytest.approx(2.0)
    assert mae(y, p) == pytest.approx(1.0)
    assert r2(y, p) == pytest.approx(1 - 16 / 5)
    assert smape(y, p) == pytest.approx(100 * (2 * 4 / 12) / 4)


def test_smape_counts_zero_zero_as_perfect() -> None:
    assert smape(np.array([0.0, 0.0, 2.0]), np.array([0.0, 1.0, 2.0])) == pytest.approx(200 / 3)


def test_r2_undefined_for_constant_truth() -> None:
    assert math.isnan(r2(np.ones(5), np.zeros(5)))


def test_skill() -> None:
    assert skill(1.0, 4.0) == pytest.approx(0.75)
    assert skill(5.0, 4.0) == pytest.approx(-0.25)
    assert math.isnan(skill(1.0, 0.0))


def test_prefixed_names() -> None:
    assert set(forecast_metrics(np.arange(3.0), np.arange(3.0), "test")) == {"test_rmse", "test_mae", "test_r2", "test_smape"}


def test_multi_step_metrics_pool_every_value_and_per_step_splits_them() -> None:
    truth = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    forecast = truth + np.array([[0.0, 2.0], [0.0, 2.0], [0.0, 2.0]])  # step 1 exact, step 2 off by 2
    assert rmse(truth, forecast) == pytest.approx(np.sqrt(2.0))  # not the mean of per-step RMSEs (1.0)
    steps = per_step(truth, forecast)
    assert steps["rmse"] == [0.0, 2.0] and steps["mae"] == [0.0, 2.0]
    assert forecast_metrics(truth, forecast, "test")["test_rmse"] == pytest.approx(np.sqrt(np.mean(np.square(steps["rmse"]))))
