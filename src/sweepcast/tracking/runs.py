"""The job's write side: one MLflow run per job, with its config, metrics, curves, files and model.

Runs are only ever created, never overwritten; a run whose job raises ends FAILED (KILLED on
Ctrl-C) with the reason in the ``error`` tag, so no FINISHED run exists for a failed job.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import subprocess
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import mlflow
from mlflow.models import Model, infer_signature
from mlflow.tracking import MlflowClient

from sweepcast import disk_space
from sweepcast.errors import TrialPruned

if TYPE_CHECKING:
    import keras
    import pandas as pd

log = logging.getLogger("sweepcast.tracking")

MODEL_ARTIFACT = "model"

# MLflow logs each failed SQL statement with its traceback; a full disk gets our one line instead
logging.getLogger("mlflow.store.db.utils").addFilter(disk_space.QuietWhenFull())


@contextmanager
def start_run(experiment_id: str, run_name: str, tags: Mapping[str, str]) -> Iterator[str]:
    """A run that ends FINISHED only if the block completes; yields the run id.

    A pruned sweep trial ends KILLED with ``trial_state=PRUNED`` and ``pruned_at_epoch`` tags."""
    run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=dict(tags))
    try:
        yield run.info.run_id
    except TrialPruned as pruned:  # the sweep's pruner stopped it: metrics so far stay
        mlflow.set_tags({"trial_state": "PRUNED", "pruned_at_epoch": str(pruned.epoch)})
        mlflow.end_run("KILLED")
        raise
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (errors.Terminated says which)
        mlflow.set_tag("error", str(stop) or "interrupted by the user")
        mlflow.end_run("KILLED")
        raise
    except BaseException as err:  # noqa: BLE001 - every failure must end the run as FAILED
        if disk_space.is_disk_full(err):
            disk_space.release()  # room for the two writes below
            close_failed(disk_space.describe(err))
        else:
            close_failed(f"{type(err).__name__}: {str(err)[:4000]}")
        raise
    try:
        mlflow.end_run("FINISHED")
    except Exception as err:
        if not disk_space.is_disk_full(err):
            raise
        disk_space.release()  # the run's last write found the disk full: it ends FAILED, not RUNNING
        close_failed(disk_space.describe(err))
        raise disk_space.DiskFull(disk_space.describe(err)) from err


def close_failed(error: str) -> None:
    """End the active run FAILED with ``error``; on a disk still full, warn that it stays RUNNING
    (the original error, not this one, is what the user must see)."""
    try:
        mlflow.set_tag("error", error)
        mlflow.end_run("FAILED")
    except Exception as err:
        if not disk_space.is_disk_full(err):
            raise
        run = mlflow.active_run()
        log.warning("MLflow run %s could not be marked FAILED: the disk is still full", run.info.run_id if run else "?")


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"model": {"layers": 2}}`` -> ``{"model.layers": "2"}``; lists stay one JSON value."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, tuple)) else str(value)
    return flat


def log_config(config: Mapping[str, Any], yaml_text: str) -> None:
    """The resolved config: flattened as params (searchable in the UI) and whole as YAML."""
    mlflow.log_params(flatten(config))
    mlflow.log_text(yaml_text, "config.yaml")


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log finite values; a NaN (e.g. R² of a constant split) is skipped with a note."""
    finite = {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}
    skipped = sorted(set(metrics) - set(finite))
    if skipped:
        log.warning("not logging non-finite metrics: %s", ", ".join(skipped))
    mlflow.log_metrics(finite, step=step)


def log_series(key: str, values: list[float]) -> None:
    """One metric over steps 1..len(values) in a single call (MLflow charts it as a curve), e.g.
    test RMSE per horizon step; non-finite values are left out."""
    run = mlflow.active_run()
    stamp = int(1000 * time.time())
    points = [mlflow.entities.Metric(key, float(v), stamp, step) for step, v in enumerate(values, start=1) if math.isfinite(float(v))]
    if run is not None and points:
        MlflowClient().log_batch(run.info.run_id, metrics=points)


def log_json(payload: Any, artifact_file: str) -> None:
    mlflow.log_dict(payload, artifact_file)


def log_table_csv(frame: "pd.DataFrame", artifact_file: str, digits: int = 6) -> None:
    """A small table as CSV text (readable anywhere, unlike a pickled frame), ``digits`` significant."""
    mlflow.log_text(frame.to_csv(index=False, float_format=f"%.{digits}g"), artifact_file)


def log_html(html: str, artifact_file: str) -> None:
    mlflow.log_text(html, artifact_file)


def log_file(path: str | Path, folder: str | None = None) -> None:
    """An existing file into the active run (under ``folder`` when given); a missing one is skipped."""
    if Path(path).is_file():
        mlflow.log_artifact(str(path), folder)


def log_keras_model(model: "keras.Model", example_input: Any) -> str:
    """Log with a signature and input example; pinned requirements skip MLflow's slow inference."""
    import keras  # here, not at the top: TensorFlow loads only for runs that train a network

    signature = infer_signature(example_input, model.predict(example_input, verbose=0))
    # MLflow predicts on the example while saving: route Keras' progress bars to absl's
    # logger and silence it for that moment, so no stray bars land in the job's output.
    absl_logger = logging.getLogger("absl")
    absl_level = absl_logger.level
    keras.config.disable_interactive_logging()
    absl_logger.setLevel(logging.WARNING)
    try:
        info = Model.log(
            artifact_path=None,
            name=MODEL_ARTIFACT,
            flavor=_KERAS_FLAVOR,
            model=model,
            signature=signature,
            input_example=example_input,
            pip_requirements=[f"keras=={keras.__version__}", tensorflow_requirement()],
        )
    finally:
        keras.config.enable_interactive_logging()
        absl_logger.setLevel(absl_level)
    mlflow.set_tag("model_uri", info.model_uri)
    return info.model_uri


def _save_keras_model(path: str, **kwargs: Any) -> None:
    """``mlflow.keras.save_model`` after creating ``path``: MLflow 3.17 writes the input
    example into ``path`` before creating it (FileNotFoundError from ``log_model``)."""
    import mlflow.keras  # here, not at the top: mlflow.keras imports TensorFlow

    os.makedirs(path, exist_ok=True)
    mlflow.keras.save_model(path=path, **kwargs)


# A flavor module for Model.log: mlflow.keras's name (so the MLmodel is standard) with the fix above.
_KERAS_FLAVOR = SimpleNamespace(__name__="mlflow.keras", save_model=_save_keras_model)


def tensorflow_requirement() -> str:
    """Whichever TensorFlow distribution is installed, pinned."""
    for dist in ("tensorflow-cpu", "tensorflow"):
        try:
            return f"{dist}=={metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return "tensorflow"


def epoch_callback() -> "keras.callbacks.Callback":
    """A Keras callback logging every epoch's ``loss``/``val_loss`` (and friends) to the active run."""
    import keras  # here, not at the top: TensorFlow loads only for runs that train a network

    class MlflowEpochLogger(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
            if logs:
                log_metrics({k: v for k, v in logs.items() if k != "learning_rate"}, step=epoch)

    return MlflowEpochLogger()


@functools.lru_cache(maxsize=8)
def git_tags(cwd: str | Path = ".") -> dict[str, str]:
    """Commit and dirty flag of the code that ran, when it runs from a git checkout (asked once
    per process: a sweep's trials all run the same code)."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        commit = git("rev-parse", "HEAD")
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if not commit:
        return {}
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {"git_commit": commit, "git_dirty": str(dirty).lower()}
