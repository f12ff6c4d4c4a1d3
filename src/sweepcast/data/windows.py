"""Chronological splits, train-only scaling, and lookback windows as ``tf.data`` pipelines.

Windows are never materialised as an ``N x timestep`` array: the dataset holds the scaled
series once and each batch gathers its windows from start indices (one vectorised
``tf.gather`` per batch), so memory does not grow with ``timestep``. A window never crosses
a split boundary: each split is windowed on its own rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

import numpy as np
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from sweepcast.errors import ConfigError, DataError

if TYPE_CHECKING:  # tensorflow is imported lazily: it costs seconds and bad input should fail fast
    import tensorflow as tf

SPLITS = ("train", "val", "test")
SCALERS = {"minmax": MinMaxScaler, "standard": StandardScaler, "robust": RobustScaler}


@dataclass(frozen=True)
class SplitBounds:
    """Row ranges ``[start, stop)`` of each split in the cleaned series."""

    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]

    def __getitem__(self, name: str) -> tuple[int, int]:
        return getattr(self, name)

    def length(self, name: str) -> int:
        start, stop = self[name]
        return stop - start


def split_bounds(n_rows: int, fractions: Mapping[str, float]) -> SplitBounds:
    """Chronological train/val/test bounds; test takes the rows train and val leave."""
    train, val = float(fractions.get("train", 0.7)), float(fractions.get("val", 0.15))
    if not 0.0 < train < 1.0:
        raise ConfigError("data.split.train", "a fraction in (0, 1)", train)
    if not 0.0 < val < 1.0 or train + val >= 1.0:
        raise ConfigError("data.split.val", f"a fraction in (0, {1.0 - train:g}) so test keeps rows", val)
    n_train = int(round(n_rows * train))
    n_val = int(round(n_rows * val))
    return SplitBounds((0, n_train), (n_train, n_train + n_val), (n_train + n_val, n_rows))


def make_scaler(name: str) -> MinMaxScaler | StandardScaler | RobustScaler:
    """A fresh scikit-learn scaler by config name."""
    if name not in SCALERS:
        raise ConfigError("data.scaler", f"one of {tuple(SCALERS)}", name)
    return SCALERS[name]()


def check_timestep(timestep: object, bounds: SplitBounds, horizon: int = 1) -> int:
    """Every split must hold at least one full window plus its target."""
    if isinstance(timestep, bool) or not isinstance(timestep, int) or timestep < 1:
        raise ConfigError("data.timestep", "an integer >= 1", timestep)
    for name in SPLITS:
        if window_count(bounds.length(name), timestep, horizon) < 1:
            raise DataError(
                f"data.timestep={timestep} leaves no window in the {name} split "
                f"({bounds.length(name)} rows); use a timestep below {bounds.length(name) - horizon + 1} "
                f"or more data"
            )
    return timestep


def window_count(n_rows: int, timestep: int, horizon: int = 1) -> int:
    """Windows of ``timestep`` inputs followed by ``horizon`` targets inside ``n_rows``."""
    return max(n_rows - timestep - horizon + 1, 0)


def window_targets(targets: np.ndarray, timestep: int) -> np.ndarray:
    """The value each window predicts (horizon 1): ``targets[timestep:]``, as a view."""
    return targets[timestep:]


def window_dataset(
    inputs: np.ndarray,
    targets: np.ndarray,
    timestep: int,
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
) -> "tf.data.Dataset":
    """Batches of ``(x[B, timestep, F], y[B, 1])`` for one split, gathered per batch.

    ``inputs`` is ``[n, F]`` and ``targets`` ``[n]`` (already scaled, float32). Shuffling
    permutes window start indices only (a full shuffle costs one int64 per window).
    """
    import tensorflow as tf

    count = window_count(len(inputs), timestep)
    if count < 1:
        raise DataError(f"no window of {timestep} steps fits in {len(inputs)} rows")
    series = tf.constant(np.ascontiguousarray(inputs, dtype=np.float32))
    future = tf.constant(np.ascontiguousarray(targets[timestep:], dtype=np.float32).reshape(-1, 1))
    offsets = tf.range(timestep, dtype=tf.int64)
    starts = tf.data.Dataset.range(count)
    if shuffle:
        starts = starts.shuffle(count, seed=seed, reshuffle_each_iteration=True)

    def gather(batch_starts: "tf.Tensor") -> tuple["tf.Tensor", "tf.Tensor"]:
        x = tf.gather(series, batch_starts[:, None] + offsets[None, :])
        y = tf.gather(future, batch_starts)
        return x, y

    # tf.data's autotuner re-plans at each epoch boundary; with the trainer's small thread pools
    # that stalled epoch 2 for ~7 s per epoch (bench/README.md). Without it, AUTOTUNE falls back
    # to fixed parallelism and buffer sizes, which keep the model fed (1.5x the study's epoch).
    options = tf.data.Options()
    options.autotune.enabled = False
    return (
        starts.batch(batch_size)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
        .with_options(options)
    )


def scaler_state(scaler: MinMaxScaler | StandardScaler | RobustScaler) -> dict:
    """A fitted scaler as plain JSON (kind, params, fitted arrays): portable, and loading it
    never unpickles anything."""
    kind = next(name for name, cls in SCALERS.items() if isinstance(scaler, cls))
    fitted = {
        key: value.tolist() if isinstance(value, np.ndarray) else value
        for key, value in vars(scaler).items()
        if key.endswith("_") and not key.startswith("_") and isinstance(value, (np.ndarray, int, float))
    }
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in scaler.get_params().items()}
    return {"kind": kind, "params": params, "fitted": fitted}


def scaler_from_state(state: Mapping) -> MinMaxScaler | StandardScaler | RobustScaler:
    """Rebuild a fitted scaler from :func:`scaler_state` output."""
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in state["params"].items()}
    scaler = SCALERS[state["kind"]](**params)
    for key, value in state["fitted"].items():
        setattr(scaler, key, np.asarray(value) if isinstance(value, list) else value)
    return scaler
