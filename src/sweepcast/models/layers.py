"""Keras building blocks the network families share: dropout, the L2 penalty and the dense head.

Each takes the ``keras`` module from its caller's ``build`` (which imports it there), so this
module imports no TensorFlow and a spec can be validated without it.
"""

from __future__ import annotations

from typing import Any

from sweepcast.models.spec import HeadSpec


def dropout(keras: Any, rate: float, name: str) -> Any:
    """A Dropout layer, or the identity when the rate is 0 (no layer clutter in summaries)."""
    return keras.layers.Dropout(rate, name=name) if rate > 0 else keras.layers.Identity(name=name)


def regularizer(keras: Any, head: HeadSpec) -> Any:
    return keras.regularizers.L2(head.l2) if head.l2 > 0 else None


def dense_head(keras: Any, x: Any, head: HeadSpec, outputs: int) -> Any:
    """The shared readout of every network family: optional hidden Dense layers, then one output
    per forecast step (``horizon`` for direct models, 1 for recursive ones)."""
    penalty = regularizer(keras, head)
    for i, units in enumerate(head.units):
        x = keras.layers.Dense(units, activation=head.activation, kernel_regularizer=penalty, name=f"head_{i + 1}")(x)
    return keras.layers.Dense(outputs, activation=head.output_activation, kernel_regularizer=penalty, name="forecast")(x)
