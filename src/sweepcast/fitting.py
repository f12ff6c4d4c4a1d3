"""Fit and predict: optimizer by name, seeding, early stopping, progress.

TensorFlow is imported inside functions so that config and data errors, which are checked
first, fail in a second instead of after TensorFlow's multi-second import.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from sweepcast import checks
from sweepcast.models.recursive import recursive_forecast

if TYPE_CHECKING:
    import keras

    from sweepcast.data.pipeline import PreparedData

log = logging.getLogger(__name__)

OPTIMIZERS = {"adam": "Adam", "adagrad": "Adagrad", "rmsprop": "RMSprop", "sgd": "SGD"}
PROGRESS = ("bar", "log", "none")
LOSSES = ("mse", "mae", "huber", "poisson")  # on scaled targets; poisson needs a positive output
KEYS = (
    "epochs", "batch_size", "optimizer", "learning_rate", "early_stopping_patience", "seed",
    "deterministic", "max_points", "progress", "steps_per_execution", "intra_op_threads", "inter_op_threads",
    "loss", "huber_delta",
)


@dataclass(frozen=True)
class TrainerSpec:
    epochs: int
    batch_size: int
    optimizer: str
    learning_rate: float
    early_stopping_patience: int | None
    seed: int
    deterministic: bool
    max_points: int | None
    progress: str
    steps_per_execution: int
    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    loss: str = "mse"
    huber_delta: float = 0.1  # in scaled units: minmax-scaled errors are fractions of the training range


def validate_trainer(cfg: Mapping[str, Any]) -> TrainerSpec:
    """Parse ``trainer.*``, naming the key of any bad value."""
    checks.known_keys("trainer", cfg, KEYS)

    def integer(key: str, minimum: int, optional: bool = False) -> int | None:
        return checks.integer(f"trainer.{key}", cfg.get(key), minimum, optional=optional)

    optimizer = checks.choice("trainer.optimizer", cfg.get("optimizer"), OPTIMIZERS)
    rate = checks.number("trainer.learning_rate", cfg.get("learning_rate"), 0, 10, low_open=True, high_open=True)
    progress = checks.choice("trainer.progress", cfg.get("progress", "bar"), PROGRESS)
    deterministic = checks.boolean("trainer.deterministic", cfg.get("deterministic", False))
    return TrainerSpec(
        epochs=integer("epochs", 1),
        batch_size=integer("batch_size", 1),
        optimizer=optimizer,
        learning_rate=rate,
        early_stopping_patience=integer("early_stopping_patience", 0, optional=True),
        seed=integer("seed", 0),
        deterministic=deterministic,
        max_points=integer("max_points", 1, optional=True),
        progress=progress,
        steps_per_execution=integer("steps_per_execution", 1) if "steps_per_execution" in cfg else 1,
        intra_op_threads=integer("intra_op_threads", 1, optional=True),
        inter_op_threads=integer("inter_op_threads", 1, optional=True),
        loss=checks.choice("trainer.loss", cfg.get("loss", "mse"), LOSSES),
        huber_delta=checks.number("trainer.huber_delta", cfg.get("huber_delta", 0.1), 0, low_open=True),
    )


def configure_threads(intra_op: int | None, inter_op: int | None, tensorflow: bool = True) -> None:
    """Set this trial's thread budget: TensorFlow's thread pools and scikit-learn's OpenMP threads.

    TensorFlow's pools freeze once TF runs its first op, so call this first. Small recurrent ops
    gain little from splitting one matmul over cores and lose to the synchronisation: see
    bench/README.md for what these settings are worth on 2 cores. ``intra_op`` is also the
    OpenMP budget of a GBDT fit (:func:`openmp_threads`); ``tensorflow=False`` (a baseline's
    job) sets only that, without importing TensorFlow.
    """
    global _openmp_budget
    _openmp_budget = openmp_threads(intra_op)
    if not tensorflow:
        return
    import tensorflow as tf  # here, not at the top: see the module docstring

    wanted = {"intra": intra_op, "inter": inter_op}
    current = {
        "intra": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter": tf.config.threading.get_inter_op_parallelism_threads(),
    }
    if all(value is None or value == current[pool] for pool, value in wanted.items()):
        return
    try:
        if intra_op is not None:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        if inter_op is not None:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:  # TF already initialised in this process (e.g. a second run in tests)
        log.warning("TensorFlow already started; keeping its thread pools (intra %s, inter %s)", current["intra"], current["inter"])


_openmp_budget: int | None = None  # set by configure_threads; None: never configured in this process


def openmp_threads(intra_op: int | None = None, workers: int | None = None, cores: int | None = None) -> int:
    """OpenMP threads for scikit-learn in one trial: ``trainer.intra_op_threads`` when set, else
    ``max(1, cores // workers)``, capped by ``OMP_NUM_THREADS`` when that is set.

    ``workers`` defaults to this machine's sweep workers (``hydra.sweeper.n_jobs`` in a multirun,
    else 1) and ``cores`` to the CPUs this process may run on. Unlimited, scikit-learn's OpenMP
    takes every core in each of the ``n_jobs`` processes, and they fight (issue 16.9).
    """
    if intra_op is not None:
        return max(1, int(intra_op))
    workers = sweep_workers() if workers is None else workers
    cores = available_cores() if cores is None else cores
    budget = max(1, cores // max(1, workers))
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        budget = min(budget, int(env))
    return budget


def trial_openmp_threads() -> int:
    """The OpenMP budget :func:`configure_threads` last set in this process, else the default rule."""
    return openmp_threads() if _openmp_budget is None else _openmp_budget


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def sweep_workers() -> int:
    """Worker processes of this sweep on this machine (``hydra.sweeper.n_jobs``), 1 outside a multirun."""
    from hydra.core.hydra_config import HydraConfig  # here: fitting is also used outside Hydra
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return 1
    n_jobs = OmegaConf.select(HydraConfig.get(), "sweeper.n_jobs", default=None)
    return n_jobs if isinstance(n_jobs, int) and n_jobs >= 1 else 1


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and TensorFlow; optionally force deterministic TF kernels (slower)."""
    import keras  # here, not at the top: see the module docstring
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def make_optimizer(name: str, learning_rate: float) -> "keras.optimizers.Optimizer":
    import keras  # here, not at the top: see the module docstring

    return getattr(keras.optimizers, OPTIMIZERS[name])(learning_rate=learning_rate)


