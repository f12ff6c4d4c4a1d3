"""Cross-family search spaces: each family's own hyperparameters, only when that family is drawn.

Used as ``hydra.sweeper.custom_search_space`` by ``search=series_auto`` and ``search=checkins_auto``:
the study's ``params`` draw ``model`` (and what every family shares, such as the lookback);
these functions then draw the drawn family's keys, under names prefixed with the family
(``lstm.units``, ``gbdt.learning_rate``), so Optuna's samplers model each family's parameters
apart (a conditional space, define-by-run). A trial queued from ``hydra.sweeper.enqueue`` (the
default-config baselines every report should show) keeps the family's defaults.
"""

from __future__ import annotations

from typing import Any, Callable

from sweepcast.sweeper.study import ENQUEUED

Draw = Callable[[Any], "dict[str, Any]"]  # an Optuna trial -> model.* overrides


def lstm(trial: Any) -> dict[str, Any]:
    return {"model.layers": trial.suggest_int("lstm.layers", 1, 3),
            "model.units": trial.suggest_categorical("lstm.units", [32, 64, 128]),
            "model.dropout": trial.suggest_float("lstm.dropout", 0.0, 0.5)}


def seq2seq(trial: Any) -> dict[str, Any]:
    return {"model.layers": trial.suggest_int("seq2seq.layers", 1, 3),
            "model.units": trial.suggest_categorical("seq2seq.units", [32, 64, 128]),
            "model.dropout": trial.suggest_float("seq2seq.dropout", 0.0, 0.5)}


def dlinear(trial: Any) -> dict[str, Any]:
    return {"model.kernel_size": trial.suggest_categorical("dlinear.kernel_size", [5, 13, 25, 49])}


def nhits(trial: Any) -> dict[str, Any]:
    pools = trial.suggest_categorical("nhits.pool_sizes", ["[8,4,1]", "[16,8,1]", "[4,2,1]"])
    return {"model.units": trial.suggest_categorical("nhits.units", [128, 256, 512]),
            "model.layers": trial.suggest_int("nhits.layers", 1, 3),
            "model.dropout": trial.suggest_float("nhits.dropout", 0.0, 0.3),
            "model.pool_sizes": pools, "model.downsample": pools}


def gbdt(trial: Any) -> dict[str, Any]:
    return {"model.max_iter": trial.suggest_int("gbdt.max_iter", 50, 500, log=True),
            "model.learning_rate": trial.suggest_float("gbdt.learning_rate", 0.02, 0.3, log=True),
            "model.max_leaf_nodes": trial.suggest_categorical("gbdt.max_leaf_nodes", [15, 31, 63]),
            "model.l2_regularization": trial.suggest_float("gbdt.l2_regularization", 0.0, 1.0)}


def ets(trial: Any) -> dict[str, Any]:
    """Drawn again, ETS is another form, not a repeat of its deterministic default."""
    trend = trial.suggest_categorical("ets.trend", ["add", "null"])
    return {"model.trend": trend, "model.damped": trial.suggest_categorical("ets.damped", [True, False])
            if trend == "add" else False}


def moving_average(trial: Any) -> dict[str, Any]:
    return {"model.window": trial.suggest_categorical("moving_average.window", [2, 5, 10, 20])}


FAMILIES: dict[str, Draw] = {"lstm": lstm, "seq2seq": seq2seq, "dlinear": dlinear, "nhits": nhits, "gbdt": gbdt,
                             "ets": ets, "moving_average": moving_average}


def family_params(cfg: Any, trial: Any) -> dict[str, Any]:
    """The drawn family's own keys (none for a baseline without any, or an enqueued default)."""
    if trial.user_attrs.get(ENQUEUED) is not None:
        return {}
    draw = FAMILIES.get(str(trial.params.get("model")))
    return draw(trial) if draw is not None else {}
