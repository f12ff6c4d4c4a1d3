"""Gradient-boosted trees on the same windows (the livestream study's proposed GBDT comparison).

scikit-learn's ``HistGradientBoostingRegressor`` on each window flattened to ``timestep x
features`` scaled values, predicting the scaled next target; its internal early stopping is off
because it would validate on a random (leaky) sample of a time series.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from sweepcast.errors import ConfigError
from sweepcast.models import spec as checks
from sweepcast.models.baselines import target_rows

if TYPE_CHECKING:
    from sweepcast.data.pipeline import PreparedData

KIND = "baseline"
KEYS = ("name", "max_iter", "learning_rate", "max_leaf_nodes", "min_samples_leaf", "l2_regularization")


def validate(spec: Mapping[str, Any]) -> dict[str, Any]:
    checks.check_keys(spec, KEYS)
    rate = spec.get("learning_rate")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1:
        raise ConfigError("model.learning_rate", "a number in (0, 1]", rate)
    return {
        "max_iter": checks.positive_int(spec, "max_iter"),
        "learning_rate": float(rate),
        "max_leaf_nodes": checks.positive_int(spec, "max_leaf_nodes", minimum=2),
        "min_samples_leaf": checks.positive_int(spec, "min_samples_leaf"),
        "l2_regularization": checks.non_negative(spec, "l2_regularization"),
    }


def window_matrix(data: "PreparedData", split: str) -> np.ndarray:
    """``[windows, timestep * features]`` scaled inputs, gathered in one indexing step."""
    rows = target_rows(data, split)
    index = rows[:, None] - data.timestep + np.arange(data.timestep)[None, :]
    return data.inputs[index].reshape(len(rows), -1)


class GBDT:
    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.model: Any = None

    def fit(self, data: "PreparedData", seed: int) -> dict[str, float]:
        from sklearn.ensemble import HistGradientBoostingRegressor

        self.model = HistGradientBoostingRegressor(**self.params, early_stopping=False, random_state=seed)
        x, y = window_matrix(data, "train"), data.targets[target_rows(data, "train")]
        started = time.perf_counter()
        self.model.fit(x, y)
        seconds = time.perf_counter() - started
        return {"train_samples_per_second": len(y) / seconds if seconds > 0 else float("nan"),
                "trees": float(self.model.n_iter_)}

    def predict(self, data: "PreparedData", split: str) -> np.ndarray:
        return data.inverse_target(self.model.predict(window_matrix(data, split)))


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], horizon: int = 1) -> GBDT:
    return GBDT(validate(spec))