@dataclass
class FitResult:
    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int
    seconds: float
    samples_per_second: float


def fit(
    model: "keras.Model",
    data: "PreparedData",
    spec: TrainerSpec,
    callbacks: Sequence["keras.callbacks.Callback"] = (),
    show_bar: bool = True,
) -> FitResult:
    """Compile with ``trainer.loss`` on scaled targets (or the data's own ``training_objective``,
    e.g. a ranking's cross-entropy) and fit on train windows, validating on val windows."""
    import keras  # here, not at the top: see the module docstring

    objective = data.training_objective() if hasattr(data, "training_objective") else {
        "loss": keras.losses.Huber(spec.huber_delta) if spec.loss == "huber" else spec.loss,  # on scaled targets
        # RMSE without regularisation terms, for the per-epoch val_rmse in original units
        "metrics": [keras.metrics.RootMeanSquaredError(name="scaled_rmse")],
    }
    model.compile(optimizer=make_optimizer(spec.optimizer, spec.learning_rate), **objective,
                  steps_per_execution=spec.steps_per_execution)
    train = data.dataset("train", spec.batch_size, shuffle=True, seed=spec.seed)
    val = data.dataset("val", spec.batch_size)
    # TerminateOnNaN: a diverged run stops at once instead of burning its remaining epochs.
    all_callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.TerminateOnNaN(), *callbacks, epoch_logger(spec.epochs)
    ]
    stopper = None
    if spec.early_stopping_patience is not None:
        stopper = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=spec.early_stopping_patience, restore_best_weights=True
        )
        all_callbacks.append(stopper)
    # a bar only on a terminal: redirected to a file it is kilobytes of escape codes per epoch
    # (the epoch log lines carry the same numbers either way)
    verbose = 1 if (show_bar and spec.progress == "bar" and sys.stdout.isatty()) else 0
    started = time.perf_counter()
    history = model.fit(
        train, validation_data=val, epochs=spec.epochs, callbacks=all_callbacks, verbose=verbose, shuffle=False
    )  # the dataset shuffles window starts itself
    seconds = time.perf_counter() - started
    epochs_run = len(history.history.get("loss", []))
    val_losses = history.history.get("val_loss", [])
    best = int(np.argmin(val_losses)) if val_losses else epochs_run - 1
    n_train = data.window_count("train")
    return FitResult(
        history={k: [float(v) for v in vs] for k, vs in history.history.items()},
        epochs_run=epochs_run,
        best_epoch=best,
        seconds=seconds,
        samples_per_second=n_train * epochs_run / seconds if seconds > 0 else float("nan"),
    )


