"""N-HiTS-style MLP (Challu et al., 2023, "N-HiTS: Neural Hierarchical Interpolation for Time
Series Forecasting"): stacks of MLP blocks, each reading the window at its own rate and
forecasting a few knots that are interpolated to the whole horizon.

Each block max-pools the residual window over time (``pool_sizes[s]`` rows per value in stack
``s``), runs an MLP over it, and emits a backcast (subtracted from the residual the next block
reads) and ``ceil(steps / downsample[s])`` forecast knots, linearly interpolated to every step
(a fixed matrix, no weights): early stacks see a coarse window and forecast a smooth curve,
later ones the detail. The forecasts of all blocks are summed. Every input column (extra
features, calendar) is pooled and read alike; the backcast covers them all. A series task only:
the knots are interpolated across forecast steps, which a check-in's (gap, lat, lon) is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from sweepcast import checks
from sweepcast.errors import ConfigError
from sweepcast.models.spec import MAX_LAYERS, MAX_UNITS, activation, check_keys, fraction, non_negative, positive_int

if TYPE_CHECKING:
    import keras

KEYS = ("name", "stacks", "blocks", "layers", "units", "pool_sizes", "downsample", "dropout", "activation", "l2")


@dataclass(frozen=True)
class NHiTSSpec:
    stacks: int
    blocks: int  # per stack
    layers: int  # Dense layers per block's MLP
    units: int
    pool_sizes: list[int]  # per stack
    downsample: list[int]  # per stack: steps per forecast knot
    dropout: float
    activation: str
    l2: float


def per_stack(spec: Mapping[str, Any], key: str, stacks: int) -> list[int]:
    """An int for every stack, or one per stack (a longer list is cut, like ``units`` elsewhere)."""
    value = spec.get(key)
    values = [value] * stacks if checks.is_integer(value) else value
    if not isinstance(values, (list, tuple)) or len(values) < stacks or \
            not all(checks.is_integer(v) and 1 <= v <= MAX_UNITS for v in values[:stacks]):
        raise ConfigError(f"model.{key}", f"a positive integer or a list of at least model.stacks={stacks} of them",
                          value)
    return [int(v) for v in values[:stacks]]


def validate(spec: Mapping[str, Any]) -> NHiTSSpec:
    check_keys(spec, KEYS)
    stacks = positive_int(spec, "stacks", maximum=MAX_LAYERS)
    return NHiTSSpec(stacks, positive_int(spec, "blocks", maximum=MAX_LAYERS),
                     positive_int(spec, "layers", maximum=MAX_LAYERS), positive_int(spec, "units", maximum=MAX_UNITS),
                     per_stack(spec, "pool_sizes", stacks), per_stack(spec, "downsample", stacks),
                     fraction(spec, "dropout"), activation(spec, "activation"), non_negative(spec, "l2"))


def interpolation(knots: int, steps: int) -> np.ndarray:
    """``[knots, steps]``: knot values evenly placed over the steps, linearly interpolated between."""
    if knots == 1:
        return np.ones((1, steps), dtype=np.float32)
    where = np.linspace(0, steps - 1, knots)
    return np.stack([np.interp(np.arange(steps), where, np.eye(knots)[k]) for k in range(knots)]).astype(np.float32)


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], outputs: int = 1) -> "keras.Model":
    import keras  # here, not at the top: a spec is validated before TensorFlow loads

    s = validate(spec)
    timestep, features = input_shape
    penalty = keras.regularizers.L2(s.l2) if s.l2 > 0 else None
    inputs = keras.Input(shape=input_shape, name="window")
    residual, forecasts = inputs, []
    for stack in range(s.stacks):
        pool = min(s.pool_sizes[stack], timestep)
        knots = max(1, min(outputs, math.ceil(outputs / s.downsample[stack])))
        for block in range(s.blocks):
            tag = f"s{stack + 1}b{block + 1}"
            h = keras.layers.MaxPooling1D(pool, strides=pool, padding="same", name=f"pool_{tag}")(residual)
            h = keras.layers.Flatten(name=f"flat_{tag}")(h)
            for layer in range(s.layers):
                h = keras.layers.Dense(s.units, activation=s.activation, kernel_regularizer=penalty,
                                       name=f"mlp_{tag}_{layer + 1}")(h)
                if s.dropout > 0:
                    h = keras.layers.Dropout(s.dropout, name=f"dropout_{tag}_{layer + 1}")(h)
            backcast = keras.layers.Dense(timestep * features, kernel_regularizer=penalty, name=f"backcast_{tag}")(h)
            residual = keras.layers.Subtract(name=f"residual_{tag}")(
                [residual, keras.layers.Reshape((timestep, features), name=f"backcast_window_{tag}")(backcast)])
            theta = keras.layers.Dense(knots, kernel_regularizer=penalty, name=f"knots_{tag}")(h)
            forecasts.append(keras.ops.matmul(theta, keras.ops.convert_to_tensor(interpolation(knots, outputs))))
    total = forecasts[0] if len(forecasts) == 1 else keras.layers.Add(name="sum")(forecasts)
    return keras.Model(inputs, keras.layers.Identity(name="forecast")(total), name="nhits")
