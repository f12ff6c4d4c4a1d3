"""Split-conformal intervals (sweepcast.export.intervals) on hand-made errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sweepcast.errors import SweepcastError
from sweepcast.export.intervals import add_columns, calibrate, coverage, parse_levels


def test_levels_are_parsed_sorted_and_bad_ones_named() -> None:
    assert parse_levels("0.95,0.8,0.8") == [0.8, 0.95] and parse_levels(None) == []
    for bad in ("0.8,1", "0", "eighty", "0.8,"):
        with pytest.raises(SweepcastError, match="--intervals: expected levels strictly between 0 and 1"):
            parse_levels(bad)


def test_the_radius_is_the_finite_sample_conformal_quantile_per_step() -> None:
    errors = np.column_stack([np.arange(1, 20, dtype=float), 10 * np.arange(1, 20, dtype=float)])  # n = 19
    radii = calibrate(errors, [0.5, 0.9])
    assert radii == {"50": [10.0, 100.0], "90": [18.0, 180.0]}  # ceil(20 * 0.5) = 10th, ceil(20 * 0.9) = 18th
    with pytest.raises(SweepcastError, match="too few"):
        calibrate(errors, [0.99])  # ceil(20 * 0.99) = 20 > 19 windows
    truth, forecast = np.zeros((4, 2)), np.array([[5.0, 50.0], [11.0, 99.0], [9.0, 101.0], [0.0, 0.0]])
    assert coverage(truth, forecast, {"50": [10.0, 100.0]}) == {"test_coverage_50": 6 / 8}


def test_columns_are_the_forecast_minus_and_plus_each_steps_radius() -> None:
    answer = pd.DataFrame({"timestamp": ["a", "b"], "step": [1, 2], "y": [3.0, 4.0]})
    out = add_columns(answer, "y", {"80": [1.0, 2.0]})
    assert out["lo_80"].tolist() == [2.0, 2.0] and out["hi_80"].tolist() == [4.0, 6.0]
    with pytest.raises(SweepcastError, match="calibrated for 1 step"):
        add_columns(answer, "y", {"80": [1.0]})


def test_the_rank_is_exact_for_decimal_levels() -> None:
    from sweepcast.export.intervals import conformal_rank

    assert conformal_rank(99, 0.55) == 55 and conformal_rank(99, 0.81) == 81 and conformal_rank(19, 0.9) == 18
    errors = np.arange(1, 100, dtype=float)[:, None]
    assert calibrate(errors, [0.55]) == {"55": [55.0]}