def predict_split(model: "keras.Model", data: "PreparedData", split: str, batch_size: int) -> np.ndarray:
    """``[windows, horizon]`` forecasts for every window of ``split``, in original units (a ranking
    task's data predicts for itself: its places, best first)."""
    if hasattr(data, "predict"):
        return np.asarray(data.predict(model, split, batch_size))
    if data.task.outputs < data.horizon:
        return recursive_forecast(lambda windows: model.predict(windows, batch_size=batch_size, verbose=0), data, split)
    return data.inverse_target(model.predict(data.dataset(split, batch_size), verbose=0))


def epoch_logger(epochs: int) -> "keras.callbacks.Callback":
    """One log line per epoch through ``logging`` (Hydra also writes it to the job's log file)."""
    import keras  # here, not at the top: see the module docstring

    class EpochLogger(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
            values = "  ".join(f"{k} {v:.5g}" for k, v in (logs or {}).items() if k != "learning_rate")
            log.info("epoch %d/%d  %s  (%.1fs)", epoch + 1, epochs, values, time.perf_counter() - self.started)

    return EpochLogger()


def val_rmse_callback(data: Any) -> "keras.callbacks.Callback":
    """Adds ``epoch_val_rmse`` (validation RMSE in original units) to each epoch's logs, so the
    epoch log, MLflow and a sweep's pruner all see the number users optimise: Keras' scaled RMSE
    times the unit scale, or, with a nonlinear ``data.transform``, the validation windows
    predicted and scored in original units (one extra forward pass over them per epoch)."""
    import keras  # here, not at the top: see the module docstring

    exact = not getattr(data, "linear_target", True)
    unit_scale = None if exact else data.target_unit_scale()

    class ValRmse(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            if logs is None:
                return
            if unit_scale is not None and "val_scaled_rmse" in logs:
                logs["epoch_val_rmse"] = float(logs["val_scaled_rmse"]) * unit_scale
            elif exact:
                steps = data.task.outputs
                predicted = self.model.predict(data.dataset("val", 1024), verbose=0)
                truth = data.inverse_target(data.scaled_targets("val", steps))
                logs["epoch_val_rmse"] = float(np.sqrt(np.mean((data.inverse_target(predicted) - truth) ** 2)))

    return ValRmse()


def trial_reporter(report: Callable[[int, float], bool], key: str = "epoch_val_rmse",
                   last_epoch: int | None = None) -> "keras.callbacks.Callback":
    """Reports the epoch metric ``key`` (validation RMSE in original units; a ranking's
    ``val_acc1``) to a sweep trial each epoch; stops training when it is pruned
    (``pruned_epoch`` then holds the 1-based epoch).

    Never at ``last_epoch``: pruning saves the epochs still to run, and after the last there are
    none, so a pruned trial would only lose its test metrics (a 1-epoch ``trainer=smoke`` sweep
    under Successive Halving lost every trial's that way)."""
    import keras  # here, not at the top: see the module docstring

    class TrialReporter(keras.callbacks.Callback):
        pruned_epoch: int | None = None
        last_value: float = float("nan")

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            value = (logs or {}).get(key)
            if value is None or not np.isfinite(value):
                return
            self.last_value = float(value)
            if report(epoch + 1, float(value)) and (last_epoch is None or epoch + 1 < last_epoch):
                self.pruned_epoch = epoch + 1
                self.model.stop_training = True

    return TrialReporter()
