"""Many workers on a real PostgreSQL study, logging through a real MLflow tracking server.

The servers are started the way users start them, with ``scripts/cluster-up.sh`` (on free
loopback ports, in a temporary state folder) and stopped with ``scripts/cluster-down.sh``.
PostgreSQL comes from Debian's ``postgresql`` package: installed here with apt-get when missing
(as root, which CI is); when that is impossible every test here is skipped with the reason.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

SMOKE = ["cluster=postgres", "trainer=smoke", "trainer.max_points=600", "data.timestep=20", "model.units=8",
         "tracking.log_model=false"]
FAST_HEARTBEAT = ["hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=3"]


@dataclass
class Cluster:
    env: dict[str, str]
    state: Path

    @property
    def storage(self) -> str:
        return self.env["SWEEPCAST_OPTUNA_STORAGE"]

    @property
    def tracking_uri(self) -> str:
        return self.env["MLFLOW_TRACKING_URI"]

    @property
    def password(self) -> str:
        return self.env["PGPASSWORD"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ensure_postgres() -> None:
    """Debian's PostgreSQL server binaries, installed if missing; skip (saying why) if impossible."""
    if list(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or shutil.which("initdb"):
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("PostgreSQL tests: the postgresql server is not installed and cannot be (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "postgresql"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.skip(f"PostgreSQL tests: '{' '.join(command)}' failed: {done.stderr.strip().splitlines()[-1:]}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with running_cluster("sweepcast-cluster-", secrets.token_hex(12), must_start=True) as servers:
        yield servers


@contextmanager
def running_cluster(prefix: str, password: str, must_start: bool = False) -> Iterator[Cluster]:
    """PostgreSQL and an MLflow server via cluster-up.sh; where they do not start, fail with their
    logs (``must_start``) or skip with the reason."""
    ensure_postgres()
    state = Path(tempfile.mkdtemp(prefix=prefix))  # under /tmp: reachable by the postgres user
    pg_port, ml_port = free_port(), free_port()
    env = {**os.environ, "PGPASSWORD": password, "SWEEPCAST_PG_PORT": str(pg_port),
           "SWEEPCAST_MLFLOW_PORT": str(ml_port), "SWEEPCAST_PYTHON": sys.executable, "TF_CPP_MIN_LOG_LEVEL": "2"}
    up = subprocess.run([str(ROOT / "scripts" / "cluster-up.sh"), str(state)], env=env, capture_output=True,
                        text=True, timeout=300)
    try:
        if up.returncode != 0 and not must_start:
            pytest.skip(f"PostgreSQL tests: cluster-up.sh failed: {(up.stdout + up.stderr).strip()[-500:]}")
        assert up.returncode == 0, up.stdout + up.stderr + "".join(
            f"\n--- {log.name}\n{log.read_text()[-2000:]}" for log in state.glob("*.log"))
        assert env["PGPASSWORD"] not in up.stdout + up.stderr
        env.update(SWEEPCAST_OPTUNA_STORAGE=f"postgresql+psycopg://sweepcast@127.0.0.1:{pg_port}/optuna",
                   MLFLOW_TRACKING_URI=f"http://127.0.0.1:{ml_port}")
        env.pop("HYDRA_FULL_ERROR", None)
        yield Cluster(env, state)
    finally:
        subprocess.run([str(ROOT / "scripts" / "cluster-down.sh"), str(state)], env=env, capture_output=True,
                       timeout=120)
        shutil.rmtree(state, ignore_errors=True)


def worker(cluster: Cluster, cwd: Path, *overrides: str, log: str) -> subprocess.Popen:
    """One worker process, as one machine would run it (its own folder, the shared servers)."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), "-m", *overrides], cwd=cwd, env=cluster.env,
                            stdout=(cwd / log).open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def load(cluster: Cluster, name: str):
    """The study, read from this test process (whose environment has no PGPASSWORD)."""
    import optuna

    storage = cluster.storage.replace("sweepcast@", f"sweepcast:{cluster.password}@")
    return optuna.load_study(study_name=name, storage=storage)


def mlflow_runs(cluster: Cluster, experiment: str) -> list:
    import mlflow

    client = mlflow.MlflowClient(cluster.tracking_uri)
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id], max_results=1000)


def test_four_workers_share_one_postgres_study_and_log_through_the_server(cluster: Cluster, tmp_path: Path) -> None:
    args = [*SMOKE, "model.dropout=interval(0, 0.5)", "hydra.sweeper.n_trials=8", "hydra.sweeper.study_name=four",
            "tracking.experiment=four"]
    processes = [worker(cluster, tmp_path / f"machine{i}", *args, log="worker.log") for i in range(4)]
    codes = [p.wait(timeout=900) for p in processes]
    logs = "".join((tmp_path / f"machine{i}" / "worker.log").read_text() for i in range(4))
    assert codes == [0, 0, 0, 0], logs[-4000:]

    trials = load(cluster, "four").get_trials()
    assert sorted(t.number for t in trials) == list(range(8))  # no duplicate number, no lost or surplus trial
    assert {t.state.name for t in trials} == {"COMPLETE"}
    assert len({t.params["model.dropout"] for t in trials}) == 8  # no two workers drew the same point
    assert len({t.user_attrs["worker"] for t in trials}) >= 2

    runs = mlflow_runs(cluster, "four")
    parents = [r for r in runs if r.data.tags.get("sweep") == "true"]
    children = {r.info.run_id: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"  # one parent for all machines
    assert sorted(children) == sorted(t.user_attrs["mlflow_run_id"] for t in trials)  # runs 1:1 with trials
    assert {r.info.status for r in children.values()} == {"FINISHED"}
    assert {r.data.tags["mlflow.parentRunId"] for r in children.values()} == {parents[0].info.run_id}
    for run in runs:
        assert run.data.metrics.get("val_rmse", 0) >= 0
        assert not any(cluster.password in str(v) for v in (*run.data.params.values(), *run.data.tags.values()))
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and not any(cluster.password in p.read_text(errors="replace") for p in written)


def test_kill_9_on_postgres_then_rerun_finishes_exactly_n_trials(cluster: Cluster, tmp_path: Path) -> None:
    args = [*SMOKE, "trainer.max_points=4000", "trainer.epochs=4", "model.layers=1,2,3", *FAST_HEARTBEAT,
            "hydra.sweeper.study_name=killed", "tracking.experiment=killed"]
    process = worker(cluster, tmp_path, *args, log="first.log")
    try:
        killed = wait_for_second_trial(cluster, "killed", process, tmp_path / "first.log")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    before = {t.number: (t.state.name, t.value) for t in load(cluster, "killed").get_trials()}
    assert before[killed][0] == "RUNNING"
    time.sleep(3)  # the killed trial's heartbeat goes stale

    rerun = worker(cluster, tmp_path, *args, log="rerun.log")
    assert rerun.wait(timeout=900) == 0, (tmp_path / "rerun.log").read_text()[-3000:]
    trials = load(cluster, "killed").get_trials()
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert sorted(t.params["model.layers"] for t in complete) == [1, 2, 3]
    assert all(before[t.number] == ("COMPLETE", t.value) for t in complete if t.number in before
               and before[t.number][0] == "COMPLETE")  # finished work kept as it was
    (dead,) = [t for t in trials if t.state.name == "FAIL"]
    assert dead.number == killed
    retry = next(t for t in complete if t.system_attrs.get("failed_trial") == killed)
    assert retry.params == dead.params
    status = {r.info.run_id: r.info.status for r in mlflow_runs(cluster, "killed")
              if "mlflow.parentRunId" in r.data.tags}
    assert status[dead.user_attrs["mlflow_run_id"]] == "KILLED"  # closed on resume, not left RUNNING
    assert sorted(status.values()).count("FINISHED") == 3 and "RUNNING" not in status.values()


def wait_for_second_trial(cluster: Cluster, name: str, process: subprocess.Popen, log: Path,
                          timeout: float = 300) -> int:
    """Poll the study until one trial is COMPLETE and another RUNNING with its MLflow run open."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.3)
        try:
            trials = load(cluster, name).get_trials(deepcopy=False)
        except KeyError:  # the study does not exist yet
            continue
        running = [t.number for t in trials if t.state.name == "RUNNING" and "mlflow_run_id" in t.user_attrs]
        if running and any(t.state.name == "COMPLETE" for t in trials):
            return running[0]
    raise AssertionError(f"the sweep never reached its second trial (exit {process.poll()}):\n"
                         + log.read_text()[-3000:])
