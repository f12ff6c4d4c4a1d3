"""DLinear (Zeng et al., 2023, "Are Transformers Effective for Time Series Forecasting?"): a
moving-average split of each window into trend and remainder, one linear map each, summed.

The trend is a ``kernel_size``-row moving average with the window's first and last rows
repeated at its edges (so it keeps the window's length); the remainder is the window minus it.
Each part is flattened over time *and* input columns and mapped linearly to every output, so
extra inputs and calendar features reach the forecast (with one input column this is the
paper's per-series DLinear). Seconds per epoch here, and a strong reference on trending series.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from sweepcast.models.spec import MAX_UNITS, check_keys, non_negative, positive_int

if TYPE_CHECKING:
    import keras

DATA_KINDS = ("series", "checkins", "next_place")  # check-ins: a 3-value map; next_place: a score per place
KEYS = ("name", "kernel_size", "l2")


@dataclass(frozen=True)
class DLinearSpec:
    kernel_size: int
    l2: float


def validate(spec: Mapping[str, Any]) -> DLinearSpec:
    check_keys(spec, KEYS)
    return DLinearSpec(positive_int(spec, "kernel_size", maximum=MAX_UNITS), non_negative(spec, "l2"))


def moving_average(keras: Any, x: Any, kernel: int) -> Any:
    """``[B, T, F]`` -> its ``kernel``-row moving average, edges padded by repetition: ``[B, T, F]``."""
    if kernel == 1:
        return x
    before, after = (kernel - 1) // 2, kernel - 1 - (kernel - 1) // 2
    ops = keras.ops
    padded = ops.concatenate([ops.repeat(x[:, :1, :], before, axis=1), x, ops.repeat(x[:, -1:, :], after, axis=1)],
                             axis=1) if before else ops.concatenate([x, ops.repeat(x[:, -1:, :], after, axis=1)], axis=1)
    return keras.layers.AveragePooling1D(pool_size=kernel, strides=1, padding="valid", name="trend")(padded)


def build(spec: Mapping[str, Any], input_shape: tuple[int, int], outputs: int = 1) -> "keras.Model":
    import keras  # here, not at the top: a spec is validated before TensorFlow loads

    s = validate(spec)
    penalty = keras.regularizers.L2(s.l2) if s.l2 > 0 else None
    inputs = keras.Input(shape=input_shape, name="window")
    trend = moving_average(keras, inputs, s.kernel_size)
    remainder = keras.layers.Subtract(name="remainder")([inputs, trend])
    parts = []
    for name, part in (("trend", trend), ("remainder", remainder)):
        flat = keras.layers.Flatten(name=f"{name}_flat")(part)
        parts.append(keras.layers.Dense(outputs, kernel_regularizer=penalty, name=f"{name}_linear")(flat))
    return keras.Model(inputs, keras.layers.Add(name="forecast")(parts), name="dlinear")
