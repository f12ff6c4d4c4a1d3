"""Lookback windows: what a window forecasts, which rows it reads, and ``tf.data`` pipelines of them.

Windows are never materialised as an ``N x timestep`` array: the dataset holds the scaled
series once and each batch gathers its windows from start indices (one vectorised
``tf.gather`` per batch), so memory does not grow with ``timestep``. No target crosses a split
boundary: training windows stay inside the training split, and validation and test windows read
their history from the split before them (so every timestep forecasts the same target rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from sweepcast import checks
from sweepcast.data.splits import SPLITS, SplitBounds
from sweepcast.errors import DataError

if TYPE_CHECKING:  # tensorflow is imported lazily: it costs seconds and bad input should fail fast
    import tensorflow as tf

STRATEGIES = ("direct", "recursive")


@dataclass(frozen=True)
class ForecastTask:
    """What each window forecasts: ``horizon`` steps after ``timestep`` inputs.

    ``direct`` models output all ``horizon`` steps at once; ``recursive`` models learn one step
    and feed each prediction back as the next input (the livestream study's approach), which
    needs the target to be the only input: other columns' future values are unknown. ``kind``
    names the task (:mod:`sweepcast.tasks`) that made it, so a model family can say which it serves.
    """

    timestep: int
    horizon: int = 1
    strategy: str = "direct"
    kind: str = "series"  # the task's name: series | checkins | next_place (sweepcast/tasks/)
    targets: int = 1  # values per forecast step: 1 for a series, 3 (dt, lat, lon) for a check-in, a
    # score per place for next_place
    ranking: "Ranking | None" = None  # next_place: what a ranking network reads and emits

    @property
    def outputs(self) -> int:
        """Values a model emits per window: every step's targets, or one step's for recursive models."""
        return (self.horizon if self.strategy == "direct" else 1) * self.targets


@dataclass(frozen=True)
class Ranking:
    """A ranking task's model shape: input column 0 is a place index below ``places`` (embedded in
    ``place_dim`` dimensions); ``candidates`` places are scored per window from ``features``
    numbers each (:mod:`sweepcast.data.place_candidates`); ``gap`` adds the time to the next
    check-in as a second output."""

    places: int
    place_dim: int
    candidates: int
    features: int
    gap: bool = False


def window_settings(data_cfg: Mapping[str, object]) -> tuple[int, int, str]:
    """``data.timestep``, ``data.horizon`` and ``data.strategy``, checked (no data needed); each
    task builds its :class:`ForecastTask` from them."""
    timestep = checks.integer("data.timestep", data_cfg.get("timestep"), 1)
    horizon = checks.integer("data.horizon", data_cfg.get("horizon", 1), 1, hint=" (steps to forecast)")
    strategy = checks.choice("data.strategy", data_cfg.get("strategy", "direct"), STRATEGIES)
    return timestep, horizon, strategy


def check_windows(task: ForecastTask, bounds: SplitBounds) -> None:
    """The training split must hold at least one full window plus its ``horizon`` targets; the
    validation and test splits (whose windows read their history from the split before) at least
    ``horizon`` targets."""
    for name in SPLITS:
        rows = bounds.length(name)
        if name == "train" and window_count(rows, task.timestep, task.horizon) < 1:
            advice = (f"a timestep below {rows - task.horizon + 1}" if task.horizon < rows
                      else f"a horizon below {rows}")
        elif name != "train" and rows < task.horizon:
            advice = f"a horizon of at most {rows}"
        else:
            continue
        raise DataError(
            f"data.timestep={task.timestep} with data.horizon={task.horizon} leaves no window in the {name} split "
            f"({rows} rows); use {advice}, or more data"
        )


def input_rows(target_rows: np.ndarray, timestep: int) -> np.ndarray:
    """``[windows, timestep]`` row numbers each window reads: the ``timestep`` rows before the row
    it forecasts (series windows and check-in windows alike)."""
    return np.asarray(target_rows)[:, None] - timestep + np.arange(timestep)[None, :]


def window_count(n_rows: int, timestep: int, horizon: int = 1) -> int:
    """Windows of ``timestep`` inputs followed by ``horizon`` targets inside ``n_rows``."""
    return max(n_rows - timestep - horizon + 1, 0)


def window_dataset(
    inputs: np.ndarray,
    targets: np.ndarray,
    timestep: int,
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
    horizon: int = 1,
) -> "tf.data.Dataset":
    """Batches of ``(x[B, timestep, F], y[B, horizon])`` for one split, gathered per batch.

    ``inputs`` is ``[n, F]`` and ``targets`` ``[n]`` (already scaled, float32). Shuffling
    permutes window start indices only (a full shuffle costs one int64 per window).
    """
    import tensorflow as tf  # here, not at the top: TensorFlow takes seconds; config and data errors fail first

    count = window_count(len(inputs), timestep, horizon)
    if count < 1:
        raise DataError(f"no window of {timestep} steps and {horizon} target(s) fits in {len(inputs)} rows")
    series = tf.constant(np.ascontiguousarray(inputs, dtype=np.float32))
    future = tf.constant(np.ascontiguousarray(targets[timestep:], dtype=np.float32))
    offsets = tf.range(timestep, dtype=tf.int64)
    steps = tf.range(horizon, dtype=tf.int64)

    def gather(batch_starts: "tf.Tensor") -> tuple["tf.Tensor", "tf.Tensor"]:
        x = tf.gather(series, batch_starts[:, None] + offsets[None, :])
        y = tf.gather(future, batch_starts[:, None] + steps[None, :])
        return x, y

    return batched(tf.data.Dataset.range(count), count, gather, batch_size, shuffle, seed)


def rows_window_dataset(
    inputs: np.ndarray,
    targets: np.ndarray,
    rows: np.ndarray,
    timestep: int,
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
) -> "tf.data.Dataset":
    """Batches of ``(x[B, timestep, F], y[B, K])`` for windows given by their target rows.

    Window ``i`` reads rows ``rows[i] - timestep .. rows[i] - 1`` of ``inputs`` ``[n, F]`` and
    forecasts ``targets[rows[i]]`` (``[n, K]``). The caller picks rows whose windows stay inside
    one sequence (a check-in user); memory is one int64 per window, whatever ``timestep``.
    """
    import tensorflow as tf  # here, not at the top: TensorFlow takes seconds; config and data errors fail first

    if len(rows) < 1:
        raise DataError(f"no window of {timestep} steps to forecast")
    series = tf.constant(np.ascontiguousarray(inputs, dtype=np.float32))
    values = tf.constant(np.ascontiguousarray(targets, dtype=np.float32))
    offsets = tf.range(-timestep, 0, dtype=tf.int64)

    def gather(batch_rows: "tf.Tensor") -> tuple["tf.Tensor", "tf.Tensor"]:
        return tf.gather(series, batch_rows[:, None] + offsets[None, :]), tf.gather(values, batch_rows)

    starts = tf.data.Dataset.from_tensor_slices(np.asarray(rows, dtype=np.int64))
    return batched(starts, len(rows), gather, batch_size, shuffle, seed)


def batched(starts: "tf.data.Dataset", count: int, gather: Any, batch_size: int, shuffle: bool,
            seed: int | None) -> "tf.data.Dataset":
    """Shuffle window indices (not windows), batch them, and gather each batch's windows."""
    import tensorflow as tf  # here, not at the top: TensorFlow takes seconds; config and data errors fail first

    if shuffle:
        starts = starts.shuffle(count, seed=seed, reshuffle_each_iteration=True)
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
