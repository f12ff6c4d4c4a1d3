"""The sweep's parent run: opened (or reopened on resume) by the sweeper, updated as trials end,
closed by the last worker; plus the runs the sweeper writes for trials that could not.

Driven through the client (not the fluent API) because the same process also opens and closes
its trials' child runs while the parent stays open.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Mapping

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sweepcast.tracking.store import TrackingError, prepare_store

log = logging.getLogger("sweepcast.tracking")


def start_sweep_run(experiment_id: str, run_id: str | None, name: str, tags: Mapping[str, str]) -> str:
    """Reopen the sweep's parent run (a resumed study) or create it; return its id."""
    prepare_store(mlflow.get_tracking_uri())  # already done by open_experiment in this process: then free
    client = MlflowClient()
    if run_id:
        try:
            client.update_run(run_id, status="RUNNING")
            if "error" in client.get_run(run_id).data.tags:  # why the last launch stopped: no longer true
                client.delete_tag(run_id, "error")
            return run_id
        except MlflowException as err:
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


def attach_file(tracking_uri: str, run_id: str, path: Path) -> None:
    """One file onto a run of the store at ``tracking_uri`` (e.g. a report rewritten later onto
    its sweep's parent run); TrackingError when the store refuses."""
    prepare_store(tracking_uri)
    try:
        MlflowClient(tracking_uri).log_artifact(run_id, str(path))
    except (MlflowException, OSError) as err:
        raise TrackingError.of(err) from None


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
    except MlflowException as err:
        log.warning("could not close MLflow run %s: %s", run_id, err)
