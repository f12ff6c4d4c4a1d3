"""Rolling-origin backtests: ``data.backtest.folds`` chronological train/validation cuts before the test split.

Fold ``k`` of ``K`` validates on the ``k``-th of ``K`` consecutive blocks, each as long as the
validation split, ending where the validation split ends: the last fold *is* the usual
validation split. Its training part is every row before the block (``expanding``, the default)
or the ``W`` rows before it (``sliding``), where ``W`` is what the first fold has: the training
split minus ``K - 1`` blocks, so every fold trains on as much as fold 1 can. Each fold's scalers
are fit on its own training part only; validation windows read history from the rows before
their block, and no target crosses a cut. The test split is never touched.

In ``expanding`` mode the last fold is exactly the run's final fit (same rows, same scalers), so
a run costs ``K`` fits, not ``K + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Mapping

from sweepcast import checks
from sweepcast.data.scalers import fit_scaled
from sweepcast.data.splits import SplitBounds
from sweepcast.data.transforms import model_values
from sweepcast.data.windows import window_count
from sweepcast.errors import ConfigError, DataError

if TYPE_CHECKING:
    from sweepcast.data.pipeline import PreparedData
    from sweepcast.data.windows import ForecastTask

MODES = ("expanding", "sliding")
KEYS = ("folds", "mode")


@dataclass(frozen=True)
class BacktestSpec:
    folds: int
    mode: str = "expanding"

    @property
    def reuses_final_fit(self) -> bool:
        """The last expanding fold is the run's own train/validation split."""
        return self.mode == "expanding"


def backtest_spec(cfg: Mapping[str, Any] | None) -> BacktestSpec | None:
    """``data.backtest`` checked without data: off (``folds: null``) or at least 2 folds."""
    cfg = cfg or {}
    checks.known_keys("data.backtest", cfg, KEYS)
    folds = checks.integer("data.backtest.folds", cfg.get("folds"), 2, optional=True,
                           hint=" (rolling-origin folds; null turns backtesting off)")
    mode = checks.choice("data.backtest.mode", cfg.get("mode", "expanding"), MODES)
    return None if folds is None else BacktestSpec(folds, mode)


def fold_bounds(bounds: SplitBounds, spec: BacktestSpec) -> list[SplitBounds]:
    """Each fold's (train, val) rows; its ``test`` is its ``val`` (a fold is never tested)."""
    block, end = bounds.length("val"), bounds.val[1]
    first_train = bounds.length("train") - (spec.folds - 1) * block
    folds = []
    for k in range(spec.folds):
        val = (end - (spec.folds - k) * block, end - (spec.folds - k - 1) * block)
        train = (bounds.train[0] if spec.mode == "expanding" else val[0] - first_train, val[0])
        folds.append(SplitBounds(train, val, val))
    return folds


def check_folds(bounds: SplitBounds, spec: BacktestSpec, task: "ForecastTask") -> None:
    """Fold 1 trains on the least: it must hold a window, or the run stops before it opens."""
    rows = bounds.length("train") - (spec.folds - 1) * bounds.length("val")
    if window_count(rows, task.timestep, task.horizon) < 1:
        raise DataError(
            f"data.backtest.folds={spec.folds} leaves fold 1 {max(rows, 0)} training rows (each extra fold takes "
            f"a {bounds.length('val')}-row validation block from the training split's {bounds.length('train')}), "
            f"fewer than data.timestep={task.timestep} + data.horizon={task.horizon}; use fewer folds, a smaller "
            "timestep or more data"
        )


def fold_data(data: "PreparedData", bounds: SplitBounds) -> "PreparedData":
    """``data`` cut to one fold: its bounds, and scalers refit on the fold's training rows."""
    input_values, target_values = model_values(data.frame, data.features, data.target, data.settings.transform,
                                               data.source)
    input_scaler, inputs = fit_scaled(data.settings.scaler, input_values, bounds.train)
    target_scaler, targets = fit_scaled(data.settings.scaler, target_values, bounds.train)
    return replace(data, bounds=bounds, input_scaler=input_scaler, target_scaler=target_scaler, inputs=inputs,
                   targets=targets.ravel())


def needs_backtest(metric: str, spec: BacktestSpec | None) -> None:
    """``optimized_metric: cv_*`` only exists with folds."""
    if metric.startswith("cv_") and spec is None:
        raise ConfigError("optimized_metric", "a metric every run logs; cv_val_rmse needs data.backtest.folds >= 2",
                          metric)
