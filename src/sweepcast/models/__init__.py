"""Model families: one module per family, each exposing ``build(spec, input_shape) -> keras.Model``.

``spec`` is the plain-dict ``model`` config node; a builder validates its own keys and
raises :class:`~sweepcast.errors.ConfigError` naming ``model.<key>``. Register a new family
by adding its module name to ``FAMILIES`` and a YAML file to ``conf/model/``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Mapping

from sweepcast.errors import ConfigError

if TYPE_CHECKING:
    import keras

FAMILIES: dict[str, str] = {
    "lstm": "sweepcast.models.lstm",
    "seq2seq": "sweepcast.models.seq2seq",
    "transformer": "sweepcast.models.transformer",
}


def build_model(spec: Mapping[str, Any], input_shape: tuple[int, int]) -> "keras.Model":
    """Build the family named by ``spec['name']`` for windows of ``input_shape`` (timestep, features)."""
    name = spec.get("name")
    if name not in FAMILIES:
        raise ConfigError("model.name", f"one of {tuple(FAMILIES)}", name)
    module = importlib.import_module(FAMILIES[name])
    return module.build(spec, input_shape)


def validate_model(spec: Mapping[str, Any]) -> None:
    """Check a model spec without TensorFlow, so config errors surface before training."""
    name = spec.get("name")
    if name not in FAMILIES:
        raise ConfigError("model.name", f"one of {tuple(FAMILIES)}", name)
    importlib.import_module(FAMILIES[name]).validate(spec)
