"""No password ever reaches a file: URLs with credentials are refused, PGPASSWORD is the way.

Hydra copies every config value into ``.hydra/*.yaml`` before our code runs, so a password in
``tracking.uri`` or ``hydra.sweeper.storage`` cannot be masked everywhere; it is refused instead
(one line, exit status 2, nothing written), wherever it comes from: the command line, a config
file, the environment, a CLI flag. The URLs point at a real PostgreSQL and MLflow server started
with ``scripts/cluster-up.sh`` (as in ``tests/test_cluster_e2e.py``), so a refusal that failed
would really connect and write; after each case the test's whole working tree is searched for
the password. The supported way (PGPASSWORD, password-less URLs) runs one tiny sweep end to end.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from sweepcast.redaction import credentials_problem, redact_url_text
from sweepcast.sweeper.space import command_line_error
from tests.conftest import ROOT
from tests.test_cluster_e2e import SMOKE, Cluster, load, mlflow_runs, running_cluster

# -- the rule itself (no server needed) ---------------------------------------------------------

@pytest.mark.parametrize("url", [
    "postgresql://u:hunter2@host/db", "postgresql+psycopg://sweepcast:hun/ter,2@127.0.0.1:5432/optuna",
    "postgres://:hunter2@host/db", "http://me:hunter2@mlflow:5000", "https://me:hunter2@mlflow.example",
    "postgresql://u@host/db?password=hunter2", "postgresql://u@host/db?sslmode=require&sslpassword=hunter2",
    "${oc.env:SOME_URL,postgresql://u:hunter2@host/db}",
])
def test_a_url_with_a_password_is_refused_without_showing_it(url: str) -> None:
    problem = credentials_problem(url)
    assert problem and "hun" not in problem and "\n" not in problem
    assert ("MLFLOW_TRACKING_PASSWORD" if url.startswith("http") else "PGPASSWORD") in problem


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://sweepcast@127.0.0.1:5432/optuna", "http://127.0.0.1:5000", "sqlite:///mlruns/mlflow.db",
    "sqlite:////tmp/a:b/optuna.db", "file:///C:/runs", "${oc.env:MLFLOW_TRACKING_URI,sqlite:///mlruns/mlflow.db}",
])
def test_a_url_without_a_password_passes(url: str) -> None:
    assert credentials_problem(url) is None


def test_the_command_line_check_names_the_key_and_masks_what_it_echoes() -> None:
    assert command_line_error(["-m", "tracking.uri=http://127.0.0.1:5000,sqlite:///x.db"], {}) is None
    problem = command_line_error(["-m", "model.layers=1,2", "+tracking.uri=[a,{b: 'postgresql://u:pw@h/d'}]"], {})
    assert problem and problem.startswith("config key 'tracking.uri':") and "pw@" not in problem
    problem = command_line_error(["trainer=smoke"], {"MLFLOW_TRACKING_URI": "http://me:pw@h:5000"})
    assert problem and problem.startswith("environment variable MLFLOW_TRACKING_URI:") and ":pw" not in problem
    assert redact_url_text("override 'a=postgresql://u:p@ss@h/d': bad") == "override 'a=postgresql://u:***@h/d': bad"


# -- every way in, against real servers ---------------------------------------------------------

@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """Both servers via cluster-up.sh, with a password no file of ours may ever hold."""
    with running_cluster("sweepcast-secrets-", f"s3cr3t-{secrets.token_hex(8)}") as servers:
        yield servers


def with_password(url: str, password: str) -> str:
    return url.replace("sweepcast@", f"sweepcast:{password}@").replace("http://", f"http://sweepcast:{password}@")


def leaked(folder: Path, password: str) -> list[str]:
    """Every file under ``folder`` holding the password (as bytes: logs, YAML, SQLite, anything)."""
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and password.encode() in p.read_bytes()]


def run(cluster: Cluster, cwd: Path, command: list[str], **env: str | None) -> subprocess.CompletedProcess:
    """``command`` in ``cwd`` with the cluster's addresses but no PGPASSWORD: only the URL's could log in."""
    cwd.mkdir(parents=True, exist_ok=True)
    environ = {k: v for k, v in cluster.env.items() if k not in ("PGPASSWORD", "MLFLOW_TRACKING_URI",
                                                                 "SWEEPCAST_OPTUNA_STORAGE")}
    environ.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run([sys.executable, *command], cwd=cwd, env=environ, capture_output=True, text=True,
                          timeout=120)


TRAIN = str(ROOT / "train.py")
SWEEP = ["-m", *[o for o in SMOKE if o != "cluster=postgres"], "model.layers=1,2"]
FILES = {  # config files a user might write: conf/cluster/*.yaml-style, read through --config-dir
    "both": "hydra:\n  sweeper:\n    storage: {storage}\ntracking:\n  uri: {tracking}\n",
    "storage": "hydra:\n  sweeper:\n    storage: {storage}\n",
    "tracking": "tracking:\n  uri: {tracking}\n",
}
# name -> (command with {storage}/{tracking} (password inside) and {conf}, env with the same, key named)
CASES: dict[str, tuple[list[str], dict[str, str], str]] = {
    "single run, tracking.uri": ([TRAIN, "tracking.uri={tracking}"], {}, "config key 'tracking.uri'"),
    "sweep, storage": ([TRAIN, *SWEEP, "hydra.sweeper.storage={storage}"], {}, "config key 'hydra.sweeper.storage'"),
    "sweep, tracking.uri": ([TRAIN, *SWEEP, "tracking.uri={tracking}"], {}, "config key 'tracking.uri'"),
    "sweep, postgres tracking.uri": ([TRAIN, *SWEEP, "tracking.uri={pg_tracking}"], {}, "config key 'tracking.uri'"),
    "sweep, both in a sweep choice": ([TRAIN, *SWEEP, "tracking.uri=sqlite:///x.db,{tracking}"], {},
                                      "config key 'tracking.uri'"),
    "$MLFLOW_TRACKING_URI, single run": ([TRAIN], {"MLFLOW_TRACKING_URI": "{tracking}"},
                                         "environment variable MLFLOW_TRACKING_URI"),
    "$MLFLOW_TRACKING_URI, cluster sweep": ([TRAIN, *SWEEP, "cluster=postgres"], {"MLFLOW_TRACKING_URI": "{tracking}"},
                                            "environment variable MLFLOW_TRACKING_URI"),
    "$SWEEPCAST_OPTUNA_STORAGE, cluster sweep": ([TRAIN, *SWEEP, "cluster=postgres"],
                                                 {"SWEEPCAST_OPTUNA_STORAGE": "{storage}"},
                                                 "environment variable SWEEPCAST_OPTUNA_STORAGE"),
    "report --storage": (["-m", "sweepcast", "report", "sweeps/x", "--storage", "{storage}"], {}, "--storage"),
    "report --tracking-uri": (["-m", "sweepcast", "report", "sweeps/x", "--tracking-uri", "{tracking}"], {},
                              "--tracking-uri"),
    "export --tracking-uri": (["-m", "sweepcast", "export", "--experiment", "e", "--to", "out", "--tracking-uri",
                               "{pg_tracking}"], {}, "--tracking-uri"),
    "ui --tracking-uri": (["-m", "sweepcast", "ui", "--tracking-uri", "{pg_tracking}"], {}, "--tracking-uri"),
    "export, $MLFLOW_TRACKING_URI": (["-m", "sweepcast", "export", "--experiment", "e", "--to", "out"],
                                     {"MLFLOW_TRACKING_URI": "{tracking}"}, "environment variable MLFLOW_TRACKING_URI"),
    "ui, $MLFLOW_TRACKING_URI": (["-m", "sweepcast", "ui"], {"MLFLOW_TRACKING_URI": "{pg_tracking}"},
                                 "environment variable MLFLOW_TRACKING_URI"),
}
# name -> (config file, command, key named): refused once Hydra has composed (it wrote .hydra/ first)
FILE_CASES: dict[str, tuple[str, list[str], str]] = {
    "single run, both in a file": ("both", [TRAIN], "config key 'hydra.sweeper.storage'"),
    "single run, tracking.uri in a file": ("tracking", [TRAIN], "config key 'tracking.uri'"),
    "sweep, storage in a file": ("storage", [TRAIN, *SWEEP], "config key 'hydra.sweeper.storage'"),
    "sweep, tracking.uri in a file": ("tracking", [TRAIN, *SWEEP], "config key 'tracking.uri'"),
}


def urls(cluster: Cluster) -> dict[str, str]:
    pg_tracking = cluster.storage.replace("/optuna", "/mlflow")
    return {name: with_password(url, cluster.password) for name, url in (
        ("storage", cluster.storage), ("tracking", cluster.tracking_uri), ("pg_tracking", pg_tracking))}


def assert_refused(done: subprocess.CompletedProcess, key: str, password: str, marker: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-3000:]
    (line,) = [line for line in output.splitlines() if marker in line]
    assert line.count(key) == 1 and ("PGPASSWORD" in line or "MLFLOW_TRACKING_PASSWORD" in line), line
    assert "Traceback" not in output and password not in output


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_password_in_a_url_is_refused_before_anything_is_written(case: str, cluster: Cluster,
                                                                    tmp_path: Path) -> None:
    command, env, key = CASES[case]
    fill = urls(cluster)
    done = run(cluster, tmp_path, [part.format(**fill) for part in command],
               **{name: value.format(**fill) for name, value in env.items()})
    assert_refused(done, key, cluster.password, "error: ")
    assert done.stderr.strip().startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert list(tmp_path.rglob("*")) == []  # refused on the command line: not one file, not one folder


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_a_password_in_a_config_file_is_refused_and_hydras_copy_removed(case: str, cluster: Cluster,
                                                                         tmp_path: Path) -> None:
    layout, command, key = FILE_CASES[case]
    conf = tmp_path / "user_conf" / "cluster"  # the user's own file, outside the working tree searched
    conf.mkdir(parents=True)
    (conf / "leaky.yaml").write_text("# @package _global_\n" + FILES[layout].format(**urls(cluster)))
    work = tmp_path / "work"
    done = run(cluster, work, [command[0], "--config-dir", str(conf.parent), *command[1:], "cluster=leaky"])
    assert_refused(done, key, cluster.password, "[ERROR]")
    assert leaked(work, cluster.password) == []
    assert not list(work.rglob(".hydra")) and not list(work.rglob("optuna.db")) and not (work / "mlruns").exists()


@pytest.mark.slow
def test_pgpassword_and_password_less_urls_run_a_sweep_and_leave_no_password(cluster: Cluster,
                                                                              tmp_path: Path) -> None:
    args = [*SMOKE, "model.layers=1,2", "hydra.sweeper.study_name=supported", "tracking.experiment=supported"]
    done = subprocess.run([sys.executable, TRAIN, "-m", *args], cwd=tmp_path, env=cluster.env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert {t.state.name for t in load(cluster, "supported").get_trials()} == {"COMPLETE"}
    runs = mlflow_runs(cluster, "supported")
    assert len(runs) == 3 and {r.info.status for r in runs} == {"FINISHED"}  # the parent and two trials
    assert list(tmp_path.rglob(".hydra/hydra.yaml")), "the trials' Hydra files are kept when nothing is refused"
    assert cluster.password not in done.stdout + done.stderr
    assert leaked(tmp_path, cluster.password) == []
    assert leaked(cluster.state / "artifacts", cluster.password) == []
