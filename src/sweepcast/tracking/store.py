"""Which MLflow store: the one default, ``tracking.uri`` made absolute, and the experiment a run goes to.

Default store: ``sqlite:///mlruns/mlflow.db`` with artifacts under ``mlruns/artifacts``, both
relative to where the command runs (MLflow 3 refuses a plain ``./mlruns`` file store).
``$MLFLOW_TRACKING_URI`` overrides it, e.g. an ``http://`` tracking server. Every path that
opens a local SQLite store goes through :func:`prepare_store` (its first creation under a file
lock, :mod:`.store_lock`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from sweepcast.errors import SweepcastError
from sweepcast.redaction import refuse_credentials
from sweepcast.tracking.store_lock import prepare_store as prepare_sqlite

DEFAULT_STORE = "sqlite:///mlruns/mlflow.db"  # conf/train.yaml's default; the CLI verbs fall back to it too
SQLITE = "sqlite:///"


class TrackingError(Exception):
    """MLflow (or the file system under its store) refused; ``str(err)`` is its own message."""

    @classmethod
    def of(cls, err: BaseException) -> "TrackingError":
        text = str(getattr(err, "message", None) or err)
        return cls(text if text.strip() else type(err).__name__)


def default_store() -> str:
    """``$MLFLOW_TRACKING_URI``, else the project's SQLite store under ``mlruns/``; a URL with a
    password is refused (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, PGPASSWORD instead)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_STORE
    refuse_credentials("environment variable MLFLOW_TRACKING_URI", uri)
    return uri


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` store (a relative path taken from the working
    directory), or None for any other store."""
    if not uri.startswith(SQLITE):
        return None
    path = Path(uri[len(SQLITE):])
    return path if path.is_absolute() else path.resolve()


def resolve_tracking_uri(uri: str) -> str:
    """Make a relative ``sqlite:///`` path absolute and create its folder."""
    path = sqlite_path(uri)
    if path is not None and not uri.startswith(SQLITE + "/"):
        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLITE + str(path)
    return uri


def existing_store(given: str | None) -> str:
    """The MLflow store to read (``given``, else the default); a local SQLite file must already
    exist (reading creates nothing there; one left half-migrated is repaired or refused, see
    :func:`prepare_store`)."""
    uri = given or default_store()
    path = sqlite_path(uri)
    if path is not None:
        if not path.is_file():
            raise SweepcastError(f"--tracking-uri {uri}: no MLflow store at {path}; run where you trained or pass "
                                 "--tracking-uri")
        prepare_store(SQLITE + str(path))
        return SQLITE + str(path)
    return resolve_tracking_uri(uri)


def prepare_store(uri: str) -> None:
    """A local SQLite store is created (MLflow's schema and migrations) under ``<db>.lock`` the
    first time, so processes starting together do not migrate it at once; one left with
    ``_alembic_tmp_*`` tables is repaired or refused in one line. Cheap once it exists (one
    read-only query per process); other stores (PostgreSQL, a server) are left alone."""
    path = sqlite_path(uri)
    if path is not None:
        prepare_sqlite(path, uri)


def is_local_store(uri: str) -> bool:
    """A store whose artifacts we place ourselves (a server decides its own)."""
    return uri.startswith("sqlite:") or uri.startswith("file:")


def use_store(tracking: Mapping[str, Any]) -> str:
    """Point MLflow at the configured store; return its (absolute) URI."""
    import mlflow  # here, not at the top: the CLI imports this module for its help text, before any check

    uri = resolve_tracking_uri(str(tracking["uri"]))
    prepare_store(uri)
    mlflow.set_tracking_uri(uri)
    return uri


def open_experiment(tracking: Mapping[str, Any], experiment: str) -> str:
    """Point MLflow at the configured store and return the experiment's id, creating it once."""
    from mlflow.exceptions import MlflowException  # here, not at the top: see use_store
    from mlflow.tracking import MlflowClient

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
    except MlflowException as err:  # another worker created it first (many workers start together)
        again = client.get_experiment_by_name(experiment)
        if err.error_code != "RESOURCE_ALREADY_EXISTS" or again is None:
            raise
        return again.experiment_id


def ui_hint(tracking_uri: str) -> str:
    """The command that opens the MLflow UI on this store (ours: it says when it is ready and
    stops whole, unlike plain ``mlflow ui``)."""
    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith("http"):
        return f"open {uri}"
    cwd_prefix = SQLITE + str(Path.cwd()) + os.sep
    shown = SQLITE + uri[len(cwd_prefix):] if uri.startswith(cwd_prefix) else uri
    if shown == DEFAULT_STORE:
        return "python -m sweepcast ui"
    return f"python -m sweepcast ui --tracking-uri {shown}"

