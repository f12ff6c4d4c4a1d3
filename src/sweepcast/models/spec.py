"""Parsing of the ``model.*`` keys the families share: each check names the offending ``model.<key>``.

Thin uses of :mod:`sweepcast.checks` on a family's ``spec`` mapping, plus the parsed shapes
every network reads (:class:`HeadSpec`, :class:`RecurrentSpec`). No Keras here: a spec is
checked before TensorFlow loads; :mod:`sweepcast.models.layers` builds the layers from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from sweepcast import checks
from sweepcast.errors import ConfigError

# Activations the studies compared, plus the usual linear readout; a fixed list keeps
# config errors independent of which names a Keras version happens to export.
ACTIVATIONS = ("tanh", "sigmoid", "relu", "elu", "selu", "gelu", "softsign", "linear", "softplus", "exponential")
POSITIVE_OUTPUTS = ("softplus", "exponential", "relu")  # what trainer.loss=poisson can train
# Bounds on one request's size (issue 20.7): a typo such as model.layers=1000000000000 is refused in
# one line instead of exhausting memory while the model is built. Far above any study's models.
MAX_LAYERS = 64
MAX_UNITS = 8192


def check_keys(spec: Mapping[str, Any], allowed: Sequence[str]) -> None:
    checks.known_keys("model", spec, allowed)


def positive_int(spec: Mapping[str, Any], key: str, minimum: int = 1, maximum: int | None = None) -> int:
    return checks.integer(f"model.{key}", spec.get(key), minimum, maximum=maximum)


def fraction(spec: Mapping[str, Any], key: str) -> float:
    """A rate in [0, 1): dropout of 1 would drop everything."""
    return checks.number(f"model.{key}", spec.get(key, 0.0), 0, 1, high_open=True)


def non_negative(spec: Mapping[str, Any], key: str) -> float:
    return checks.number(f"model.{key}", spec.get(key, 0.0), 0, allow_nan=True)


def activation(spec: Mapping[str, Any], key: str) -> str:
    return checks.choice(f"model.{key}", spec.get(key), ACTIVATIONS)


def per_layer_units(spec: Mapping[str, Any], layers: int, key: str = "units") -> list[int]:
    """``units`` as one int for every layer, or a list with at least ``layers`` entries.

    A longer list is cut to ``layers`` so ``model.layers=1,2,3`` sweeps over a fixed list
    such as ``[64, 64, 32]`` (the study's stack) without editing it per run.
    """
    value = spec.get(key)
    if checks.is_integer(value):
        values = [value] * layers
    elif isinstance(value, (list, tuple)) and len(value) >= layers:
        values = list(value[:layers])
    else:
        raise ConfigError(f"model.{key}", f"an integer or a list of at least model.layers={layers} integers", value)
    if not all(checks.is_integer(v) and 1 <= v <= MAX_UNITS for v in values):
        raise ConfigError(f"model.{key}", f"integers in [1, {MAX_UNITS}]", value)
    return values


def head_units(spec: Mapping[str, Any]) -> list[int]:
    """Hidden Dense layers before the output (``[]`` for none)."""
    head = spec.get("head_units") or []
    if checks.is_integer(head):
        head = [head]  # one hidden layer
    if not isinstance(head, (list, tuple)):
        raise ConfigError("model.head_units", "a list of positive integers (or one integer)", head)
    return per_layer_units({"head_units": list(head)}, len(head), "head_units") if head else []


@dataclass(frozen=True)
class HeadSpec:
    """The dense readout every network family shares."""

    units: list[int]
    activation: str
    output_activation: str
    l2: float


def head_spec(spec: Mapping[str, Any]) -> HeadSpec:
    return HeadSpec(head_units(spec), activation(spec, "head_activation"), activation(spec, "output_activation"),
                    non_negative(spec, "l2"))


@dataclass(frozen=True)
class RecurrentSpec:
    """A stack of recurrent layers (LSTM, and Seq2Seq's encoder and decoder)."""

    layers: int
    units: list[int]
    dropout: float
    activation: str


def recurrent_spec(spec: Mapping[str, Any]) -> RecurrentSpec:
    layers = positive_int(spec, "layers", maximum=MAX_LAYERS)
    return RecurrentSpec(layers, per_layer_units(spec, layers), fraction(spec, "dropout"), activation(spec, "activation"))
