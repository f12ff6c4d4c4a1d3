"""Gradient-boosted trees on the same windows (the livestream study's proposed GBDT comparison).

scikit-learn's ``HistGradientBoostingRegressor`` on each window flattened to ``timestep x
features`` scaled values, predicting the scaled next target; its internal early stopping is off
because it would validate on a random (leaky) sample of a time series. Trees give one output, so
a direct horizon of H fits H models (``MultiOutputRegressor``): cost grows with H, and horizons
above ``max_horizon`` are refused in favour of ``data.strategy=recursive`` (one model, fed back).

Threads: fit and predict run inside ``threadpoolctl.threadpool_limits`` at the trial's budget
(:func:`sweepcast.fitting.trial_openmp_threads`: ``trainer.intra_op_threads`` when set, else
cores // sweep workers). Unlimited, scikit-learn's OpenMP takes every core in every worker and
``n_jobs`` workers fight over them (issue 16.9; bench/README.md, "GBDT threads").
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.multioutput import MultiOutputRegressor
from threadpoolctl import threadpool_limits

from sweepcast import checks
from sweepcast.errors import ConfigError, SweepcastError
from sweepcast.fitting import trial_openmp_threads
from sweepcast.models.recursive import recursive_forecast
from sweepcast.models.spec import check_keys, non_negative, positive_int

if TYPE_CHECKING:
    from sweepcast.data.pipeline import PreparedData
    from sweepcast.data.windows import ForecastTask

log = logging.getLogger(__name__)

KIND = "baseline"
DATA_KINDS = ("series", "checkins")
KEYS = ("name", "max_iter", "learning_rate", "max_leaf_nodes", "min_samples_leaf", "l2_regularization", "max_horizon")
TREE_PARAMS = ("max_iter", "learning_rate", "max_leaf_nodes", "min_samples_leaf", "l2_regularization")
# what a fitted HistGradientBoostingRegressor holds besides estimators (skops trusts those itself)
TRUSTED = ("sklearn._loss.link.IdentityLink", "sklearn._loss.link.Interval", "sklearn._loss.loss.HalfSquaredError",
           "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
           "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor")


def validate(spec: Mapping[str, Any]) -> dict[str, Any]:
    check_keys(spec, KEYS)
    rate = checks.number("model.learning_rate", spec.get("learning_rate"), 0, 1, low_open=True)  # checked first
    return {
        "max_iter": positive_int(spec, "max_iter"),
        "learning_rate": rate,
        "max_leaf_nodes": positive_int(spec, "max_leaf_nodes", minimum=2),
        "min_samples_leaf": positive_int(spec, "min_samples_leaf"),
        "l2_regularization": non_negative(spec, "l2_regularization"),
        "max_horizon": checks.integer("model.max_horizon", spec.get("max_horizon", 24), 1),
    }


def check_task(spec: Mapping[str, Any], task: "ForecastTask") -> None:
    """A direct horizon costs one model per step: refuse more than ``max_horizon`` of them."""
    limit = spec.get("max_horizon", 24)
    if task.outputs > limit:
        raise ConfigError(
            "data.horizon", f"at most model.max_horizon={limit} for a direct GBDT (one model per step); "
            "use data.strategy=recursive or raise model.max_horizon", task.horizon,
        )


def flatten(windows: np.ndarray) -> np.ndarray:
    """``[windows, timestep, features]`` -> the trees' ``[windows, timestep * features]`` design matrix."""
    return windows.reshape(len(windows), -1)


@contextmanager
def thread_budget(threads: int) -> Iterator[int]:
    """scikit-learn's OpenMP (the trees' only threads: HistGradientBoosting has no ``n_jobs``)
    limited to ``threads`` inside, restored after."""
    with threadpool_limits(limits=threads, user_api="openmp"):
        yield threads


class GBDT:
    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.model: Any = None
        self.threads: int | None = None  # the OpenMP budget, fixed at fit for its predictions too

    def fit(self, data: "PreparedData", seed: int) -> dict[str, float]:
        check_task(self.params, data.task)
        steps = data.task.outputs
        trees = HistGradientBoostingRegressor(
            **{k: self.params[k] for k in TREE_PARAMS}, early_stopping=False, random_state=seed
        )
        self.model = trees if steps == 1 else MultiOutputRegressor(trees)
        x, y = flatten(data.windows("train", steps)), data.scaled_targets("train", steps)
        self.threads = trial_openmp_threads()
        log.debug("gbdt: %d OpenMP thread%s per fit and predict", self.threads, "" if self.threads == 1 else "s")
        started = time.perf_counter()
        with thread_budget(self.threads):
            self.model.fit(x, y.ravel() if steps == 1 else y)
        seconds = time.perf_counter() - started
        fitted = [self.model] if steps == 1 else self.model.estimators_
        fitted_values = y.size  # windows x models: comparable across horizons
        return {"train_samples_per_second": fitted_values / seconds if seconds > 0 else float("nan"),
                "trees": float(sum(m.n_iter_ for m in fitted))}

    def predict(self, data: "PreparedData", split: str) -> np.ndarray:
        with thread_budget(self.threads or trial_openmp_threads()):
            if data.task.outputs < data.horizon:
                return recursive_forecast(lambda windows: self.model.predict(flatten(windows)), data, split)
            scaled = self.model.predict(flatten(data.windows(split)))
        return data.inverse_target(scaled.reshape(len(scaled), -1))


def save_trees(forecaster: GBDT, path: Path) -> None:
    """The fitted trees as a skops file (an exported model's member; never a pickle)."""
    import skops.io  # here, not at the top: only export needs it

    skops.io.dump(forecaster.model, path)


def load_trees(path: str | Path) -> Callable[[np.ndarray], np.ndarray]:
    """Scaled windows ``[n, timestep, features]`` -> scaled ``[n, outputs]``, from :func:`save_trees`'s
    file. skops rebuilds only trusted types; scikit-learn's own estimators are, and the trees'
    parts in :data:`TRUSTED` are named here; a file asking for any other type is refused."""
    import skops.io  # here, not at the top: only an exported GBDT needs it

    asked = skops.io.get_untrusted_types(file=path)
    unknown = sorted(set(asked) - set(TRUSTED))
    if unknown:
        raise SweepcastError(f"{path}: a GBDT member that asks for types sweepcast does not trust ({unknown[0]}); "
                             "re-export it with this version of sweepcast")
    model = skops.io.load(path, trusted=asked)

    def predict(windows: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(flatten(np.asarray(windows)))).reshape(len(windows), -1)

    return predict


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], outputs: int = 1) -> GBDT:
    return GBDT(validate(spec))
