"""The model registry: an exported folder logged as its own run and registered under a name, and
the alias (``champion``) that points at one version."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Mapping

import mlflow
from mlflow.exceptions import MlflowException

from sweepcast.console import verbose
from sweepcast.tracking.reading import Store
from sweepcast.tracking.store import TrackingError
from sweepcast.tracking.views import ModelVersionView


def version_by_alias(store: Store, name: str, alias: str) -> ModelVersionView | None:
    """The version of registered model ``name`` that ``alias`` points at; None when there is none."""
    try:
        found = store.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    return ModelVersionView(str(found.version), dict(found.tags))


def register_folder(folder: Path, experiment_id: str, run_name: str, run_tags: Mapping[str, str], artifact_path: str,
                    name: str, version_tags: Mapping[str, str], metrics: Mapping[str, float] | None = None) -> str:
    """Log ``folder`` as a new run's ``artifact_path`` in the current store and register that as a
    new version of ``name``; return the version. TrackingError when the store refuses (the run
    then ends FAILED)."""
    try:
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=dict(run_tags)) as run:
            mlflow.log_artifacts(str(folder), artifact_path)
            if metrics:  # what the export measured (an interval's test coverage)
                mlflow.log_metrics(dict(metrics))
            # MLflow prints "Successfully registered model" and "Created version" itself; the
            # caller logs the version (and its alias) in one line of ours
            with contextlib.redirect_stderr(io.StringIO()) if not verbose() else contextlib.nullcontext():
                return str(mlflow.register_model(f"runs:/{run.info.run_id}/{artifact_path}", name,
                                                 tags=dict(version_tags)).version)
    except MlflowException as err:
        raise TrackingError.of(err) from None


def set_alias(store: Store, name: str, alias: str, version: str) -> None:
    store.set_registered_model_alias(name, alias, version)
