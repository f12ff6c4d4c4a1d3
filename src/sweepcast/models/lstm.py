"""Stacked LSTM forecaster, the livestream study's model family.

``layers`` LSTM layers (each but the last returning sequences), a Dropout after each, then a
dense head: optional hidden Dense layers and a Dense output of one value per horizon step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from sweepcast.models.layers import dense_head, regularizer
from sweepcast.models.spec import HeadSpec, RecurrentSpec, check_keys, head_spec, recurrent_spec

if TYPE_CHECKING:
    import keras

DATA_KINDS = ("series", "checkins", "next_place")  # check-ins: a 3-value head; next_place: a score per place
KEYS = ("name", "layers", "units", "dropout", "activation", "head_units", "head_activation", "output_activation", "l2")


@dataclass(frozen=True)
class LSTMSpec:
    stack: RecurrentSpec
    head: HeadSpec


def validate(spec: Mapping[str, Any]) -> LSTMSpec:
    """Parse and check ``model.*``; raises ConfigError naming the key."""
    check_keys(spec, KEYS)
    return LSTMSpec(recurrent_spec(spec), head_spec(spec))


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], outputs: int = 1) -> "keras.Model":
    """A compiled-ready (not compiled) Keras model for windows of ``input_shape``."""
    import keras  # here, not at the top: a spec is validated before TensorFlow loads

    s = validate(spec)
    penalty = regularizer(keras, s.head)
    inputs = keras.Input(shape=input_shape, name="window")
    x = inputs
    for i, units in enumerate(s.stack.units):
        x = keras.layers.LSTM(
            units,
            activation=s.stack.activation,
            return_sequences=i < s.stack.layers - 1,
            kernel_regularizer=penalty,
            name=f"lstm_{i + 1}",
        )(x)
        if s.stack.dropout > 0:
            x = keras.layers.Dropout(s.stack.dropout, name=f"dropout_{i + 1}")(x)
    return keras.Model(inputs, dense_head(keras, x, s.head, outputs), name="lstm")
