"""Prediction intervals for an exported series model: split-conformal, per horizon step.

``export --intervals 0.8,0.95`` forecasts the run's validation windows (through the same model
the export ships, refit GBDTs and ensembles included), and takes for each horizon step ``h`` and
level ``a`` the conformal quantile of the absolute errors in original units: the
``ceil((n + 1) a)``-th smallest of the ``n`` validation errors at that step (Vovk et al.; the
finite-sample rule of Angelopoulos & Bates, "A Gentle Introduction to Conformal Prediction",
2021). The exported model then answers ``lo_80`` / ``hi_80`` / ... beside each forecast: the
forecast minus / plus that radius. Under exchangeability of validation and future errors,
each step's interval covers with probability at least ``a``. A time series is not exchangeable,
so the export measures what it actually does: the share of **test** targets inside, per level,
logged as ``test_coverage_80`` and stated in the model card. Why split conformal and not a
model's own quantiles: it needs no retraining, works for every family alike (networks, GBDT,
ensembles), and its guarantee does not rest on the model being right.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from sweepcast.errors import SweepcastError
from sweepcast.models.recursive import recursive_forecast

FILE = "intervals.json"


def parse_levels(text: str | None) -> list[float]:
    """``"0.8,0.95"`` -> ``[0.8, 0.95]``: each strictly between 0 and 1, sorted, no repeats."""
    if text is None:
        return []
    levels = []
    for part in text.split(","):
        try:
            level = float(part)
        except ValueError:
            level = math.nan
        if not 0 < level < 1:
            raise SweepcastError(f"--intervals: expected levels strictly between 0 and 1 such as 0.8,0.95, got "
                                 f"{part.strip()!r}")
        levels.append(level)
    return sorted(set(levels))


def label(level: float) -> str:
    """0.8 -> "80", 0.975 -> "97.5": the suffix of ``lo_80`` and ``test_coverage_80``."""
    return f"{100 * level:g}"


def forecasts(predict: Callable[[np.ndarray], Any], data: Any, split: str) -> np.ndarray:
    """``[windows, horizon]`` forecasts in original units of a scaled-windows predictor (a shipped
    member), as training scored them: direct, or one-step fed back."""
    if data.task.outputs < data.horizon:
        return recursive_forecast(lambda windows: np.asarray(predict(windows)), data, split)
    return data.inverse_target(np.asarray(predict(data.windows(split))).reshape(data.window_count(split), -1))


def conformal_rank(n: int, level: float) -> int:
    """``ceil((n + 1) * level)``, exact for decimal levels (0.55 * 100 is 55.000000000000007 in floats)."""
    return math.ceil(Fraction(str(level)) * (n + 1))


def calibrate(errors: np.ndarray, levels: Sequence[float]) -> dict[str, list[float]]:
    """Per level, the conformal radius of each horizon step from ``[windows, horizon]`` absolute errors."""
    n = len(errors)
    radii: dict[str, list[float]] = {}
    for level in levels:
        rank = conformal_rank(n, level)
        if rank > n:
            raise SweepcastError(f"--intervals {level:g}: {n} validation windows are too few for it (needs at "
                                 f"least {math.ceil(level / (1 - level) - 1e-9)}); lower the level or give the run "
                                 "more validation data")
        radii[label(level)] = np.sort(errors, axis=0)[rank - 1].astype(float).tolist()
    return radii


def coverage(truth: np.ndarray, forecast: np.ndarray, radii: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """``test_coverage_<level>``: the share of (window, step) targets inside each interval."""
    found = {}
    for name, radius in radii.items():
        inside = np.abs(truth - forecast) <= np.asarray(radius)[None, :]
        found[f"test_coverage_{name}"] = float(np.mean(inside))
    return found


def add_columns(answer: pd.DataFrame, target: str, radii: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """``lo_<level>`` and ``hi_<level>`` beside each step's forecast (``step`` is 1-based)."""
    steps = answer["step"].to_numpy(dtype=int) - 1
    out = answer.copy()
    for name, radius in radii.items():
        widths = np.asarray(radius, dtype=float)
        if steps.max(initial=0) >= len(widths):
            raise SweepcastError(f"horizon: intervals were calibrated for {len(widths)} step(s); ask for at most "
                                 f"{len(widths)}")
        out[f"lo_{name}"] = out[target].to_numpy(dtype=float) - widths[steps]
        out[f"hi_{name}"] = out[target].to_numpy(dtype=float) + widths[steps]
    return out


def card_lines(coverage: Mapping[str, float]) -> list[str]:
    """The model card's section on the intervals (none without them)."""
    if not coverage:
        return []
    lines = ["## Prediction intervals", "",
             "Split-conformal, per horizon step, calibrated on the validation windows' absolute errors (original "
             "units): the answer's `lo_<level>` and `hi_<level>` columns. Measured on the test windows:", "",
             "| level | test coverage |", "|---:|---:|"]
    lines += [f"| {key.removeprefix('test_coverage_')} % | {100 * value:.1f} % |" for key, value in coverage.items()]
    return lines + ["", "A series is not exchangeable: a coverage below the level means the test period's errors "
                        "were larger than validation's.", ""]
