"""End-to-end sweeps: ``train.py -m`` as users run it, checked through Optuna's storage and MLflow.

Every sweep runs in its own working directory (``sweeps/`` and ``mlruns/`` land in ``tmp_path``)
on tiny data, without logging models, so a trial takes a few seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.test_train_e2e import assert_ok, runs, train

SMOKE = ["trainer=smoke", "trainer.max_points=600", "data.timestep=20", "model.units=8", "tracking.log_model=false"]
FAST_HEARTBEAT = ["hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=3"]


def study_of(cwd: Path):
    """The one study under ``cwd/sweeps``."""
    import optuna

    (db,) = (cwd / "sweeps").glob("*/optuna.db")
    storage = f"sqlite:///{db}"
    (name,) = optuna.study.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage)


def states(study) -> list[str]:
    return [t.state.name for t in study.get_trials()]


def children_and_parent(cwd: Path):
    found = runs(cwd)
    parents = [r for r in found if r.data.tags.get("sweep") == "true"]
    children = [r for r in found if "mlflow.parentRunId" in r.data.tags]
    return children, parents


@pytest.mark.slow
def test_grid_runs_each_point_once_nested_under_one_parent_and_rerun_adds_nothing(tmp_path: Path) -> None:
    done = train(tmp_path, "-m", *SMOKE, "model.layers=1,2", "model.dropout=0.0,0.2", timeout=600)
    assert_ok(done)
    study = study_of(tmp_path)
    points = sorted((t.params["model.layers"], t.params["model.dropout"]) for t in study.get_trials())
    assert points == [(1, 0.0), (1, 0.2), (2, 0.0), (2, 0.2)]
    assert states(study) == ["COMPLETE"] * 4
    assert "trial 4/4" in done.stdout + done.stderr

    children, (parent,) = children_and_parent(tmp_path)
    assert parent.info.status == "FINISHED" and len(children) == 4
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert study.user_attrs["mlflow_parent_run_id"] == parent.info.run_id
    by_trial = {int(c.data.tags["trial_number"]): c.info.run_id for c in children}
    assert by_trial == {t.number: t.user_attrs["mlflow_run_id"] for t in study.get_trials()}
    assert parent.data.metrics["best_value"] == pytest.approx(study.best_value)
    assert parent.data.params["space.model.layers"] == "{1, 2}"

    folder = tmp_path / "sweeps" / study.study_name
    best = yaml.safe_load((folder / "best.yaml").read_text())
    assert best["best_value"] == pytest.approx(study.best_value) and best["best_trial"] == study.best_trial.number
    assert best["command"].startswith("python train.py trainer=smoke") and "model.layers=" in best["override"]
    assert len((folder / "trials.csv").read_text().strip().splitlines()) == 5
    assert len(list(folder.glob("trial_*/.hydra"))) == 4

    again = train(tmp_path, "-m", *SMOKE, "model.layers=1,2", "model.dropout=0.0,0.2", timeout=600)
    assert_ok(again)
    assert "nothing to run" in again.stdout + again.stderr
    assert len(study_of(tmp_path).get_trials()) == 4 and len(children_and_parent(tmp_path)[0]) == 4


@pytest.mark.slow
def test_a_failing_trial_is_recorded_while_the_others_finish(tmp_path: Path) -> None:
    done = train(tmp_path, "-m", *SMOKE, "data.timestep=20,5000", "model.layers=1,2", timeout=600)
    assert_ok(done)
    study = study_of(tmp_path)
    by_timestep = {}
    for trial in study.get_trials():
        by_timestep.setdefault(trial.params["data.timestep"], set()).add(trial.state.name)
    assert by_timestep == {20: {"COMPLETE"}, 5000: {"FAIL"}}
    failed = [t for t in study.get_trials() if t.state.name == "FAIL"]
    assert all("leaves no window" in t.user_attrs["fail_reason"] for t in failed)
    assert "Traceback" not in done.stdout + done.stderr
    children, (parent,) = children_and_parent(tmp_path)
    failed_runs = [c for c in children if c.info.status == "FAILED"]
    assert len(failed_runs) == 2 and all("leaves no window" in c.data.tags["error"] for c in failed_runs)
    assert parent.info.status == "FINISHED"


@pytest.mark.slow
def test_baselines_sweep_beside_networks_and_log_like_them(tmp_path: Path) -> None:
    generic = [o for o in SMOKE if not o.startswith("model.units")]  # a key the baselines do not have
    done = train(tmp_path, "-m", *generic, "model=lstm,persistence,moving_average,gbdt", timeout=600)
    assert_ok(done)
    assert states(study_of(tmp_path)) == ["COMPLETE"] * 4
    children, (parent,) = children_and_parent(tmp_path)
    by_family = {c.data.params["model.name"]: c for c in children}
    assert set(by_family) == {"lstm", "persistence", "moving_average", "gbdt"}
    for run in by_family.values():
        assert run.info.status == "FINISHED" and run.info.experiment_id == parent.info.experiment_id
        assert {"test_rmse", "test_r2", "val_rmse", "skill", "baseline_test_rmse", "fit_seconds"} <= set(run.data.metrics)
    persistence = by_family["persistence"].data.metrics
    assert persistence["test_rmse"] == pytest.approx(persistence["baseline_test_rmse"]) and persistence["skill"] == 0


@pytest.mark.slow
def test_custom_search_space_adds_define_by_run_parameters(tmp_path: Path) -> None:
    smoke = [o for o in SMOKE if not o.startswith("model.units")]
    done = train(tmp_path, "-m", *smoke, "model.dropout=interval(0, 0.2)", "hydra.sweeper.n_trials=2",
                 "hydra.sweeper.custom_search_space=tests.sweep_helpers.units_and_batch", timeout=600)
    assert_ok(done)
    study = study_of(tmp_path)
    assert states(study) == ["COMPLETE", "COMPLETE"]
    children, _ = children_and_parent(tmp_path)
    by_trial = {int(c.data.tags["trial_number"]): c.data.params for c in children}
    for trial in study.get_trials():
        assert by_trial[trial.number]["model.units"] == str(trial.params["model.units"])
        assert by_trial[trial.number]["trainer.batch_size"] == ("16" if trial.params["model.units"] == 8 else "32")
    best = yaml.safe_load(next((tmp_path / "sweeps").glob("*/best.yaml")).read_text())
    assert f"model.units={study.best_params['model.units']}" in best["command"]


@pytest.mark.slow
def test_max_failure_rate_aborts_with_one_line_and_a_report(tmp_path: Path) -> None:
    done = train(tmp_path, "-m", *SMOKE, "data.timestep=20,5000,5001,5002,5003", timeout=600)
    assert done.returncode == 2
    errors = [line for line in (done.stdout + done.stderr).splitlines() if "[ERROR]" in line and "sweeper" in line]
    assert len(errors) == 1 and "3 of 4 trials failed" in errors[0] and "max_failure_rate" in errors[0]
    (parent,) = children_and_parent(tmp_path)[1]
    assert parent.info.status == "FAILED" and "max_failure_rate" in parent.data.tags["error"]
    assert states(study_of(tmp_path)) == ["COMPLETE", "FAIL", "FAIL", "FAIL", "WAITING"]  # the fifth: a rerun
    assert list((tmp_path / "sweeps").glob("*/report.html")), "the finished trials get their page (issue 20.9)"


@pytest.mark.slow
def test_a_grid_below_four_trials_runs_every_point(tmp_path: Path) -> None:
    """Issue 20.9: the failure rate is judged once 4 trials have ended, as the README says, so
    a 3-point grid with 2 failures runs all three and writes its report; one where every point
    fails ends FAILED with one line (it found nothing), after its report."""
    done = train(tmp_path, "-m", *SMOKE, "data.timestep=5000,5001,20", "hydra.sweeper.study_name=some", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert states(study_of(tmp_path)) == ["FAIL", "FAIL", "COMPLETE"]
    assert (tmp_path / "sweeps" / "some" / "report.html").exists()
    done = train(tmp_path, "-m", *SMOKE, "data.timestep=5000,5001,5002", "hydra.sweeper.study_name=none", timeout=600)
    output = done.stdout + done.stderr
    errors = [line for line in output.splitlines() if "[ERROR]" in line and "sweeper" in line]
    assert done.returncode == 2 and len(errors) == 1 and "all 3 trials failed; last:" in errors[0], output[-3000:]
    assert "Traceback" not in output and (tmp_path / "sweeps" / "none" / "report.html").exists()
    statuses = sorted(p.info.status for p in children_and_parent(tmp_path)[1])
    assert statuses == ["FAILED", "FINISHED"]


@pytest.mark.slow
def test_sampled_study_prunes_and_the_run_keeps_its_metrics(tmp_path: Path) -> None:
    done = train(tmp_path, "-m", *SMOKE, "trainer.epochs=3", "model.dropout=interval(0, 0.3)",
                 "hydra.sweeper.n_trials=2", "+hydra.sweeper.pruner.upper=0.0001",
                 "+hydra.sweeper.pruner._target_=optuna.pruners.ThresholdPruner", timeout=600)
    assert_ok(done)
    study = study_of(tmp_path)
    assert states(study) == ["PRUNED", "PRUNED"]
    assert all(list(t.intermediate_values) == [1] for t in study.get_trials())
    assert all(0 <= t.params["model.dropout"] <= 0.3 for t in study.get_trials())
    children, _ = children_and_parent(tmp_path)
    assert len(children) == 2
    for child in children:
        assert child.info.status == "KILLED"
        assert child.data.tags["trial_state"] == "PRUNED" and child.data.tags["pruned_at_epoch"] == "1"
        assert child.data.metrics["epochs_run"] == 1 and "epoch_val_rmse" in child.data.metrics
    assert "PRUNED" in done.stdout + done.stderr


@pytest.mark.slow
def test_two_workers_share_one_study_without_duplicates(tmp_path: Path) -> None:
    done = train(tmp_path, "-m", *SMOKE, "model.layers=1,2,3,4", "hydra.sweeper.n_jobs=2", timeout=600)
    assert_ok(done)
    trials = study_of(tmp_path).get_trials()
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert sorted(t.params["model.layers"] for t in trials) == [1, 2, 3, 4]
    assert {t.state.name for t in trials} == {"COMPLETE"}
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both processes took trials
    children, (parent,) = children_and_parent(tmp_path)
    assert len(children) == 4 and parent.info.status == "FINISHED"
    # one clock for both workers: "elapsed" never goes backwards in the shared log (it did, per worker)
    import re
    elapsed = [sum(int(n) * s for n, s in zip(re.findall(r"\d+", m), (60, 1)))
               for m in re.findall(r"elapsed (\d+m\d+s)", done.stdout + done.stderr)]
    assert len(elapsed) == 4 and elapsed == sorted(elapsed), elapsed


@pytest.mark.slow
def test_kill_9_then_rerun_finishes_exactly_n_trials(tmp_path: Path) -> None:
    import optuna

    args = [*SMOKE, "trainer.max_points=4000", "trainer.epochs=4", "model.layers=1,2,3", *FAST_HEARTBEAT]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = (tmp_path / "first.log").open("w")
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "-m", *args], cwd=tmp_path, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        killed = wait_for_second_trial(tmp_path, process, deadline=time.monotonic() + 300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    before = study_of(tmp_path)
    complete_before = {t.number: t.value for t in before.get_trials() if t.state.name == "COMPLETE"}
    assert [t.state.name for t in before.get_trials() if t.number == killed] == ["RUNNING"]
    time.sleep(3)  # let the killed trial's heartbeat go stale

    rerun = train(tmp_path, "-m", *args, timeout=600)
    assert_ok(rerun)
    study = study_of(tmp_path)
    trials = study.get_trials()
    print("\n".join(f"#{t.number} {t.state.name} {t.params} {t.user_attrs} {t.system_attrs}" for t in trials))
    print((tmp_path / "first.log").read_text()[-2000:], rerun.stdout[-3000:], rerun.stderr[-2000:])
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert sorted(t.params["model.layers"] for t in complete) == [1, 2, 3]
    assert {t.number: t.value for t in complete if t.number in complete_before} == complete_before
    (dead,) = [t for t in trials if t.state.name == "FAIL"]
    assert dead.number == killed and "fail_reason" not in dead.user_attrs
    retry = next(t for t in complete if t.system_attrs.get("failed_trial") == killed)
    assert retry.params == dead.params
    children, (parent,) = children_and_parent(tmp_path)
    assert parent.info.status == "FINISHED"
    status = {c.info.run_id: c.info.status for c in children}
    assert status[dead.user_attrs["mlflow_run_id"]] == "KILLED"  # closed on resume, not left RUNNING
    assert sorted(status.values()).count("FINISHED") == 3 and "RUNNING" not in status.values()
    assert optuna.trial.TrialState.RUNNING not in {t.state for t in trials}


def wait_for_second_trial(cwd: Path, process: subprocess.Popen, deadline: float) -> int:
    """Poll the study until a trial is COMPLETE and another is RUNNING with its MLflow run open;
    return the running trial's number.

    Reads the SQLite file read-only with plain SQL: opening it through Optuna would create its
    tables and could collide with the sweep creating them at the same moment."""
    import sqlite3

    query = ("SELECT number, state, EXISTS(SELECT 1 FROM trial_user_attributes a WHERE a.trial_id = t.trial_id "
             "AND a.key = 'mlflow_run_id') FROM trials t")
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.3)
        found = list((cwd / "sweeps").glob("*/optuna.db"))
        if not found:
            continue
        try:
            with sqlite3.connect(f"file:{found[0]}?mode=ro", uri=True, timeout=1) as db:
                trials = db.execute(query).fetchall()
        except sqlite3.OperationalError:
            continue  # tables not created yet, or a write in progress
        running = [number for number, state, has_run in trials if state == "RUNNING" and has_run]
        if any(state == "COMPLETE" for _, state, _ in trials) and running:
            return running[0]
    raise AssertionError(f"the sweep never reached its second trial (exit {process.poll()}):\n"
                         + (cwd / "first.log").read_text()[-3000:])


@pytest.mark.slow
def test_series_auto_runs_the_default_baselines_first_then_each_familys_own_keys(tmp_path: Path) -> None:
    """search=series_auto (issue 14.5): five enqueued default baselines, then sampled trials whose
    family keys are drawn only for the family drawn; the winner's command carries them."""
    done = train(tmp_path, "-m", "search=series_auto", "trainer=smoke", "trainer.max_points=800",
                 "hydra.sweeper.n_trials=8", timeout=900)
    assert_ok(done)
    study = study_of(tmp_path)
    trials = sorted(study.get_trials(), key=lambda t: t.number)
    assert [t.params["model"] for t in trials[:5]] == ["persistence", "seasonal_naive", "moving_average", "ets", "gbdt"]
    shared = {"model", "data.timestep", "data.calendar.enabled", "trainer.learning_rate"}
    assert all(set(t.params) == shared and not t.params["data.calendar.enabled"] for t in trials[:5])
    for trial in trials[5:]:
        family = trial.params["model"]
        own = {name.split(".")[0] for name in trial.params if name not in shared}
        assert own <= {family}, (family, trial.params)
        overrides = trial.user_attrs["overrides"]
        assert all(f"model.{name.split('.', 1)[1]}=" in " ".join(overrides) for name in trial.params
                   if name.startswith(f"{family}.") and name != "nhits.pool_sizes")
    assert states(study) == ["COMPLETE"] * 8
    best = yaml.safe_load(next((tmp_path / "sweeps").glob("*/best.yaml")).read_text())
    assert " ".join(study.best_trial.user_attrs["overrides"]) in best["command"]


