"""Checks shared by model families: each names the offending ``model.<key>``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from sweepcast.errors import ConfigError

# Activations the studies compared, plus the usual linear readout; a fixed list keeps
# config errors independent of which names a Keras version happens to export.
ACTIVATIONS = ("tanh", "sigmoid", "relu", "elu", "selu", "gelu", "softsign", "linear")


def check_keys(spec: Mapping[str, Any], allowed: Sequence[str]) -> None:
    unknown = [k for k in spec if k not in allowed]
    if unknown:
        raise ConfigError(f"model.{unknown[0]}", f"one of the keys {tuple(allowed)}", unknown[0])


def positive_int(spec: Mapping[str, Any], key: str, minimum: int = 1) -> int:
    value = spec.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"model.{key}", f"an integer >= {minimum}", value)
    return value


def fraction(spec: Mapping[str, Any], key: str) -> float:
    """A rate in [0, 1): dropout of 1 would drop everything."""
    value = spec.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ConfigError(f"model.{key}", "a number in [0, 1)", value)
    return float(value)


def non_negative(spec: Mapping[str, Any], key: str) -> float:
    value = spec.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"model.{key}", "a number >= 0", value)
    return float(value)


def activation(spec: Mapping[str, Any], key: str) -> str:
    value = spec.get(key)
    if value not in ACTIVATIONS:
        raise ConfigError(f"model.{key}", f"one of {ACTIVATIONS}", value)
    return value


def per_layer_units(spec: Mapping[str, Any], layers: int, key: str = "units") -> list[int]:
    """``units`` as one int for every layer, or a list with at least ``layers`` entries.

    A longer list is cut to ``layers`` so ``model.layers=1,2,3`` sweeps over a fixed list
    such as ``[64, 64, 32]`` (the study's stack) without editing it per run.
    """
    value = spec.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        values = [value] * layers
    elif isinstance(value, (list, tuple)) and len(value) >= layers:
        values = list(value[:layers])
    else:
        raise ConfigError(f"model.{key}", f"an integer or a list of at least model.layers={layers} integers", value)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        raise ConfigError(f"model.{key}", "positive integers", value)
    return values


def head_units(spec: Mapping[str, Any]) -> list[int]:
    """Hidden Dense layers before the output (``[]`` for none)."""
    head = spec.get("head_units") or []
    if isinstance(head, int) and not isinstance(head, bool):
        head = [head]  # one hidden layer
    if not isinstance(head, (list, tuple)):
        raise ConfigError("model.head_units", "a list of positive integers (or one integer)", head)
    return per_layer_units({"head_units": list(head)}, len(head), "head_units") if head else []


def dropout(keras: Any, rate: float, name: str) -> Any:
    """A Dropout layer, or the identity when the rate is 0 (no layer clutter in summaries)."""
    return keras.layers.Dropout(rate, name=name) if rate > 0 else keras.layers.Identity(name=name)


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
    layers = positive_int(spec, "layers")
    return RecurrentSpec(layers, per_layer_units(spec, layers), fraction(spec, "dropout"), activation(spec, "activation"))


def regularizer(keras: Any, head: HeadSpec) -> Any:
    return keras.regularizers.L2(head.l2) if head.l2 > 0 else None


def dense_head(keras: Any, x: Any, head: HeadSpec, outputs: int) -> Any:
    """The shared readout of every network family: optional hidden Dense layers, then one output
    per forecast step (``horizon`` for direct models, 1 for recursive ones)."""
    penalty = regularizer(keras, head)
    for i, units in enumerate(head.units):
        x = keras.layers.Dense(units, activation=head.activation, kernel_regularizer=penalty, name=f"head_{i + 1}")(x)
    return keras.layers.Dense(outputs, activation=head.output_activation, kernel_regularizer=penalty, name="forecast")(x)
