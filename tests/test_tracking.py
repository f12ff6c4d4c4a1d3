"""MLflow tracking against a real SQLite store in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from sweepcast import tracking
from sweepcast.errors import SweepcastError


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.chdir(tmp_path)
    return {"uri": "sqlite:///mlruns/mlflow.db", "artifact_root": "mlruns/artifacts"}


def test_experiment_created_once_with_artifacts_under_mlruns(store: dict, tmp_path: Path) -> None:
    first = tracking.open_experiment(store, "livestream")
    assert tracking.open_experiment(store, "livestream") == first
    experiment = mlflow.MlflowClient().get_experiment(first)
    assert experiment.artifact_location == (tmp_path / "mlruns" / "artifacts" / "livestream").as_uri()
    assert (tmp_path / "mlruns" / "mlflow.db").is_file()


def test_deleted_experiment_is_a_clear_error(store: dict) -> None:
    experiment = tracking.open_experiment(store, "gone")
    mlflow.MlflowClient().delete_experiment(experiment)
    with pytest.raises(SweepcastError, match="experiment 'gone' .* is deleted; restore it"):
        tracking.open_experiment(store, "gone")


def test_completed_block_finishes_run(store: dict) -> None:
    experiment = tracking.open_experiment(store, "t")
    with tracking.start_run(experiment, "ok", {"k": "v"}) as run_id:
        tracking.log_config({"model": {"layers": 2, "units": [64, 32]}}, "model: {}\n")
        tracking.log_metrics({"val_rmse": 1.5, "test_r2": float("nan")})
    run = mlflow.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"model.layers": "2", "model.units": "[64, 32]"}
    assert run.data.metrics == {"val_rmse": 1.5}  # NaN skipped, not logged as garbage
    assert run.data.tags["k"] == "v"


def test_raising_block_ends_run_failed_with_reason(store: dict) -> None:
    experiment = tracking.open_experiment(store, "t")
    with pytest.raises(RuntimeError):
        with tracking.start_run(experiment, "boom", {}) as run_id:
            raise RuntimeError("loss became NaN")
    run = mlflow.get_run(run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == "RuntimeError: loss became NaN"
    assert mlflow.active_run() is None


def test_interrupted_block_ends_run_killed(store: dict) -> None:
    experiment = tracking.open_experiment(store, "t")
    with pytest.raises(KeyboardInterrupt):
        with tracking.start_run(experiment, "ctrl-c", {}) as run_id:
            raise KeyboardInterrupt
    assert mlflow.get_run(run_id).info.status == "KILLED"


def test_flatten_and_ui_hint(store: dict) -> None:
    assert tracking.flatten({"a": {"b": None, "c": ["x"]}, "d": 1.5}) == {"a.b": "None", "a.c": '["x"]', "d": "1.5"}
    assert tracking.ui_hint("sqlite:///mlruns/mlflow.db") == "python -m sweepcast ui"
    assert tracking.ui_hint("sqlite:///elsewhere/m.db") == "python -m sweepcast ui --tracking-uri sqlite:///elsewhere/m.db"
    assert tracking.ui_hint("http://127.0.0.1:5000") == "open http://127.0.0.1:5000"


def test_git_tags_outside_a_checkout(tmp_path: Path) -> None:
    assert tracking.git_tags(tmp_path) == {}


def test_run_names_fit_mlflows_250_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL refuses a runs.name over VARCHAR(250) (a sweep's trials failed on it); SQLite does not check."""
    from types import SimpleNamespace

    from sweepcast import job

    spec = SimpleNamespace(model=SimpleNamespace(name="lstm"))
    monkeypatch.setattr(job, "hydra_value", lambda path: "model.layers=2")
    assert job.run_name(spec) == "lstm model.layers=2"
    monkeypatch.setattr(job, "hydra_value", lambda path: ",".join(f"data.path=/a/long/folder/{i}" for i in range(20)))
    name = job.run_name(spec)
    assert len(name) == job.MAX_RUN_NAME and name.startswith("lstm data.path=/a/long/folder/0") and name.endswith("…")
