"""End-to-end: run ``train.py`` as a user would, then read what MLflow recorded.

Each run gets its own working directory, so ``mlruns/`` and Hydra's ``outputs/`` land in
``tmp_path``. Bad-input runs fail before TensorFlow is imported and take a few seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT

SMOKE = ["trainer=smoke", "trainer.max_points=600", "data.timestep=20", "model.units=8"]


def train(cwd: Path, *overrides: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *overrides],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )


def runs(cwd: Path) -> list:
    """Every MLflow run in the store under ``cwd``, newest first."""
    import mlflow

    db = cwd / "mlruns" / "mlflow.db"
    if not db.exists():
        return []
    client = mlflow.MlflowClient(f"sqlite:///{db}")
    found = []
    for experiment in client.search_experiments():
        found += client.search_runs([experiment.experiment_id])
    return found


def assert_ok(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.slow
def test_default_livestream_smoke_run_is_fully_logged(tmp_path: Path) -> None:
    import mlflow

    done = train(tmp_path, *SMOKE)
    assert_ok(done)
    output = done.stdout + done.stderr
    assert "test RMSE" in output and "skill over persistence" in output
    assert "browse it with: python -m sweepcast ui\n" in output

    (run,) = runs(tmp_path)
    assert run.info.status == "FINISHED"
    assert run.info.run_id in output
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["model.name"] == "lstm" and params["data.target"] == "WATCH_UCNT"
    assert params["trainer.epochs"] == "1" and params["data.timestep"] == "20"
    for key in ("test_rmse", "test_mae", "test_r2", "test_smape", "val_rmse", "baseline_test_rmse", "skill", "loss", "val_loss", "clean_dead_days"):
        assert key in metrics, key
    assert metrics["skill"] == pytest.approx(1 - metrics["test_rmse"] / metrics["baseline_test_rmse"])
    assert len(tags["data_fingerprint"]) == 16 and tags["data_source"].startswith("synthetic livestream")

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "preprocessing", "plots"} <= artifacts
    assert "<html>" in mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/plots/forecast_test.html")
    scalers = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/preprocessing/scalers.json")
    assert scalers["timestep"] == 20 and scalers["target_scaler"]["kind"] == "minmax"
    assert (tmp_path / "mlruns" / "artifacts" / "livestream").is_dir()

    model = mlflow.keras.load_model(tags["model_uri"])
    pyfunc = mlflow.pyfunc.load_model(tags["model_uri"])
    window = np.random.default_rng(0).random((3, 20, 1), dtype=np.float32)
    direct = model.predict(window, verbose=0)
    assert direct.shape == (3, 1) and np.isfinite(direct).all()
    assert np.allclose(np.asarray(pyfunc.predict(window)), direct, atol=1e-6)
    assert pyfunc.metadata.signature is not None
    assert pyfunc.metadata.saved_input_example_info is not None


FAMILY_SMOKE = {
    "seq2seq": ["model=seq2seq", "model.units=8", "model.attention_heads=2"],
    "transformer": ["model=transformer", "model.d_model=8", "model.heads=2", "model.ff_units=16"],
}


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILY_SMOKE))
def test_each_family_trains_logs_and_reloads_in_a_fresh_process(family: str, tmp_path: Path) -> None:
    """One smoke epoch through the same data, metrics and MLflow path as the LSTM; the logged
    model, loaded by a new interpreter, predicts what this one does."""
    import mlflow

    smoke = [o for o in SMOKE if not o.startswith("model.units")]
    done = train(tmp_path, *smoke, *FAMILY_SMOKE[family])
    assert_ok(done)
    (run,) = runs(tmp_path)
    assert run.info.status == "FINISHED" and run.data.params["model.name"] == family
    assert run.data.tags["model_family"] == family and "skill" in run.data.metrics
    window = np.random.default_rng(2).random((3, 20, 1), dtype=np.float32)
    np.save(tmp_path / "window.npy", window)
    # plain MLflow in the new interpreter, no sweepcast import: what `mlflow models serve` does
    script = ("import json, sys, numpy as np, mlflow.pyfunc; model = mlflow.pyfunc.load_model(sys.argv[1]); "
              "print(json.dumps(np.asarray(model.predict(np.load(sys.argv[2]))).ravel().tolist()))")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"}
    fresh = subprocess.run([sys.executable, "-c", script, run.data.tags["model_uri"], str(tmp_path / "window.npy")],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    from sweepcast.tracking import load_logged_model

    here = load_logged_model(run.data.tags["model_uri"]).predict(window, verbose=0).ravel()
    assert np.allclose(json.loads(fresh.stdout.strip().splitlines()[-1]), here, atol=1e-6)


@pytest.mark.slow
def test_real_livestream_file(tmp_path: Path, douyin_csv: Path) -> None:
    done = train(tmp_path, *SMOKE, f"data.path={douyin_csv}", "trainer.progress=bar")
    assert_ok(done)
    # issue 16.4: output that is not a terminal gets the epoch log lines, never a bar's escape codes
    output = done.stdout + done.stderr
    assert "\r" not in output and "━" not in output and "epoch 1/1" in output
    (run,) = runs(tmp_path)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["clean_rows_in"] == 696
    assert run.data.metrics["clean_filled_rows"] > 200  # the 12:00-16:00 pause and other gaps
    assert run.data.tags["data_source"] == str(douyin_csv)


@pytest.mark.slow
def test_generic_csv_series(tmp_path: Path, taxi_csv: Path) -> None:
    done = train(tmp_path, *SMOKE, "data=csv_series", f"data.path={taxi_csv}")
    assert_ok(done)
    (run,) = runs(tmp_path)
    assert run.info.status == "FINISHED"
    assert run.data.params["data.target"] == "value"


@pytest.mark.slow
def test_runs_are_never_overwritten(tmp_path: Path) -> None:
    assert_ok(train(tmp_path, *SMOKE, "trainer.max_points=300"))
    assert_ok(train(tmp_path, *SMOKE, "trainer.max_points=300"))
    assert len({r.info.run_id for r in runs(tmp_path)}) == 2


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_multi_step_forecast_is_scored_per_step_and_pooled(strategy: str, tmp_path: Path) -> None:
    """``data.horizon=10``: per-step test RMSE as an MLflow curve (step = lead time), the headline
    RMSE pooling all steps, and persistence scored over the same ten steps."""
    import mlflow

    done = train(tmp_path, *SMOKE, "data.horizon=10", f"data.strategy={strategy}")
    assert_ok(done)
    assert "test RMSE by step: 1:" in done.stdout + done.stderr
    (run,) = runs(tmp_path)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    history = {key: [m.value for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]
               for key in ("test_rmse_by_step", "baseline_test_rmse_by_step")}
    assert all(len(values) == 10 for values in history.values())
    metrics = run.data.metrics
    assert metrics["test_rmse"] == pytest.approx(np.sqrt(np.mean(np.square(history["test_rmse_by_step"]))))
    assert metrics["baseline_test_rmse"] == pytest.approx(np.sqrt(np.mean(np.square(history["baseline_test_rmse_by_step"]))))
    assert metrics["skill"] == pytest.approx(1 - metrics["test_rmse"] / metrics["baseline_test_rmse"])
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    assert "<html>" in mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/plots/rmse_by_step.html")
    scalers = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/preprocessing/scalers.json")
    assert scalers["horizon"] == 10 and scalers["strategy"] == strategy
    outputs = mlflow.pyfunc.load_model(run.data.tags["model_uri"]).predict(np.zeros((2, 20, 1), dtype=np.float32))
    assert np.asarray(outputs).shape == (2, 10 if strategy == "direct" else 1)


@pytest.mark.slow
def test_multivariate_gbdt_with_calendar_over_a_horizon(tmp_path: Path) -> None:
    """A baseline on several inputs (flattened livestream columns plus calendar features) forecasting
    three steps goes through the same path and logs the same metrics as a network."""
    done = train(tmp_path, "trainer=smoke", "trainer.max_points=600", "data.timestep=20", "model=gbdt",
                 "model.max_iter=20", "data.features=[WATCH_UCNT,natural_all,paid_all]", "data.calendar.enabled=true",
                 "data.horizon=3")
    assert_ok(done)
    (run,) = runs(tmp_path)
    assert run.info.status == "FINISHED" and run.data.params["data.horizon"] == "3"
    assert {"test_rmse", "skill", "trees", "baseline_test_rmse"} <= set(run.data.metrics)
    assert run.data.metrics["trees"] == 3 * 20  # one 20-tree model per step
    assert "input feature(s)" in done.stdout + done.stderr
