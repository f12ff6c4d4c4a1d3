"""Custom Keras layers of our families, registered so saved models load back.

Imported by a family's ``build`` (never at package import: config checks must not pay for
TensorFlow) and by :func:`sweepcast.tracking.load_logged_model` before loading a model.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np


def positional_encoding(length: int, depth: int) -> np.ndarray:
    """The sinusoidal table of "Attention is all you need": ``[length, depth]`` float32."""
    positions = np.arange(length)[:, None]
    rates = 1.0 / np.power(10_000.0, (2 * (np.arange(depth) // 2)) / depth)
    angles = positions * rates[None, :]
    return np.where(np.arange(depth) % 2 == 0, np.sin(angles), np.cos(angles)).astype(np.float32)


@keras.saving.register_keras_serializable(package="sweepcast")
class AddPositionalEncoding(keras.layers.Layer):
    """Adds the fixed sinusoidal table for the input's length and width (no weights to learn)."""

    def call(self, x: Any) -> Any:
        table = positional_encoding(int(x.shape[1]), int(x.shape[2]))
        return x + keras.ops.convert_to_tensor(table)[None, :, :]
