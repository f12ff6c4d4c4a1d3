"""Transformer encoder for windows, with the positional encoding the check-in study's lacked.

Input projection to ``d_model``, fixed sinusoidal positional encoding (without it attention is
blind to order, which is why the study's Transformer fell behind persistence), ``layers``
post-norm encoder blocks (multi-head self-attention and a feed-forward layer, each with dropout,
a residual and layer norm), a readout (average over time, or the last step), then the dense head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from sweepcast import checks
from sweepcast.errors import ConfigError
from sweepcast.models.layers import dense_head, dropout, regularizer
from sweepcast.models.spec import MAX_LAYERS, MAX_UNITS, HeadSpec, check_keys, fraction, head_spec, positive_int

if TYPE_CHECKING:
    import keras

DATA_KINDS = ("series", "checkins", "next_place")  # check-ins: a 3-value head; next_place: a score per place
KEYS = ("name", "layers", "d_model", "heads", "ff_units", "dropout", "readout", "head_units", "head_activation",
        "output_activation", "l2")
READOUTS = ("average", "last")


@dataclass(frozen=True)
class TransformerSpec:
    layers: int
    d_model: int
    heads: int
    ff_units: int
    dropout: float
    readout: str
    head: HeadSpec


def validate(spec: Mapping[str, Any]) -> TransformerSpec:
    """Parse and check ``model.*``; raises ConfigError naming the key."""
    check_keys(spec, KEYS)
    d_model, heads = positive_int(spec, "d_model", maximum=MAX_UNITS), positive_int(spec, "heads", maximum=MAX_UNITS)
    if d_model % heads:
        raise ConfigError("model.heads", f"a divisor of model.d_model={d_model}", heads)
    readout = checks.choice("model.readout", spec.get("readout", "average"), READOUTS)
    return TransformerSpec(
        layers=positive_int(spec, "layers", maximum=MAX_LAYERS), d_model=d_model, heads=heads,
        ff_units=positive_int(spec, "ff_units", maximum=MAX_UNITS), dropout=fraction(spec, "dropout"), readout=readout,
        head=head_spec(spec),
    )


def positional_encoding(length: int, depth: int) -> np.ndarray:
    """The sinusoidal table of "Attention is all you need": ``[length, depth]`` float32."""
    positions = np.arange(length)[:, None]
    rates = 1.0 / np.power(10_000.0, (2 * (np.arange(depth) // 2)) / depth)
    angles = positions * rates[None, :]
    return np.where(np.arange(depth) % 2 == 0, np.sin(angles), np.cos(angles)).astype(np.float32)


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], outputs: int = 1) -> "keras.Model":
    import keras  # here, not at the top: a spec is validated before TensorFlow loads

    s = validate(spec)
    penalty = regularizer(keras, s.head)
    timestep = input_shape[0]
    inputs = keras.Input(shape=input_shape, name="window")
    x = keras.layers.Dense(s.d_model, kernel_regularizer=penalty, name="projection")(inputs)
    # a constant added in the graph (no custom layer): the saved model loads anywhere Keras does
    x = x + keras.ops.convert_to_tensor(positional_encoding(timestep, s.d_model))[None, :, :]
    x = dropout(keras, s.dropout, "input_dropout")(x)
    for i in range(1, s.layers + 1):
        attended = keras.layers.MultiHeadAttention(num_heads=s.heads, key_dim=s.d_model // s.heads, dropout=s.dropout,
                                                   kernel_regularizer=penalty, name=f"attention_{i}")(x, x)
        x = keras.layers.LayerNormalization(name=f"attention_norm_{i}")(keras.layers.Add(name=f"attention_add_{i}")([x, attended]))
        ff = keras.layers.Dense(s.ff_units, activation="relu", kernel_regularizer=penalty, name=f"ff_{i}")(x)
        ff = keras.layers.Dense(s.d_model, kernel_regularizer=penalty, name=f"ff_out_{i}")(ff)
        ff = dropout(keras, s.dropout, f"ff_dropout_{i}")(ff)
        x = keras.layers.LayerNormalization(name=f"ff_norm_{i}")(keras.layers.Add(name=f"ff_add_{i}")([x, ff]))
    if s.readout == "last":
        x = keras.layers.Cropping1D((timestep - 1, 0), name="last_step")(x)
        x = keras.layers.Flatten(name="readout")(x)
    else:
        x = keras.layers.GlobalAveragePooling1D(name="readout")(x)
    return keras.Model(inputs, dense_head(keras, x, s.head, outputs), name="transformer")
