"""Stacked LSTM forecaster, the livestream study's model family.

``layers`` LSTM layers (each but the last returning sequences), a Dropout after each, then a
dense head: optional hidden Dense layers and a Dense output of one value per horizon step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from sweepcast.models import spec as checks

if TYPE_CHECKING:
    import keras

KEYS = ("name", "layers", "units", "dropout", "activation", "head_units", "head_activation", "output_activation", "l2")


@dataclass(frozen=True)
class LSTMSpec:
    layers: int
    units: list[int]
    dropout: float
    activation: str
    head_units: list[int]
    head_activation: str
    output_activation: str
    l2: float


def validate(spec: Mapping[str, Any]) -> LSTMSpec:
    """Parse and check ``model.*``; raises ConfigError naming the key."""
    checks.check_keys(spec, KEYS)
    layers = checks.positive_int(spec, "layers")
    return LSTMSpec(
        layers=layers,
        units=checks.per_layer_units(spec, layers),
        dropout=checks.fraction(spec, "dropout"),
        activation=checks.activation(spec, "activation"),
        head_units=checks.head_units(spec),
        head_activation=checks.activation(spec, "head_activation"),
        output_activation=checks.activation(spec, "output_activation"),
        l2=checks.non_negative(spec, "l2"),
    )


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], horizon: int = 1) -> "keras.Model":
    """A compiled-ready (not compiled) Keras model for windows of ``input_shape``."""
    import keras

    s = validate(spec)
    regularizer = keras.regularizers.L2(s.l2) if s.l2 > 0 else None
    inputs = keras.Input(shape=input_shape, name="window")
    x = inputs
    for i, units in enumerate(s.units):
        x = keras.layers.LSTM(
            units,
            activation=s.activation,
            return_sequences=i < s.layers - 1,
            kernel_regularizer=regularizer,
            name=f"lstm_{i + 1}",
        )(x)
        if s.dropout > 0:
            x = keras.layers.Dropout(s.dropout, name=f"dropout_{i + 1}")(x)
    return keras.Model(inputs, checks.dense_head(keras, x, s, regularizer, horizon), name="lstm")
