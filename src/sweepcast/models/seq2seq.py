"""Seq2Seq with self-attention, the check-in study's best family.

An LSTM encoder stack (every layer returns sequences), an LSTM decoder stack that starts from the
encoder's final state and reads the encoder's outputs, self-attention over the decoder outputs,
global average pooling, then the dense head. The decoder mirrors the encoder's widths in reverse
(``units`` [64, 32] -> encoder 64, 32; decoder 32, 64), so the handover of state needs no projection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from sweepcast import checks
from sweepcast.models.layers import dense_head, dropout, regularizer
from sweepcast.models.spec import HeadSpec, RecurrentSpec, check_keys, head_spec, recurrent_spec

if TYPE_CHECKING:
    import keras

DATA_KINDS = ("series", "checkins", "next_place")  # check-ins: a 3-value head; next_place: a score per place
KEYS = ("name", "layers", "units", "dropout", "activation", "attention_heads", "head_units", "head_activation",
        "output_activation", "l2")


@dataclass(frozen=True)
class Seq2SeqSpec:
    stack: RecurrentSpec  # the encoder; the decoder mirrors it
    attention_heads: int
    head: HeadSpec


def validate(spec: Mapping[str, Any]) -> Seq2SeqSpec:
    """Parse and check ``model.*``; raises ConfigError naming the key."""
    check_keys(spec, KEYS)
    heads = checks.integer("model.attention_heads", spec.get("attention_heads", 1), 1)
    return Seq2SeqSpec(recurrent_spec(spec), heads, head_spec(spec))


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], outputs: int = 1) -> "keras.Model":
    import keras  # here, not at the top: a spec is validated before TensorFlow loads

    s = validate(spec)
    stack, penalty = s.stack, regularizer(keras, s.head)
    inputs = keras.Input(shape=input_shape, name="window")
    x, state = inputs, None
    for i, units in enumerate(stack.units):
        last = i == stack.layers - 1
        out = keras.layers.LSTM(units, activation=stack.activation, return_sequences=True, return_state=last,
                                kernel_regularizer=penalty, name=f"encoder_{i + 1}")(x)
        x, state = (out[0], out[1:]) if last else (out, state)
        x = dropout(keras, stack.dropout, f"encoder_dropout_{i + 1}")(x)
    for i, units in enumerate(reversed(stack.units)):
        x = keras.layers.LSTM(units, activation=stack.activation, return_sequences=True, kernel_regularizer=penalty,
                              name=f"decoder_{i + 1}")(x, initial_state=state if i == 0 else None)
        x = dropout(keras, stack.dropout, f"decoder_dropout_{i + 1}")(x)
    width = stack.units[0]
    attended = keras.layers.MultiHeadAttention(num_heads=s.attention_heads, key_dim=max(width // s.attention_heads, 1),
                                               dropout=stack.dropout, kernel_regularizer=penalty,
                                               name="self_attention")(x, x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(keras.layers.Add(name="attention_residual")([x, attended]))
    return keras.Model(inputs, dense_head(keras, x, s.head, outputs), name="seq2seq")