@pytest.mark.slow
def test_a_plateau_stops_claiming_records_why_and_a_rerun_continues(tmp_path: Path) -> None:
    """hydra.sweeper.patience (issue 18.4): fewer than n_trials run, the queue stays, the parent run
    says why; the same command without the rule runs the rest."""
    args = ["-m", "trainer=smoke", "model=moving_average", "model.window=range(1,40)", "hydra.sweeper.mode=sample",
            "hydra.sweeper.n_trials=12", "+hydra.sweeper.sampler.n_startup_trials=12", "hydra.sweeper.study_name=plateau"]
    done = train(tmp_path, *args, "hydra.sweeper.patience=2", "hydra.sweeper.min_delta=1000", timeout=600)
    assert_ok(done)
    assert "no more trials are claimed: no improvement above min_delta=1000 in the last 2 trials" in done.stdout + done.stderr
    study = study_of(tmp_path)
    assert states(study).count("COMPLETE") == 3 and "WAITING" in states(study)
    _, (parent,) = children_and_parent(tmp_path)
    assert parent.info.status == "FINISHED" and "hydra.sweeper.patience" in parent.data.tags["stopped"]
    assert_ok(train(tmp_path, *args, timeout=600))
    assert states(study_of(tmp_path)).count("COMPLETE") == 12


