"""The read side, for export and the reports: runs, their metrics and artifacts, as plain data.

Functions take a ``Store`` from :func:`reader` (an open handle on one store: pass it back here,
read nothing from it yourself) and return :class:`RunView`, dicts, lists and text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sweepcast.tracking.store import TrackingError
from sweepcast.tracking.views import RunView

if TYPE_CHECKING:
    import keras

Store = MlflowClient  # the handle reader() returns; typed here so no caller needs MLflow's name for it

MAX_RUNS = 50_000


def reader(tracking_uri: str) -> Store:
    """A handle on the store at ``tracking_uri`` (the process's current store is left as it is)."""
    return MlflowClient(tracking_uri)


def run_view(run: Any) -> RunView:
    """An MLflow run as plain data."""
    info, data = run.info, run.data
    return RunView(info.run_id, info.run_name, info.experiment_id, info.status, info.artifact_uri,
                   dict(data.params), dict(data.metrics), dict(data.tags))


def experiment_ids(store: Store) -> list[str]:
    """Every (active) experiment of the store."""
    return [e.experiment_id for e in store.search_experiments()]


def experiment_names(store: Store) -> list[str]:
    return [e.name for e in store.search_experiments()]


def experiment_id(store: Store, name: str) -> str | None:
    """The experiment called ``name``, None when the store has none."""
    experiment = store.get_experiment_by_name(name)
    return None if experiment is None else experiment.experiment_id


def experiment_name(store: Store, experiment_id: str) -> str:
    return store.get_experiment(experiment_id).name


def get_run(store: Store, run_id: str) -> RunView:
    return run_view(store.get_run(run_id))


def find_run(store: Store, run_id: str) -> RunView | None:
    """The run, or None when the store has no run with that id."""
    try:
        return get_run(store, run_id)
    except MlflowException:
        return None


def finished_runs(store: Store, experiment_ids: list[str], filter_string: str = "") -> list[RunView]:
    """FINISHED runs of those experiments that match ``filter_string`` (MLflow's search syntax)."""
    status = "attributes.status = 'FINISHED'"
    runs = store.search_runs(experiment_ids, " and ".join(f for f in (filter_string, status) if f),
                             max_results=MAX_RUNS)
    return [run_view(r) for r in runs]


def metric_history(store: Store, run_id: str, key: str) -> list[tuple[int, float]]:
    """Every logged (step, value) of one metric of a run, e.g. the loss per epoch."""
    return [(m.step, m.value) for m in store.get_metric_history(run_id, key)]


def run_text(run_id: str, path: str) -> str:
    """A text artifact of a run of the current store; TrackingError when it cannot be read."""
    try:
        return mlflow.artifacts.load_text(f"runs:/{run_id}/{path}")
    except (MlflowException, OSError) as err:
        raise TrackingError.of(err) from None


def run_json(run_id: str, path: str) -> Any:
    """A JSON artifact of a run of the current store; TrackingError when it cannot be read."""
    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{path}")
    except (MlflowException, OSError) as err:
        raise TrackingError.of(err) from None


def artifact_text(artifact_uri: str, path: str) -> str | None:
    """A text file under a run's ``artifact_uri``, None when it is missing or cannot be read (runs
    from before that file existed simply go without)."""
    try:
        return mlflow.artifacts.load_text(f"{artifact_uri}/{path}")
    except (MlflowException, OSError):
        return None


def download(artifact_uri: str, destination: str) -> str:
    """Copy an artifact (e.g. a logged model's folder) to ``destination``; return the local path."""
    return mlflow.artifacts.download_artifacts(artifact_uri, dst_path=destination)


def load_logged_model(model_uri: str) -> "keras.Model":
    """Load a logged Keras model back (tests and the export step use this)."""
    import mlflow.keras  # here, not at the top: mlflow.keras imports TensorFlow

    return mlflow.keras.load_model(model_uri)
