"""ETS (Holt-Winters exponential smoothing): the statistical baseline forecasters know, from statsmodels.

Fitted once on the training split (smoothing and damping estimated by statsmodels, heuristic
initial states), then run with those fixed parameters over the whole series so that every
validation and test window is forecast from the states after its own last row: the same
windows, the same rows as every other family, without refitting per window. A state at row
``t`` depends only on rows up to ``t``, so nothing leaks from later rows.

The forecast ``k`` steps after the last observed row ``t`` is
``level[t] + (phi + ... + phi**k) * trend[t] + season[t + k - m * ceil(k / m)]`` (additive trend,
damped by ``phi``, additive season of ``m`` rows; Hyndman & Athanasopoulos, FPP3 8.3);
``tests/test_ets.py`` checks it against statsmodels' own ``forecast`` at the training split's end.

``period: null`` is one day of the data's steps (like seasonal naive); a duration (``7D``)
becomes a whole number of the data's steps. Seasonality needs two
full periods in the training split: with the default period and a shorter split (a smoke run's
1,400 one-minute rows) the season is dropped and the log says so; an explicit period that does
not fit is an error.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from sweepcast import checks
from sweepcast.errors import ConfigError
from sweepcast.models.baselines import series
from sweepcast.models.seasonal_naive import one_day, period_rows, period_value
from sweepcast.models.spec import check_keys

if TYPE_CHECKING:
    from sweepcast.data.pipeline import PreparedData

log = logging.getLogger(__name__)

KIND = "baseline"
KEYS = ("name", "period", "trend", "damped", "seasonal")
COMPONENTS = ("add", None)  # additive only: counts and rates reach zero, where multiplicative forms break


def validate(spec: Mapping[str, Any]) -> dict[str, Any]:
    check_keys(spec, KEYS)
    period = period_value(spec)
    for key in ("trend", "seasonal"):
        if spec.get(key, "add") not in COMPONENTS:
            raise ConfigError(f"model.{key}", "add or null", spec.get(key))
    if isinstance(period, int) and period < 2 and spec.get("seasonal", "add"):
        raise ConfigError("model.period", "at least 2 rows for a seasonal ETS (or model.seasonal=null)", period)
    return {"period": period, "trend": spec.get("trend", "add"),
            "damped": checks.boolean("model.damped", spec.get("damped", True)),
            "seasonal": spec.get("seasonal", "add")}


class ETS:
    def __init__(self, period: int | str | None, trend: str | None, damped: bool, seasonal: str | None) -> None:
        self.period, self.trend, self.damped, self.seasonal = period, trend, damped and trend is not None, seasonal
        self.states: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # level, trend, season per row
        self.phi = 1.0

    def fit(self, data: "PreparedData", seed: int) -> dict[str, float]:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing  # here, not at the top: statsmodels takes a second

        values = series(data)
        start, stop = data.bounds["train"]
        train = values[start:stop]
        period = self.season_length(data, len(train))
        shape = {"trend": self.trend, "damped_trend": self.damped, "seasonal": self.seasonal if period else None,
                 "seasonal_periods": period}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # statsmodels' ConvergenceWarning: the fit is scored like any other
            fitted = ExponentialSmoothing(train, initialization_method="heuristic", **shape).fit(use_brute=False)
            p = fitted.params
            # the same parameters and initial states over the whole series: the states after each row
            whole = ExponentialSmoothing(values[start:], initialization_method="known", initial_level=p["initial_level"],
                                         initial_trend=p["initial_trend"] if self.trend else None,
                                         initial_seasonal=p["initial_seasons"] if period else None, **shape).fit(
                smoothing_level=p["smoothing_level"], smoothing_trend=p["smoothing_trend"] if self.trend else None,
                smoothing_seasonal=p["smoothing_seasonal"] if period else None,
                damping_trend=p["damping_trend"] if self.damped else None, optimized=False)
        pad = np.full(start, np.nan)  # rows before the training split have no state
        zeros = np.zeros(len(values) - start)
        self.states = (np.concatenate([pad, np.asarray(whole.level)]),
                       np.concatenate([pad, np.asarray(whole.trend) if self.trend else zeros]),
                       np.concatenate([pad, np.asarray(whole.season) if period else zeros]))
        self.period, self.phi = period, float(p["damping_trend"]) if self.damped else 1.0
        return {"period": float(period or 0), "ets_alpha": float(p["smoothing_level"]),
                **({"ets_beta": float(p["smoothing_trend"])} if self.trend else {}),
                **({"ets_gamma": float(p["smoothing_seasonal"])} if period else {}),
                **({"ets_phi": self.phi} if self.damped else {})}

    def season_length(self, data: "PreparedData", train: int) -> int | None:
        """The seasonal period in rows, or None for no season (said in the log when dropped)."""
        if not self.seasonal:
            return None
        if self.period is not None:
            self.period = period_rows(self.period, data)
            if self.period < 2:
                raise ConfigError("model.period", "at least 2 rows for a seasonal ETS (or model.seasonal=null)",
                                  self.period)
            if 2 * self.period > train:
                raise ConfigError("model.period", f"at most half the training split's {train} rows (two seasons "
                                  "to estimate one), or model.seasonal=null", self.period)
            return self.period
        period, step = one_day(data)
        if 2 * period > train or period < 2:
            log.info("model.period: the training split's %d rows hold fewer than two days of %s steps (%d each); "
                     "ETS without a season", train, step, period)
            return None
        log.info("model.period: one day of %s steps = %d", step, period)
        return period

    def predict(self, data: "PreparedData", split: str) -> np.ndarray:
        if self.states is None:
            raise RuntimeError("ETS.predict before fit")
        level, trend, season = self.states
        origin = data.target_rows(split) - 1  # each window's last observed row
        steps = np.arange(1, data.horizon + 1)
        damping = np.cumsum(self.phi ** steps)
        forecast = level[origin, None] + damping[None, :] * trend[origin, None]
        if self.period:
            back = self.period * np.ceil(steps / self.period).astype(int)
            forecast = forecast + season[origin[:, None] + steps[None, :] - back[None, :]]
        return forecast


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], outputs: int = 1) -> ETS:
    return ETS(**validate(spec))