@pytest.mark.slow
def test_a_warm_start_queues_the_best_fitting_points_of_an_earlier_study_first(tmp_path: Path) -> None:
    """hydra.sweeper.warm_start (issue 18.2): a new study over a changed space first reruns the
    earlier study's best points that fit it (the rest named in one warning), then samples; a
    source that is neither a sweep folder nor a study is one line, exit 2, nothing created."""
    import optuna

    from sweepcast.sweeper.study import WARM

    common = ["-m", "trainer=smoke", "model=moving_average", "hydra.sweeper.mode=sample"]
    assert_ok(train(tmp_path, *common, "model.window=range(1,40)", "hydra.sweeper.n_trials=6",
                    "hydra.sweeper.study_name=cold", timeout=600))
    cold = optuna.load_study(study_name="cold", storage=f"sqlite:///{tmp_path / 'sweeps/cold/optuna.db'}")
    ranked = sorted((t for t in cold.trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    fitting: list[dict] = []
    for trial in ranked:  # the best distinct points that fit the new range
        if trial.params["model.window"] >= 5 and trial.params not in fitting and len(fitting) < 3:
            fitting.append(trial.params)
    last = next(i for i, t in enumerate(ranked) if t.params == fitting[-1])  # where the warm start stops reading
    skipped = [t for t in ranked[:last] if t.params["model.window"] < 5]
    done = train(tmp_path, *common, "model.window=range(5,60)", "hydra.sweeper.n_trials=4",
                 "hydra.sweeper.study_name=warm", "hydra.sweeper.warm_start=sweeps/cold",
                 "hydra.sweeper.warm_start_top=3", timeout=600)
    assert_ok(done)
    warm = optuna.load_study(study_name="warm", storage=f"sqlite:///{tmp_path / 'sweeps/warm/optuna.db'}")
    trials = sorted(warm.trials, key=lambda t: t.number)
    assert [t.params for t in trials[:3]] == fitting and [t.user_attrs[WARM] for t in trials[:3]] == fitting
    assert WARM not in trials[3].user_attrs and all(t.state.name == "COMPLETE" for t in trials)
    log = done.stdout + done.stderr
    assert "warm start: the 3 best fitting trial(s) of study 'cold' are queued first" in log
    if skipped:
        assert f"{len(skipped)} of its best trials do not fit this space" in log and "model.window=" in log
    report = subprocess.run([sys.executable, "-m", "sweepcast", "report", "sweeps/warm", "--no-mlflow"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert report.returncode == 0, report.stderr[-2000:]

    for study, source, expected in (("fresh", "sweeps/nowhere", "hydra.sweeper.warm_start"),
                                    ("warm", "sweeps/warm", "another study")):
        refused = train(tmp_path, *common, "model.window=range(5,60)", "hydra.sweeper.n_trials=4",
                        f"hydra.sweeper.study_name={study}", f"hydra.sweeper.warm_start={source}", timeout=600)
        lines = (refused.stdout + refused.stderr).strip().splitlines()
        assert refused.returncode == 2 and expected in lines[-1] and "Traceback" not in refused.stderr, lines[-3:]
    assert sorted(p.name for p in (tmp_path / "sweeps").iterdir()) == ["cold", "warm"]  # no "fresh" folder
    assert len(optuna.load_study(study_name="warm", storage=f"sqlite:///{tmp_path / 'sweeps/warm/optuna.db'}").trials) == 4
