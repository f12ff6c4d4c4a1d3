"""Model families: one module per family, each exposing ``validate(spec)`` and ``build(spec, input_shape, outputs)``
(a ``keras.Model`` for networks; a fit/predict forecaster for baselines, marked ``KIND = "baseline"``).

``spec`` is the plain-dict ``model`` config node; a builder validates its own keys and
raises :class:`~sweepcast.errors.ConfigError` naming ``model.<key>``. Register a new family
by adding its module name to ``FAMILIES`` and a YAML file to ``conf/model/``. A module's
``DATA_KINDS`` says which data it forecasts (default: a series only; see ``ForecastTask.kind``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Mapping

from sweepcast.errors import ConfigError

if TYPE_CHECKING:
    import keras

    from sweepcast.data.windows import ForecastTask
    from sweepcast.models.baselines import Forecaster

FAMILIES: dict[str, str] = {
    "lstm": "sweepcast.models.lstm",
    "seq2seq": "sweepcast.models.seq2seq",
    "transformer": "sweepcast.models.transformer",
    "dlinear": "sweepcast.models.dlinear",
    "nhits": "sweepcast.models.nhits",
    "persistence": "sweepcast.models.persistence",
    "seasonal_naive": "sweepcast.models.seasonal_naive",
    "moving_average": "sweepcast.models.moving_average",
    "gbdt": "sweepcast.models.gbdt",
    "ets": "sweepcast.models.ets",
    "last_checkin": "sweepcast.models.last_checkin",
    "last_place": "sweepcast.models.last_place",
    "frequent_place": "sweepcast.models.frequent_place",
    "markov_place": "sweepcast.models.markov_place",
    "recent_markov_place": "sweepcast.models.recent_markov_place",
}


def is_network(name: str) -> bool:
    """Keras families train on tf.data windows; baselines (``KIND = "baseline"``) fit themselves."""
    return getattr(importlib.import_module(FAMILIES[name]), "KIND", "network") == "network"


def family(spec: Mapping[str, Any]) -> Any:
    """The module of the family ``spec['name']`` names."""
    name = spec.get("name")
    if not isinstance(name, str) or name not in FAMILIES:
        raise ConfigError("model.name", f"one of {tuple(FAMILIES)}", name)
    return importlib.import_module(FAMILIES[name])


def build_model(spec: Mapping[str, Any], input_shape: tuple[int, int], outputs: int = 1,
                task: "ForecastTask | None" = None) -> "keras.Model | Forecaster":
    """Build the family named by ``spec['name']`` for windows of ``input_shape`` (timestep, features)
    and ``outputs`` values per window: a Keras model for networks, a
    :class:`~sweepcast.models.baselines.Forecaster` for baselines (which read the horizon from the data).
    A ranking task (``task.ranking``) gets the network behind a place embedding, scoring candidates."""
    module = family(spec)
    if task is not None and task.ranking is not None and is_network(str(spec["name"])):
        from sweepcast.models.place_embedding import with_place_embedding

        return with_place_embedding(module.build, spec, input_shape, task.ranking)
    return module.build(spec, input_shape, outputs)


def fitted_baseline(spec: Mapping[str, Any], data: Any, seed: int) -> "Forecaster":
    """A baseline family built for ``data``'s windows and fit on its training split (deterministic
    given the seed): what a backtest fold and a refit ensemble member both need."""
    forecaster = build_model(spec, (data.timestep, len(data.features)), data.task.outputs)
    forecaster.fit(data, seed)
    return forecaster  # type: ignore[return-value]


def validate_model(spec: Mapping[str, Any], task: "ForecastTask | None" = None) -> None:
    """Check a model spec without TensorFlow, so config errors surface before training; with the
    data's forecast task, also what a family needs of it (a module's ``check_task(spec, task)``)."""
    module = family(spec)
    module.validate(spec)
    if task is not None and task.kind not in data_kinds(module):
        usable = [name for name, path in FAMILIES.items() if task.kind in data_kinds(importlib.import_module(path))]
        raise ConfigError("model.name", f"a family for {task.kind} data: one of {tuple(usable)}", spec.get("name"))
    if task is not None and hasattr(module, "check_task"):
        module.check_task(spec, task)


def data_kinds(module: Any) -> tuple[str, ...]:
    return tuple(getattr(module, "DATA_KINDS", ("series",)))
