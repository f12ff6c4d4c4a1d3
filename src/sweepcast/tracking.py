"""The only module that talks to MLflow.

Default store: ``sqlite:///mlruns/mlflow.db`` with artifacts under ``mlruns/artifacts``, both
relative to where the command runs (MLflow 3 refuses a plain ``./mlruns`` file store).
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
from mlflow.tracking import MlflowClient

from sweepcast.errors import SweepcastError, TrialPruned

if TYPE_CHECKING:
    import keras
    import pandas as pd

log = logging.getLogger(__name__)

MODEL_ARTIFACT = "model"
DEFAULT_STORE = "sqlite:///mlruns/mlflow.db"  # conf/train.yaml's default; the CLI verbs fall back to it too


def default_store() -> str:
    """``$MLFLOW_TRACKING_URI``, else the project's SQLite store under ``mlruns/``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_STORE


def resolve_tracking_uri(uri: str) -> str:
    """Make a relative ``sqlite:///`` path absolute and create its folder."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        path = Path(uri[len(prefix):]).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return prefix + str(path)
    return uri


def is_local_store(uri: str) -> bool:
    """A store whose artifacts we place ourselves (a server decides its own)."""
    return uri.startswith("sqlite:") or uri.startswith("file:")


def use_store(tracking: Mapping[str, Any]) -> str:
    """Point MLflow at the configured store; return its (absolute) URI."""
    uri = resolve_tracking_uri(str(tracking["uri"]))
    mlflow.set_tracking_uri(uri)
    return uri


def open_experiment(tracking: Mapping[str, Any], experiment: str) -> str:
    """Point MLflow at the configured store and return the experiment's id, creating it once."""
    uri = use_store(tracking)
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is not None and found.lifecycle_stage == "deleted":
        raise SweepcastError(
            f"MLflow experiment '{experiment}' (id {found.experiment_id}) is deleted; restore it with "
            f"'mlflow experiments restore --experiment-id {found.experiment_id}' or set tracking.experiment"
        )
    if found is not None:
        return found.experiment_id
    location = None
    if is_local_store(uri):
        root = Path(str(tracking.get("artifact_root") or "mlruns/artifacts")).resolve()
        location = (root / experiment).as_uri()
    try:
        return client.create_experiment(experiment, artifact_location=location)
    except mlflow.exceptions.MlflowException as err:  # another worker created it first (many workers start together)
        again = client.get_experiment_by_name(experiment)
        if err.error_code != "RESOURCE_ALREADY_EXISTS" or again is None:
            raise
        return again.experiment_id


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
    except KeyboardInterrupt:
        mlflow.set_tag("error", "interrupted by the user")
        mlflow.end_run("KILLED")
        raise
    except BaseException as err:  # noqa: BLE001 - every failure must end the run as FAILED
        mlflow.set_tag("error", f"{type(err).__name__}: {str(err)[:4000]}")
        mlflow.end_run("FAILED")
        raise
    mlflow.end_run("FINISHED")


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


def log_file(path: str | Path) -> None:
    if Path(path).is_file():
        mlflow.log_artifact(str(path))


def log_keras_model(model: "keras.Model", example_input: Any) -> str:
    """Log with a signature and input example; pinned requirements skip MLflow's slow inference."""
    import keras
    from mlflow.models import Model, infer_signature

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
    import mlflow.keras

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
    import keras

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


def ui_hint(tracking_uri: str) -> str:
    """The command that opens the MLflow UI on this store."""
    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith("http"):
        return f"open {uri}"
    cwd_prefix = "sqlite:///" + str(Path.cwd()) + os.sep
    shown = "sqlite:///" + uri[len(cwd_prefix):] if uri.startswith(cwd_prefix) else uri
    return f"mlflow ui --backend-store-uri {shown}"


def load_logged_model(model_uri: str) -> "keras.Model":
    """Load a logged Keras model back (tests and the export step use this)."""
    import mlflow.keras

    return mlflow.keras.load_model(model_uri)


# Sweep parent runs: driven through the client (not the fluent API) because the same process
# also opens and closes its trials' child runs while the parent stays open.

def start_sweep_run(experiment_id: str, run_id: str | None, name: str, tags: Mapping[str, str]) -> str:
    """Reopen the sweep's parent run (a resumed study) or create it; return its id."""
    client = MlflowClient()
    if run_id:
        try:
            client.update_run(run_id, status="RUNNING")
            return run_id
        except mlflow.exceptions.MlflowException as err:
            log.warning("sweep parent run %s cannot be reopened (%s); starting a new one", run_id, err)
    return client.create_run(experiment_id, run_name=name, tags=dict(tags)).info.run_id


def log_sweep_params(run_id: str, params: Mapping[str, Any]) -> None:
    MlflowClient().log_batch(run_id, params=[mlflow.entities.Param(k, str(v)[:6000]) for k, v in params.items()])


def update_sweep_run(run_id: str, metrics: Mapping[str, float], step: int, tags: Mapping[str, str]) -> None:
    """Progress of the sweep on its parent run (best value so far, trial counts, best params)."""
    now = int(time.time() * 1000)
    client = MlflowClient()
    client.log_batch(
        run_id,
        metrics=[mlflow.entities.Metric(k, float(v), now, step) for k, v in metrics.items()
                 if v is not None and math.isfinite(float(v))],
        tags=[mlflow.entities.RunTag(k, str(v)[:5000]) for k, v in tags.items()],
    )


def log_sweep_files(run_id: str, paths: list[Path]) -> None:
    client = MlflowClient()
    for path in paths:
        if path.is_file():
            client.log_artifact(run_id, str(path))


def end_sweep_run(run_id: str, status: str, error: str | None = None) -> None:
    client = MlflowClient()
    if error:
        client.set_tag(run_id, "error", error[:4000])
    client.set_terminated(run_id, status)


def record_failed_run(experiment_id: str, name: str, error: str, tags: Mapping[str, str]) -> str:
    """A FAILED run for a sweep trial whose job failed before it could open its own run (e.g. a
    data error), so every trial has a run in the UI and the reason is on it."""
    client = MlflowClient()
    run_id = client.create_run(experiment_id, run_name=name, tags={**tags, "error": error[:4000]}).info.run_id
    client.set_terminated(run_id, "FAILED")
    return run_id


def close_abandoned_run(run_id: str, reason: str) -> None:
    """End a run whose process died while it was RUNNING (KILLED, with the reason)."""
    client = MlflowClient()
    try:
        if client.get_run(run_id).info.status != "RUNNING":
            return
        client.set_tag(run_id, "error", reason)
        client.set_terminated(run_id, "KILLED")
    except mlflow.exceptions.MlflowException as err:
        log.warning("could not close MLflow run %s: %s", run_id, err)
