"""Top-k ensembles (issue 14.6): members across lookbacks, the ensemble of one is that member,
bad requests are one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sweepcast.ensembles import Member, greedy_weights, weights_of
from sweepcast.errors import SweepcastError
from sweepcast.tracking import reading
from tests.test_report import traces_of
from tests.test_train_e2e import assert_ok, runs, train


def member(val_rmse: float) -> Member:
    return Member("r", "r", val_rmse, val_rmse, {}, "runs:/r/model", "f")


def test_weights_are_equal_or_inverse_to_validation_rmse() -> None:
    assert np.allclose(weights_of([member(1.0), member(3.0)], "equal"), [0.5, 0.5])
    assert np.allclose(weights_of([member(1.0), member(3.0)], "inverse_val"), [0.75, 0.25])
    with pytest.raises(SweepcastError, match="--weights"):
        weights_of([member(1.0)], "median")
    with pytest.raises(SweepcastError, match="finite, positive val_rmse"):
        weights_of([member(float("nan"))], "inverse_val")


def test_greedy_selection_mixes_members_whose_errors_cancel_and_drops_the_rest() -> None:
    truth = np.zeros((200, 2))
    noise = np.random.default_rng(0).normal(size=(200, 2))
    over, under, useless = truth + 1 + 0.1 * noise, truth - 1 + 0.1 * noise, truth + 3 + noise
    weights = greedy_weights([over, under, useless], truth)
    assert weights[2] == 0 and weights.sum() == pytest.approx(1) and weights[0] == pytest.approx(0.5, abs=0.05)
    mixed = np.tensordot(weights, np.stack([over, under, useless]), axes=1)
    assert np.sqrt(np.mean(mixed ** 2)) < 0.2  # where the best single member's RMSE is about 1
    # never worse on validation than the best single candidate: one good member stays alone
    good = truth + 0.01 * noise
    assert np.array_equal(greedy_weights([over, good, useless], truth), [0.0, 1.0, 0.0])


def ensemble(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sweepcast", "ensemble", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_an_ensemble_of_members_with_different_lookbacks_is_scored_and_logged(tmp_path: Path) -> None:
    assert_ok(train(tmp_path, "-m", "trainer=smoke", "trainer.max_points=800", "model.units=8", "data.timestep=10,20",
                    timeout=600))
    (sweep,) = (tmp_path / "sweeps").iterdir()
    trials = sorted((r for r in runs(tmp_path) if "data.timestep" in r.data.params),
                    key=lambda r: r.data.metrics["val_rmse"])
    one = ensemble(tmp_path, str(sweep), "--top", "1")
    assert one.returncode == 0, one.stderr[-2000:]
    solo = next(r for r in runs(tmp_path) if r.data.tags.get("ensemble_members") == trials[0].info.run_id)
    for key in ("val_rmse", "test_rmse", "baseline_test_rmse"):  # the ensemble of one member is that member
        assert solo.data.metrics[key] == pytest.approx(trials[0].data.metrics[key], rel=1e-6), key
    two = ensemble(tmp_path, str(sweep), "--top", "2", "--weights", "inverse_val")
    assert two.returncode == 0, two.stderr[-2000:]
    pair = next(r for r in runs(tmp_path) if r.data.tags.get("ensemble_members", "").count(",") == 1)
    assert pair.data.tags["ensemble_members"] == ",".join(t.info.run_id for t in trials)
    assert pair.info.run_name.startswith("ensemble top 2 of study") and pair.info.status == "FINISHED"
    assert pair.data.metrics["members"] == 2 and np.isfinite(pair.data.metrics["test_rmse"])
    # exported: one pyfunc carrying both members; in a fresh interpreter it answers their weighted mean
    exported = subprocess.run([sys.executable, "-m", "sweepcast", "export", "--run", pair.info.run_id, "--to",
                               str(tmp_path / "ens")], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert exported.returncode == 0, exported.stderr[-2000:]
    for i, member in enumerate(trials):
        alone = subprocess.run([sys.executable, "-m", "sweepcast", "export", "--run", member.info.run_id, "--to",
                                str(tmp_path / f"m{i}")], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert alone.returncode == 0, alone.stderr[-2000:]
    script = ("import json, sys, mlflow; from mlflow.models import Model\n"
              "rows = Model.load(sys.argv[1]).load_input_example(sys.argv[1])\n"
              "rows = rows[0] if isinstance(rows, tuple) else rows\n"
              "print(json.dumps([mlflow.pyfunc.load_model(f).predict(rows)['WATCH_UCNT'].tolist() for f in sys.argv[1:]]))")
    answered = subprocess.run([sys.executable, "-c", script, str(tmp_path / "ens"), str(tmp_path / "m0"),
                               str(tmp_path / "m1")], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert answered.returncode == 0, answered.stderr[-2000:]
    ens, first, second = json.loads(answered.stdout.strip().splitlines()[-1])
    weights = [1 / t.data.metrics["val_rmse"] for t in trials]
    expected_mean = (weights[0] * np.array(first) + weights[1] * np.array(second)) / sum(weights)
    assert np.allclose(ens, expected_mean, rtol=1e-6)
    assert "## Members" in (tmp_path / "ens" / "MODEL_CARD.md").read_text()
    report = subprocess.run([sys.executable, "-m", "sweepcast", "report", str(sweep), "--no-mlflow"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert report.returncode == 0, report.stderr[-2000:]
    boxes = [t.get("name", "") for t in traces_of((sweep / "report.html").read_text(), "box")]
    assert any(name.startswith("ensemble top 2") for name in boxes), boxes  # beside the families
    for args, expected in ((["--top", "3"], "fewer than --top 3"), (["--top", "0"], "--top: expected an integer >= 1"),
                           (["--top", "2", "--weights", "median"], "--weights")):
        done = ensemble(tmp_path, str(sweep), *args)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and lines[-1].startswith("error:") and expected in lines[-1], done.stderr[-1500:]
        assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_baseline_members_are_refit_from_their_config(tmp_path: Path) -> None:
    assert_ok(train(tmp_path, "-m", "trainer=smoke", "model=persistence,moving_average,ets", timeout=600))
    (sweep,) = (tmp_path / "sweeps").iterdir()
    best = min((r for r in runs(tmp_path) if "model.name" in r.data.params), key=lambda r: r.data.metrics["val_rmse"])
    done = ensemble(tmp_path, str(sweep), "--top", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    solo = next(r for r in runs(tmp_path) if r.data.tags.get("ensemble_members") == best.info.run_id)
    assert solo.data.metrics["test_rmse"] == pytest.approx(best.data.metrics["test_rmse"], rel=1e-9)
    greedy = ensemble(tmp_path, str(sweep), "--top", "1", "--weights", "greedy")  # the best + each family's best
    assert greedy.returncode == 0, greedy.stderr[-2000:]
    picked = next(r for r in runs(tmp_path) if r.info.run_name.startswith("ensemble greedy"))
    spec = json.loads(reading.artifact_text(picked.info.artifact_uri, "ensemble.json"))
    assert picked.data.metrics["candidates"] == 3 and sum(m["weight"] for m in spec["members"]) == pytest.approx(1)
    assert all(m["weight"] > 0 for m in spec["members"])  # candidates never drawn are left out
    assert picked.data.tags["ensemble_members"] == ",".join(m["run_id"] for m in spec["members"])
    assert picked.data.metrics["val_rmse"] <= best.data.metrics["val_rmse"] + 1e-9
    refused = ensemble(tmp_path, str(sweep), "--top", "1", "--exportable")  # none of these baselines exports
    assert refused.returncode == 2 and "0 finished trial run(s) with 'val_rmse' that export, fewer than --top 1" in \
        refused.stderr.strip().splitlines()[-1]
    assert ensemble(tmp_path, str(sweep), "--top", "3").returncode == 0
    trio = next(r for r in runs(tmp_path) if r.data.tags.get("ensemble_members", "").count(",") == 2)
    refused = subprocess.run([sys.executable, "-m", "sweepcast", "export", "--run", trio.info.run_id, "--to",
                              str(tmp_path / "e")], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2 and "logged no model (a baseline)" in refused.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "e").exists()
