"""The local MLflow store under concurrency and after an interrupted migration (issue 20, item 2).

Two identical sweeps started at the same instant in a fresh folder used to race MLflow's schema
creation (alembic ``Online migration expected to match one row``, ``table _alembic_tmp_* already
exists``) and could leave the store broken for good. Now the first creation happens under
``mlruns/mlflow.db.lock``; a store left with ``_alembic_tmp_*`` tables is repaired when the
original tables hold every row, refused in one line otherwise.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_sweeper_e2e import SMOKE, study_of
from tests.test_train_e2e import assert_ok, runs, train

GRID = ["-m", *SMOKE, "model.layers=1,2", "hydra.sweeper.report=false"]
# start train.py only once the barrier file exists, so both processes race from the same instant
WAIT_THEN_TRAIN = ("import os, runpy, sys, time\n"
                   "while not os.path.exists(sys.argv[1]): time.sleep(0.002)\n"
                   "sys.argv = sys.argv[2:]\n"
                   "runpy.run_path(sys.argv[0], run_name='__main__')\n")


def temp_tables(db: Path) -> list[str]:
    with sqlite3.connect(db) as con:
        return [n for (n,) in con.execute("SELECT name FROM sqlite_master WHERE name LIKE '\\_alembic\\_tmp\\_%' "
                                          "ESCAPE '\\'")]


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "alembic_tmp" in line or "Traceback" in line]


@pytest.mark.slow
def test_two_sweeps_started_together_in_a_fresh_folder_share_one_store(tmp_path: Path) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("HYDRA_FULL_ERROR", None)
    go = tmp_path / "go"
    logs = [(tmp_path / f"sweep{i}.log").open("w+") for i in range(2)]
    processes = [subprocess.Popen([sys.executable, "-c", WAIT_THEN_TRAIN, str(go), str(ROOT / "train.py"), *GRID],
                                  cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT) for log in logs]
    time.sleep(1.0)  # both interpreters up and polling
    go.touch()
    codes = [p.wait(timeout=400) for p in processes]
    outputs = []
    for log in logs:
        log.seek(0)
        outputs.append(log.read())
        log.close()
    assert codes == [0, 0], "\n---\n".join(o[-3000:] for o in outputs)
    db = tmp_path / "mlruns" / "mlflow.db"
    assert temp_tables(db) == []
    trials = study_of(tmp_path).get_trials()
    assert sorted(t.params["model.layers"] for t in trials) == [1, 2]
    assert {t.state.name for t in trials} == {"COMPLETE"}

    single = train(tmp_path, *SMOKE)
    assert_ok(single)
    found = runs(tmp_path)
    assert sum("mlflow.parentRunId" in r.data.tags for r in found) == 2  # one child run per trial
    assert {r.info.status for r in found} == {"FINISHED"}


def store_with_a_run(tmp_path: Path) -> tuple[Path, str]:
    """A real store (created by our tracking layer) holding one finished run."""
    from mlflow.tracking import MlflowClient

    from sweepcast import tracking

    db = tmp_path / "mlruns" / "mlflow.db"
    uri = f"sqlite:///{db}"
    experiment = tracking.open_experiment({"uri": uri, "artifact_root": str(tmp_path / "mlruns" / "artifacts")},
                                          "livestream")
    client = MlflowClient(uri)
    run_id = client.create_run(experiment, run_name="kept").info.run_id
    client.log_param(run_id, "kept", "yes")
    client.set_terminated(run_id, "FINISHED")
    return db, run_id


def interrupt_migration(db: Path, extra_row: bool) -> None:
    """What an interrupted batch step of alembic leaves: ``_alembic_tmp_experiments`` with the
    table's schema, holding a partial copy (or, with ``extra_row``, a row the original lacks)."""
    with sqlite3.connect(db) as con:
        (ddl,) = con.execute("SELECT sql FROM sqlite_master WHERE name = 'experiments'").fetchone()
        con.execute(ddl.replace('CREATE TABLE "experiments"', "CREATE TABLE _alembic_tmp_experiments", 1)
                    .replace("CREATE TABLE experiments", "CREATE TABLE _alembic_tmp_experiments", 1))
        con.execute("INSERT INTO _alembic_tmp_experiments SELECT * FROM experiments WHERE experiment_id = 0")
        if extra_row:
            con.execute("INSERT INTO _alembic_tmp_experiments (experiment_id, name, artifact_location, "
                        "lifecycle_stage, creation_time, last_update_time) "
                        "VALUES (99, 'only-in-temp', '/nowhere', 'active', 0, 0)")
    assert temp_tables(db) == ["_alembic_tmp_experiments"]


def test_leftover_temp_table_beside_an_intact_original_is_dropped_in_process(tmp_path: Path, monkeypatch,
                                                                             caplog) -> None:
    from mlflow.tracking import MlflowClient

    from sweepcast.tracking import store_lock

    monkeypatch.chdir(tmp_path)
    db, run_id = store_with_a_run(tmp_path)
    interrupt_migration(db, extra_row=False)
    store_lock._ready.discard(db)
    with caplog.at_level("WARNING", logger="sweepcast.tracking"):
        store_lock.prepare_store(db, f"sqlite:///{db}")
    (line,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "_alembic_tmp_experiments" in line and str(db) in line
    assert temp_tables(db) == [] and not db.with_name("mlflow.db.recovering").exists()
    run = MlflowClient(f"sqlite:///{db}").get_run(run_id)
    assert run.data.params == {"kept": "yes"} and run.info.status == "FINISHED"


def test_leftover_temp_table_with_rows_of_its_own_is_refused_in_process(tmp_path: Path, monkeypatch) -> None:
    from sweepcast.tracking import store_lock

    monkeypatch.chdir(tmp_path)
    db, _ = store_with_a_run(tmp_path)
    interrupt_migration(db, extra_row=True)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    store_lock._ready.discard(db)
    with pytest.raises(store_lock.StoreError) as refused:
        store_lock.prepare_store(db, f"sqlite:///{db}")
    message = str(refused.value)
    assert "\n" not in message and str(db) in message and "_alembic_tmp_experiments" in message
    assert "1 row(s) that 'experiments' lacks" in message and "holds 1 run(s)" in message
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


@pytest.mark.slow
def test_a_single_run_recovers_a_store_left_with_a_temp_table(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    db, run_id = store_with_a_run(tmp_path)
    interrupt_migration(db, extra_row=False)
    done = train(tmp_path, *SMOKE)
    assert_ok(done)
    output = done.stdout + done.stderr
    (line,) = error_lines(output)
    assert "removed _alembic_tmp_experiments left by an interrupted MLflow schema migration" in line
    assert temp_tables(db) == []
    found = {r.info.run_id: r for r in runs(tmp_path)}
    assert len(found) == 2 and found[run_id].data.params == {"kept": "yes"}


@pytest.mark.slow
def test_a_single_run_refuses_a_store_whose_temp_table_holds_rows_of_its_own(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    db, _ = store_with_a_run(tmp_path)
    interrupt_migration(db, extra_row=True)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    done = train(tmp_path, *SMOKE)
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    output = done.stdout + done.stderr
    (line,) = error_lines(output)
    assert str(db) in line and "the file is unchanged" in line
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
