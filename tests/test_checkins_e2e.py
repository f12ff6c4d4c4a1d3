"""End-to-end check-in runs as users start them: ``train.py data=checkins`` on the embedded
synthetic check-ins and on the shared New York slice, a sweep with its report, and the
exploration page."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import shared_file
from tests.test_report import traces_of
from tests.test_train_e2e import assert_ok, runs, train

pytestmark = pytest.mark.slow

SMOKE = ["data=checkins", "trainer=smoke", "data.synthetic.users=80", "model.units=8"]


def test_synthetic_checkin_run_logs_metrics_predictions_and_figures(tmp_path: Path) -> None:
    import mlflow

    done = train(tmp_path, *SMOKE, "model=seq2seq")
    assert_ok(done)
    assert "skill over last check-in" in done.stdout + done.stderr
    (run,) = runs(tmp_path)
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    for key in ("val_rmse", "test_rmse", "test_r2", "test_km_median", "test_km_mean", "test_dt_minutes_mae",
                "test_rmse_lat", "baseline_test_rmse", "baseline_test_km_median", "clean_impossible_speed",
                "clean_stay_duplicates", "clean_outside_bbox", "clean_duplicate_lines", "epoch_val_rmse"):
        assert key in metrics, key
    for key in ("clean_impossible_speed", "clean_stay_duplicates", "clean_outside_bbox", "clean_duplicate_lines"):
        assert metrics[key] > 0, key  # the synthetic data gives every filter work
    assert metrics["skill"] == pytest.approx(1 - metrics["test_rmse"] / metrics["baseline_test_rmse"])
    assert 0 < metrics["test_km_median"] < 60 and metrics["test_km_mean"] >= 0

    uri = f"runs:/{run.info.run_id}"
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    for page in ("checkins_cleaning", "locations_test", "gaps_test"):
        assert "<html>" in mlflow.artifacts.load_text(f"{uri}/plots/{page}.html"), page
    table = pd.read_csv(io.StringIO(mlflow.artifacts.load_text(f"{uri}/predictions/test_checkins.csv")))
    assert {"user", "time", "true_lat", "pred_lat", "baseline_lon", "km_error"} <= set(table.columns)
    scalers = mlflow.artifacts.load_dict(f"{uri}/preprocessing/scalers.json")
    assert scalers["kind"] == "checkins" and scalers["targets"] == ["dt", "lat", "lon"]
    model = mlflow.keras.load_model(f"{uri}/model")
    assert model.output_shape == (None, 3)


def test_real_nyc_slice_with_gbdt_against_the_last_checkin(tmp_path: Path) -> None:
    path = shared_file("gowalla_nyc_dev.txt.gz")
    done = train(tmp_path, "data=checkins", f"data.path={path}", "model=gbdt", "model.max_iter=30",
                 "trainer.max_points=null")
    assert_ok(done)
    (run,) = runs(tmp_path)
    metrics = run.data.metrics
    assert run.info.status == "FINISHED" and run.data.tags["data_source"] == str(path)
    assert metrics["clean_rows_in"] == 27_083 and metrics["clean_users_out"] < 1_357
    # the last check-in is a strong reference on real trajectories; the trees must at least come close
    assert metrics["test_rmse"] < 1.2 * metrics["baseline_test_rmse"]
    assert 0 < metrics["baseline_test_km_median"] < 5


def test_a_checkin_sweep_reports_its_map_and_scores_every_timestep_on_the_same_windows(tmp_path: Path) -> None:
    done = train(tmp_path, "-m", *SMOKE, "model=seq2seq", "data.timestep=3,8", timeout=600)
    assert_ok(done)
    assert "data.min_history=8" in done.stdout + done.stderr
    trials = [r for r in runs(tmp_path) if "data.timestep" in r.data.params]
    assert sorted(r.data.params["data.timestep"] for r in trials) == ["3", "8"]
    # issue 14.7: the last check-in scores the same on both, because both are scored on the same check-ins
    assert trials[0].data.metrics["baseline_test_rmse"] == trials[1].data.metrics["baseline_test_rmse"]
    (folder,) = (tmp_path / "sweeps").iterdir()
    page = (folder / "report.html").read_text()
    assert "2 complete" in page and "next check-in (gap, latitude, longitude)" in page
    assert any(t.get("name") == "last check-in (same windows)" for t in traces_of(page, "scatter"))
    assert any(t.get("name") == "predicted" for t in traces_of(page, "scattergl"))  # the best trial's map
    assert len(runs(tmp_path)) == 3  # the sweep's parent run and one per trial


def test_checkin_exploration_page(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "sweepcast", "explore", "data=checkins", "data.synthetic.users=50",
                           "--out", str(tmp_path / "page.html")], capture_output=True, text=True, cwd=tmp_path,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    page = (tmp_path / "page.html").read_text()
    for heading in ("Where", "Users", "When", "Gaps and distances"):
        assert f"<h2>{heading}</h2>" in page
    assert "check-ins removed per cleaning step" in page


def test_an_exported_checkin_model_forecasts_what_training_predicted(tmp_path: Path) -> None:
    """Export the run, send one test window's check-ins as a SNAP file and as CSV: the answer is the
    run's own logged test prediction for that window (serving preprocessing = training's)."""
    import mlflow

    from sweepcast.data.checkins import render_checkin_rows
    from sweepcast.data.trajectories import prepare_checkins
    from tests.test_export_e2e import sweepcast
    from tests.test_trajectories import config

    assert_ok(train(tmp_path, *SMOKE, "model=lstm"))
    (run,) = runs(tmp_path)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    logged = pd.read_csv(io.StringIO(mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/predictions/test_checkins.csv")))
    assert_ok(sweepcast(tmp_path, "export", "--experiment", "checkins", "--to", "exports/best"))
    assert "a user's last 10 check-ins" in (tmp_path / "exports" / "best" / "MODEL_CARD.md").read_text()

    data = prepare_checkins(config(**{"synthetic.users": 80}), max_points=2000)  # as trainer=smoke saw it
    frame, target = data.frame, logged.iloc[0]
    row = int(frame.index[(frame["user"] == target["user"]) & (frame["time"] == pd.Timestamp(target["time"]))][0])
    window = frame.iloc[row - data.timestep - 1 : row][["user", "time", "lat", "lon", "location"]]
    render_checkin_rows(window).to_csv(tmp_path / "window.txt", sep="\t", header=False, index=False)
    render_checkin_rows(window).to_csv(tmp_path / "window.csv", index=False)
    for request in ("window.txt", "window.csv"):
        done = sweepcast(tmp_path, "predict", "exports/best", "--input", request, "--output", f"{request}.out.csv")
        assert_ok(done)
        (answer,) = pd.read_csv(tmp_path / f"{request}.out.csv").itertuples()
        assert answer.user == target["user"] and answer.step == 1
        assert answer.lat == pytest.approx(target["pred_lat"], abs=1e-5)
        assert answer.lon == pytest.approx(target["pred_lon"], abs=1e-5)
        assert answer.gap_hours == pytest.approx(target["pred_dt_hours"], rel=1e-3)
        expected = pd.Timestamp(frame["time"].iloc[row - 1]) + pd.Timedelta(hours=target["pred_dt_hours"])
        assert abs(pd.Timestamp(answer.time.rstrip("Z")) - expected) <= pd.Timedelta(seconds=2)

    render_checkin_rows(window.head(5)).to_csv(tmp_path / "short.csv", index=False)
    short = sweepcast(tmp_path, "predict", "exports/best", "--input", "short.csv")
    assert short.returncode == 2 and "send at least 11 recent check-ins per user" in short.stderr
