"""Sweeps on one machine with PostgreSQL + an MLflow server vs SQLite: trials per hour, the
storage's own cost per trial, and the cost of deterministic TensorFlow ops.

Three measurements:

* ``workers``: ``train.py -m ... hydra.sweeper.n_jobs=1,2,4`` as users run it, each cell in a
  fresh temporary working directory, on SQLite (the default storage and MLflow store) and on
  ``cluster=postgres`` against a real PostgreSQL + MLflow tracking server started with
  ``scripts/cluster-up.sh`` (free loopback ports, a temporary state folder under /tmp, a random
  password passed to the workers as ``PGPASSWORD`` only). Two trial kinds: the smoke job and a
  realistic one. Trials per hour = completed trials / wall time of the command. While a cell
  runs, a poller records the sweep's process tree (peak RSS) and, on PostgreSQL, every client
  connection in ``pg_stat_activity`` mapped to the process that holds it; CPU seconds of the
  sweep, of PostgreSQL and of the MLflow server are read before and after each cell, and so are
  the row counts of every table in both databases.
* ``storage``: no training. 1,000 trials through (a) plain Optuna (``ask``, one float
  parameter, 3 ``report`` calls, ``tell``; ``RandomSampler``, no heartbeats) and (b) our path
  (``open_storage`` with heartbeats, ``top_up`` queueing all 1,000 slots, then per trial
  ``queue_lock`` + ``fail_stale`` + ``claim_next``, the heartbeat block, the user attributes the
  sweeper sets, 3 ``report`` + ``should_prune``, ``tell``; and, timed apart, the sweeper's
  after-trial bookkeeping: the full ``get_trials`` read, ``best.yaml`` and ``trials.csv``).
  Each variant runs in a fresh process on a fresh SQLite file or PostgreSQL database.
* ``determinism``: the same ``train.py`` run with ``trainer.deterministic=false`` and ``true``,
  repeated, alternating; seconds per epoch from the job's log and whether the metrics of the
  repeats are identical (read back from the run's MLflow store).

    python bench/cluster.py                         # all three, ~32 minutes on 2 CPU cores
    python bench/cluster.py --quick                 # tiny sizes, ~5 minutes: does it still run?
    python bench/cluster.py --only storage --storage-trials 1000
    python bench/cluster.py --only workers --storages postgres --kinds smoke --jobs 1 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "train.py"
MEASUREMENTS = ("workers", "storage", "determinism")
STORAGES = ("sqlite", "postgres")
KINDS = ("smoke", "realistic")
# The smoke trial: the tests' cluster job (600 points, 20-minute lookback, 8 units, 1 epoch; ~2 s).
SMOKE_JOB = ["trainer=smoke", "trainer.max_points=600", "data.timestep=20", "model.units=8",
             "tracking.log_model=false"]
# A realistic trial: the default LSTM (2 layers x 64 units, timestep 60, batch 128) for 3 full
# epochs on the last 20,000 minutes, model, forecast page and scalers logged as by default (~25 s).
REALISTIC_JOB = ["trainer.epochs=3", "trainer.max_points=20000", "trainer.early_stopping_patience=null"]
SPACE = ["model.dropout=interval(0,0.5)"]
DETERMINISM_JOB = ["trainer.epochs=2", "trainer.max_points=20000", "tracking.log_model=false", "trainer.progress=log"]
SWEEP_TIMEOUT_S = 1800
IDLE_SETTLE_S, IDLE_MEASURE_S = 30, 30
PROGRESS = re.compile(r"(trial \d+/\d+ .*|started \d+ more worker.*)$")
EPOCH_LINE = re.compile(r"epoch (\d+)/(\d+) .*\((\d+(?:\.\d+)?)s\)\s*$")
TIMING_METRIC = re.compile(r"(_seconds|_per_second)$")  # timings differ run to run; everything else must not


class BenchFailed(RuntimeError):
    """A command exited non-zero, timed out, or left the wrong trials."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the cluster: cluster-up.sh / cluster-down.sh on free ports in a temporary state folder --


@dataclass
class Cluster:
    state: Path
    pg_port: int
    ml_port: int
    password: str

    @property
    def storage(self) -> str:  # what the workers get: no password (libpq reads PGPASSWORD)
        return f"postgresql+psycopg://sweepcast@127.0.0.1:{self.pg_port}/optuna"

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.ml_port}"

    def url(self, database: str) -> str:  # for this process, whose environment has no PGPASSWORD
        return f"postgresql+psycopg://sweepcast:{self.password}@127.0.0.1:{self.pg_port}/{database}"

    def env(self) -> dict[str, str]:
        return {"PGPASSWORD": self.password, "SWEEPCAST_OPTUNA_STORAGE": self.storage,
                "MLFLOW_TRACKING_URI": self.tracking_uri}

    def connect(self, database: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.pg_port, user="sweepcast", password=self.password,
                               dbname=database, autocommit=True)

    def superuser_sql(self, sql: str) -> None:
        """As the server's OS user over the local socket, like cluster-up.sh (the workers' role
        cannot create databases)."""
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))
        cmd = [str(found[-1]) if found else "psql", "-h", str(self.state / "sockets"), "-p", str(self.pg_port),
               "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qtAc", sql]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise BenchFailed(f"psql as the superuser failed: {done.stderr.strip()}")

    def postmaster_pid(self) -> int:
        return int((self.state / "postgres" / "postmaster.pid").read_text().split()[0])

    def mlflow_pid(self) -> int:
        return int((self.state / "mlflow.pid").read_text().strip())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def cluster_up() -> Iterator[Cluster]:
    """PostgreSQL + MLflow server as users start them; stopped and removed afterwards."""
    state = Path(tempfile.mkdtemp(prefix="sweepcast-bench-cluster-"))  # under /tmp: the postgres user reaches it
    found = Cluster(state, free_port(), free_port(), secrets.token_hex(12))
    env = {**os.environ, "PGPASSWORD": found.password, "SWEEPCAST_PG_PORT": str(found.pg_port),
           "SWEEPCAST_MLFLOW_PORT": str(found.ml_port), "SWEEPCAST_PYTHON": sys.executable}
    log(f"[cluster] scripts/cluster-up.sh {state} (PostgreSQL :{found.pg_port}, MLflow :{found.ml_port})")
    started = time.perf_counter()
    try:
        up = subprocess.run([str(ROOT / "scripts" / "cluster-up.sh"), str(state)], env=env, capture_output=True,
                            text=True, timeout=300)
        if up.returncode != 0:
            logs = "".join(f"\n--- {p.name}\n{p.read_text()[-2000:]}" for p in state.glob("*.log"))
            raise BenchFailed(f"cluster-up.sh failed ({up.returncode}):\n{up.stdout}{up.stderr}{logs}")
        log(f"[cluster] up in {time.perf_counter() - started:.1f}s")
        yield found
    finally:
        subprocess.run([str(ROOT / "scripts" / "cluster-down.sh"), str(state)], env=env, capture_output=True,
                       timeout=120)
        shutil.rmtree(state, ignore_errors=True)
        log(f"[cluster] down, {state} removed")


# -- process trees: CPU seconds and memory --


def tree(pid: int) -> list[Any]:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process tree, reaped children included."""
    import psutil

    total = 0.0
    for process in tree(pid):
        try:
            t = process.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            continue
    return total


def rss_mb(pid: int) -> tuple[float, float]:
    """(sum, largest) RSS in MB of a process tree."""
    import psutil

    sizes = []
    for process in tree(pid):
        try:
            sizes.append(process.memory_info().rss / 2**20)
        except psutil.NoSuchProcess:
            continue
    return (sum(sizes), max(sizes)) if sizes else (0.0, 0.0)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Poller:
    """Samples the sweep's process tree (RSS) and, on PostgreSQL, who holds which connection."""

    def __init__(self, root_pid: int, cluster: Cluster | None, interval: float = 0.5) -> None:
        self.root_pid, self.cluster, self.interval = root_pid, cluster, interval
        self.stop_event = threading.Event()
        self.peak_rss_mb, self.peak_process_rss_mb, self.peak_processes = 0.0, 0.0, 0
        self.port_owner: dict[int, int] = {}
        self.roles: dict[int, str] = {}
        self.peak: dict[str, int] = {}  # "<role>|<database>" -> most connections seen at once
        self.peak_total: dict[str, int] = {}  # database -> most client connections at once
        self.peak_pid: dict[str, int] = {}  # "<role>|<pid>|<database>" -> most connections at once
        self.samples = 0
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def __enter__(self) -> "Poller":
        self.connection = self.cluster.connect() if self.cluster else None
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop_event.set()
        self.thread.join()
        if self.connection is not None:
            self.connection.close()

    def loop(self) -> None:
        while not self.stop_event.wait(self.interval):
            try:
                self.sample()
            except Exception as err:  # noqa: BLE001 - a missed sample must not stop the benchmark
                log(f"  (poller: {type(err).__name__}: {err})")

    def role(self, pid: int) -> str:
        """worker0 (the command), worker1.. (its n_jobs processes, by start order), workerN-subprocess,
        mlflow-server, or other:<command> (decided when the pid is first seen)."""
        if pid not in self.roles:
            import psutil

            try:
                process = psutil.Process(pid)
                chain = [process, *process.parents()]
                server = self.cluster.mlflow_pid() if self.cluster else None
                ids = [p.pid for p in chain]
                if pid == os.getpid():
                    self.roles[pid] = "benchmark"
                elif self.root_pid in ids:
                    position = ids.index(self.root_pid)
                    if position == 0:
                        self.roles[pid] = "worker0"
                    else:
                        kids = sorted(psutil.Process(self.root_pid).children(), key=lambda p: p.create_time())
                        child = chain[position - 1].pid
                        index = [k.pid for k in kids].index(child) + 1
                        self.roles[pid] = f"worker{index}" + ("" if position == 1 else "-subprocess")
                elif server in ids:
                    self.roles[pid] = "mlflow-server"
                else:
                    self.roles[pid] = "other:" + " ".join(process.cmdline()[:4])[:120]
            except (psutil.NoSuchProcess, ValueError):
                self.roles[pid] = "gone"
        return self.roles[pid]

    def owner(self, port: int) -> int | None:
        if port not in self.port_owner:
            import psutil

            for conn in psutil.net_connections(kind="tcp"):
                if conn.laddr and conn.raddr and conn.raddr.port == self.cluster.pg_port and conn.pid:
                    self.port_owner[conn.laddr.port] = conn.pid
        return self.port_owner.get(port)

    def sample(self) -> None:
        self.samples += 1
        total, largest = rss_mb(self.root_pid)
        self.peak_rss_mb, self.peak_process_rss_mb = max(self.peak_rss_mb, total), max(self.peak_process_rss_mb, largest)
        self.peak_processes = max(self.peak_processes, len(tree(self.root_pid)))
        if self.connection is None:
            return
        rows = self.connection.execute(
            "SELECT datname, client_port FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND pid <> pg_backend_pid() AND client_port IS NOT NULL").fetchall()
        counts: dict[str, int] = {}
        per_pid: dict[str, int] = {}
        totals: dict[str, int] = {}
        for database, port in rows:
            pid = self.owner(port)
            role = self.role(pid) if pid else "unknown"
            counts[f"{role}|{database}"] = counts.get(f"{role}|{database}", 0) + 1
            per_pid[f"{role}|{pid}|{database}"] = per_pid.get(f"{role}|{pid}|{database}", 0) + 1
            totals[database] = totals.get(database, 0) + 1
        for key, value in counts.items():
            self.peak[key] = max(self.peak.get(key, 0), value)
        for key, value in per_pid.items():  # a role may be several processes (the server's workers)
            self.peak_pid[key] = max(self.peak_pid.get(key, 0), value)
        for key, value in totals.items():
            self.peak_total[key] = max(self.peak_total.get(key, 0), value)


# -- running a command --


def stream(label: str, cmd: list[str], cwd: Path, env: dict[str, str], cluster: Cluster | None,
           poll: bool = True) -> tuple[int, list[str], float, Poller | None]:
    """Run ``cmd``; echo progress lines, keep the output; past the timeout SIGINT then SIGKILL."""
    process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = time.perf_counter()
    lines: list[str] = []
    expired = threading.Event()

    def stop() -> None:
        expired.set()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()

    timer = threading.Timer(SWEEP_TIMEOUT_S, stop)
    timer.start()
    poller = Poller(process.pid, cluster) if poll else None
    try:
        if poller:
            poller.__enter__()
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            found = PROGRESS.search(line.rstrip())
            if found:
                log(f"[{label}]   {found.group(1)}")
        code = process.wait()
        wall = time.perf_counter() - started
    finally:
        timer.cancel()
        if poller:
            poller.__exit__(None, None, None)
        if process.poll() is None:
            process.kill()
            process.wait()
    if expired.is_set():
        lines.append(f"(stopped by the benchmark after {SWEEP_TIMEOUT_S} s)")
        code = code or 1
    return code, lines, wall, poller


def base_env() -> dict[str, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    for name in ("MLFLOW_TRACKING_URI", "HYDRA_FULL_ERROR", "SWEEPCAST_OPTUNA_STORAGE", "PGPASSWORD"):
        env.pop(name, None)
    return env


# -- measurement 1: trials per hour --


def row_counts(cluster: Cluster) -> dict[str, int]:
    """Exact rows of every table in both databases, ``db.table`` -> rows."""
    counts = {}
    for database in ("optuna", "mlflow"):
        with cluster.connect(database) as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename").fetchall()]
            for table in tables:
                counts[f"{database}.{table}"] = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            counts[f"{database}.__bytes__"] = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            counts[f"{database}.__sessions__"] = conn.execute(  # connections ever opened to it (PostgreSQL 14+)
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]
    return counts


def read_study(storage_url: str, name: str, launched: datetime) -> list[dict[str, Any]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(storage_url)
    study = optuna.load_study(study_name=name, storage=storage)

    def at(moment: datetime | None) -> float | None:
        return None if moment is None else (moment - launched).total_seconds()

    found = [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
              "start_s": at(t.datetime_start), "complete_s": at(t.datetime_complete),
              "worker": t.user_attrs.get("worker"), "run_id": t.user_attrs.get("mlflow_run_id"),
              "closed_as": next((k for k in ("surplus", "duplicate") if t.user_attrs.get(k)), None)}
             for t in study.get_trials(deepcopy=False)]
    storage.engine.dispose()  # close this process's connections: the next cell counts connections
    return found


def read_runs(tracking_uri: str, experiment: str) -> dict[str, dict[str, Any]]:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], max_results=5000) if found else []
    return {r.info.run_id: {"status": r.info.status, "child": "mlflow.parentRunId" in r.data.tags,
                            **{k: r.data.metrics.get(k) for k in ("fit_seconds", "evaluate_seconds", "epochs_run")}}
            for r in runs}


def run_cell(storage: str, kind: str, n_jobs: int, n_trials: int, cluster: Cluster | None, keep: bool,
             job: list[str]) -> dict[str, Any]:
    label = f"{storage}-{kind}-{n_jobs}"
    name = f"bench-{label}"
    args = [*(["cluster=postgres"] if storage == "postgres" else []), *job, *SPACE,
            f"hydra.sweeper.n_trials={n_trials}", f"hydra.sweeper.n_jobs={n_jobs}",
            f"hydra.sweeper.study_name={name}", f"tracking.experiment={name}"]
    cwd = Path(tempfile.mkdtemp(prefix=f"sweepcast-bench-{label}-"))
    env = {**base_env(), **(cluster.env() if cluster else {})}
    log(f"[{label}] train.py -m {' '.join(args)}")
    servers_before = ({"postgres": cpu_seconds(cluster.postmaster_pid()), "mlflow": cpu_seconds(cluster.mlflow_pid())}
                      if cluster else {})
    rows_before = row_counts(cluster) if cluster else {}
    load_before, cpu_before, launched = os.getloadavg(), children_cpu(), datetime.now()
    try:
        code, lines, wall, poller = stream(label, [sys.executable, str(TRAIN), "-m", *args], cwd, env, cluster)
        sweep_cpu = children_cpu() - cpu_before
        load_after = os.getloadavg()
        if code != 0:
            raise BenchFailed(f"{label}: exit status {code}; last output:\n" + "\n".join(lines[-40:]))
        servers = ({k: cpu_seconds(pid) - servers_before[k] for k, pid in
                    (("postgres", cluster.postmaster_pid()), ("mlflow", cluster.mlflow_pid()))} if cluster else {})
        rows_after = row_counts(cluster) if cluster else {}
        storage_url = cluster.url("optuna") if cluster else f"sqlite:///{cwd / 'sweeps' / name / 'optuna.db'}"
        trials = read_study(storage_url, name, launched)
        tracking_uri = cluster.tracking_uri if cluster else f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}"
        runs = read_runs(tracking_uri, name)
        sizes = ({} if cluster else {"optuna_db_bytes": (cwd / "sweeps" / name / "optuna.db").stat().st_size,
                                     "mlflow_db_bytes": (cwd / "mlruns" / "mlflow.db").stat().st_size,
                                     "artifact_bytes": sum(p.stat().st_size for p in (cwd / "mlruns").rglob("*")
                                                           if p.is_file() and p.name != "mlflow.db")})
        if cluster:
            sizes["artifact_bytes_total"] = sum(p.stat().st_size for p in (cluster.state / "artifacts").rglob("*")
                                                if p.is_file())
    finally:
        if keep:
            log(f"[{label}] kept {cwd}")
        else:
            shutil.rmtree(cwd, ignore_errors=True)
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    children = {k: v for k, v in runs.items() if v["child"]}
    if len(complete) != n_trials or any(t["state"] not in ("COMPLETE",) and not t["closed_as"] for t in trials):
        raise BenchFailed(f"{label}: {len(complete)} complete of {len(trials)} trials (expected {n_trials}): "
                          + ", ".join(f"#{t['number']} {t['state']}" for t in trials))
    if sorted(children) != sorted(t["run_id"] for t in complete):
        raise BenchFailed(f"{label}: MLflow child runs {len(children)} do not match {len(complete)} trials")
    first = min(t["start_s"] for t in complete)
    last = max(t["complete_s"] for t in complete)
    durations = [t["complete_s"] - t["start_s"] for t in complete]
    in_trial = [(children[t["run_id"]]["fit_seconds"] or 0) + (children[t["run_id"]]["evaluate_seconds"] or 0)
                for t in complete]
    result = {
        "label": label, "storage": storage, "kind": kind, "n_jobs": n_jobs, "n_trials": n_trials, "args": args,
        "wall_s": wall, "completed": len(complete), "trials_per_hour": len(complete) / wall * 3600,
        "first_start_s": first, "last_complete_s": last, "span_s": last - first,
        "trials_per_hour_span": len(complete) / (last - first) * 3600,
        "trial_s_mean": statistics.mean(durations), "trial_s_median": statistics.median(durations),
        "trial_s_min": min(durations), "trial_s_max": max(durations),
        "fit_evaluate_s_mean": statistics.mean(in_trial),
        "processes_that_ran_trials": len({t["worker"] for t in complete}),
        "trials_by_process": sorted((sum(t["worker"] == w for t in complete) for w in {t["worker"] for t in complete}),
                                    reverse=True),
        "queue_entries_closed": sum(bool(t["closed_as"]) for t in trials),
        "sweep_cpu_s": sweep_cpu, "server_cpu_s": servers,
        "peak_rss_mb": poller.peak_rss_mb if poller else None,
        "peak_process_rss_mb": poller.peak_process_rss_mb if poller else None,
        "peak_processes": poller.peak_processes if poller else None,
        "connections_peak": dict(sorted(poller.peak.items())) if poller and cluster else None,
        "connections_peak_total": poller.peak_total if poller and cluster else None,
        "connections_peak_by_process": dict(sorted(poller.peak_pid.items())) if poller and cluster else None,
        "poll_samples": poller.samples if poller else None,
        "rows_added": {k: rows_after[k] - rows_before.get(k, 0) for k in rows_after
                       if rows_after[k] != rows_before.get(k, 0)} if cluster else None,
        "sizes": sizes, "loadavg_before": load_before, "loadavg_after": load_after,
        "trials": trials, "output_tail": lines[-15:],
    }
    log(f"[{label}] {len(complete)} trials in {wall:.1f}s: {result['trials_per_hour']:.0f}/h "
        f"(first start to last end {last - first:.1f}s; mean trial {result['trial_s_mean']:.1f}s; "
        f"CPU sweep {sweep_cpu:.0f}s {servers and ', '.join(f'{k} {v:.1f}s' for k, v in servers.items())}; "
        f"load {load_after[0]:.2f})")
    return result


def measure_workers(storages: list[str], kinds: list[str], jobs: list[int], trials: dict[str, int],
                    jobs_for: dict[str, list[str]], keep: bool, cluster: Cluster | None) -> list[dict[str, Any]]:
    rows = []
    for storage in storages:
        for kind in kinds:
            for n_jobs in jobs:
                rows.append(run_cell(storage, kind, n_jobs, trials[kind], cluster if storage == "postgres" else None,
                                     keep, jobs_for[kind]))
    return rows


def workers_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| storage | trial | n_jobs | trials | wall s | **trials/h** | × n_jobs=1 | first start to last end s "
             "| trials/h (that span) | mean trial s | mean fit+eval s | processes that ran trials |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    base = {(r["storage"], r["kind"]): r["trials_per_hour"] for r in rows if r["n_jobs"] == 1}
    for r in rows:
        ref = base.get((r["storage"], r["kind"]))
        lines.append(
            f"| {r['storage']} | {r['kind']} | {r['n_jobs']} | {r['completed']} | {r['wall_s']:.1f} | "
            f"**{r['trials_per_hour']:.0f}** | {r['trials_per_hour'] / ref if ref else float('nan'):.2f} | "
            f"{r['span_s']:.1f} | {r['trials_per_hour_span']:.0f} | {r['trial_s_mean']:.1f} | "
            f"{r['fit_evaluate_s_mean']:.1f} | {r['processes_that_ran_trials']} "
            f"({'/'.join(map(str, r['trials_by_process']))}) |")
    return "\n".join(lines)


# -- measurement 2: the storage's own cost per trial --


def storage_worker(variant: str, url: str, n: int, out: Path) -> None:
    """One variant on a fresh storage, in this (fresh) process; writes per-trial times as JSON."""
    import optuna
    from optuna.distributions import FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ms = lambda seconds: round(seconds * 1000, 3)  # noqa: E731
    result: dict[str, Any] = {"variant": variant, "n": n}
    if variant == "plain":
        storage = optuna.storages.RDBStorage(url)
        study = optuna.create_study(storage=storage, study_name="bench-plain",
                                    sampler=optuna.samplers.RandomSampler(seed=0))
        per_trial = []
        for _ in range(n):
            started = time.perf_counter()
            trial = study.ask()
            x = trial.suggest_float("x", 0.0, 1.0)
            for step in range(3):
                trial.report(x + step, step)
            study.tell(trial, x)
            per_trial.append(ms(time.perf_counter() - started))
        result["per_trial_ms"] = per_trial
    else:
        from sweepcast.sweeper import outputs
        from sweepcast.sweeper.internals import trial_id
        from sweepcast.sweeper.study import (StaleTrialHandler, claim_next, fail_stale, heartbeat, load_study,
                                             open_storage, queue_lock, top_up)

        folder = Path(tempfile.mkdtemp(prefix="sweepcast-bench-files-"))
        started = time.perf_counter()
        storage = open_storage(url, 10, 30, StaleTrialHandler(2, lambda trial: None))
        study = load_study(storage, "bench-ours", "minimize", optuna.samplers.RandomSampler(seed=0),
                           optuna.pruners.NopPruner())
        result["open_ms"] = ms(time.perf_counter() - started)

        def full_read(repeats: int = 5) -> float:
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                study.get_trials(deepcopy=False)
                times.append(time.perf_counter() - started)
            return ms(statistics.median(times))

        lock_times = []
        for _ in range(20):  # the lock alone: a file lock, or a PostgreSQL connection opened per use
            started = time.perf_counter()
            with queue_lock(url):
                pass
            lock_times.append(time.perf_counter() - started)
        result["lock_only_ms_median"] = ms(statistics.median(lock_times))
        started = time.perf_counter()
        with queue_lock(url):
            fail_stale(study)
            queued = top_up(study, n, None, {"x": FloatDistribution(0.0, 1.0)})
        result["top_up_ms"] = ms(time.perf_counter() - started)
        result["queued"] = queued
        result["get_trials_ms_all_waiting"] = full_read()
        claim, work, tell, after = [], [], [], []
        for _ in range(n):
            t0 = time.perf_counter()
            with queue_lock(url):
                fail_stale(study)
                trial = claim_next(study, storage, n)
            t1 = time.perf_counter()
            with heartbeat(storage, trial_id(trial), 10):
                trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
                x = trial.suggest_float("x", 0.0, 1.0)
                trial.set_user_attr("overrides", [f"model.dropout={x}"])
                trial.set_user_attr("mlflow_run_id", secrets.token_hex(16))
                for step in range(3):
                    trial.report(x + step, step)
                    trial.should_prune()
            t2 = time.perf_counter()
            study.tell(trial, x)
            t3 = time.perf_counter()
            trials = study.get_trials(deepcopy=False)  # what SweepSession.after_trial does after each tell
            best = outputs.best_trial(study, trials)
            outputs.write_best(folder, study, best, None, "val_rmse")  # type: ignore[arg-type]
            outputs.write_trials(folder, study)
            t4 = time.perf_counter()
            claim.append(ms(t1 - t0))
            work.append(ms(t2 - t1))
            tell.append(ms(t3 - t2))
            after.append(ms(t4 - t3))
        if claim_next(study, storage, n) is not None:
            raise BenchFailed("a trial was left to claim after n claims")
        result["get_trials_ms_all_complete"] = full_read()
        result.update(claim_ms=claim, run_ms=work, tell_ms=tell, after_trial_ms=after,
                      per_trial_ms=[round(a + b + c, 3) for a, b, c in zip(claim, work, tell)])
        shutil.rmtree(folder, ignore_errors=True)
    result["states"] = {s.name: n for s, n in
                        __import__("collections").Counter(t.state for t in study.get_trials(deepcopy=False)).items()}
    out.write_text(json.dumps(result))


def summarise(series: list[float]) -> dict[str, float]:
    n = len(series)
    tenth = max(n // 10, 1)
    return {"mean": statistics.mean(series), "median": statistics.median(series),
            "first_tenth_mean": statistics.mean(series[:tenth]), "last_tenth_mean": statistics.mean(series[-tenth:]),
            "by_tenth_mean": [round(statistics.mean(series[i * tenth:(i + 1) * tenth]), 3) for i in range(n // tenth)],
            "total_s": sum(series) / 1000}


def measure_storage(storages: list[str], n: int, cluster: Cluster | None) -> list[dict[str, Any]]:
    rows = []
    for storage in storages:
        for variant in ("plain", "ours"):
            label = f"storage-{storage}-{variant}"
            folder = Path(tempfile.mkdtemp(prefix=f"sweepcast-bench-{label}-"))
            env = base_env()
            if storage == "sqlite":
                url = f"sqlite:///{folder / 'optuna.db'}"
            else:
                database = f"bench_{variant}_{secrets.token_hex(3)}"
                cluster.superuser_sql(f'CREATE DATABASE "{database}" OWNER sweepcast')  # type: ignore[union-attr]
                url = cluster.storage.rsplit("/", 1)[0] + f"/{database}"  # type: ignore[union-attr]
                env["PGPASSWORD"] = cluster.password  # type: ignore[union-attr]
            log(f"[{label}] {n} trials on {url}")
            out = folder / "result.json"
            load_before, started = os.getloadavg(), time.perf_counter()
            done = subprocess.run([sys.executable, __file__, "--storage-worker", variant, url, str(n), str(out)],
                                  cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                raise BenchFailed(f"{label} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}")
            found = json.loads(out.read_text())
            if storage == "sqlite":
                found["db_bytes"] = (folder / "optuna.db").stat().st_size
            else:
                with cluster.connect(database) as conn:  # type: ignore[union-attr]
                    found["db_bytes"] = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
                    found["rows"] = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for (t,) in
                                     conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                                     .fetchall()}
            shutil.rmtree(folder, ignore_errors=True)
            row = {"storage": storage, "variant": variant, "n": n, "wall_s": wall, "loadavg_before": load_before,
                   "loadavg_after": os.getloadavg(), **{k: v for k, v in found.items() if not k.endswith("_ms")
                                                        or not isinstance(v, list)}}
            for key in ("per_trial_ms", "claim_ms", "run_ms", "tell_ms", "after_trial_ms"):
                if key in found:
                    row[key.replace("_ms", "")] = summarise(found[key])
                    row[key] = found[key]
            log(f"[{label}] {row['per_trial']['mean']:.2f} ms/trial (first tenth {row['per_trial']['first_tenth_mean']:.2f}, "
                f"last tenth {row['per_trial']['last_tenth_mean']:.2f})"
                + (f"; claim {row['claim']['first_tenth_mean']:.2f} -> {row['claim']['last_tenth_mean']:.2f} ms, "
                   f"after-trial files {row['after_trial']['first_tenth_mean']:.1f} -> "
                   f"{row['after_trial']['last_tenth_mean']:.1f} ms" if variant == "ours" else ""))
            rows.append(row)
    return rows


def storage_table(rows: list[dict[str, Any]]) -> str:
    tenth = max(rows[0]["n"] // 10, 1) if rows else 0
    lines = [f"| storage | path | part | ms/trial (mean of all) | first {tenth} | last {tenth} | total s |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        parts = [("ask + suggest + 3 report + tell", "per_trial")] if r["variant"] == "plain" else [
            ("claim (lock + fail_stale + claim_next)", "claim"), ("run (heartbeat, attrs, suggest, 3 report + "
                                                                 "should_prune)", "run"),
            ("tell", "tell"), ("**claim + run + tell**", "per_trial"),
            ("after-trial bookkeeping (get_trials, best.yaml, trials.csv)", "after_trial")]
        for name, key in parts:
            s = r[key]
            lines.append(f"| {r['storage']} | {r['variant']} | {name} | {s['mean']:.2f} | {s['first_tenth_mean']:.2f} "
                         f"| {s['last_tenth_mean']:.2f} | {s['total_s']:.1f} |")
    return "\n".join(lines)


# -- measurement 3: the cost of determinism --


def measure_determinism(repeats: int, job: list[str], keep: bool) -> dict[str, Any]:
    cwd = Path(tempfile.mkdtemp(prefix="sweepcast-bench-determinism-"))
    runs = []
    try:
        for repeat in range(repeats):
            for deterministic in (False, True):
                args = [*job, f"trainer.deterministic={str(deterministic).lower()}",
                        f"tracking.experiment=bench-determinism"]
                label = f"deterministic={deterministic} #{repeat + 1}"
                log(f"[{label}] train.py {' '.join(args)}")
                load_before = os.getloadavg()
                code, lines, wall, _ = stream(label, [sys.executable, str(TRAIN), *args], cwd, base_env(), None,
                                              poll=False)
                if code != 0:
                    raise BenchFailed(f"{label}: exit status {code}:\n" + "\n".join(lines[-30:]))
                epochs = [float(m.group(3)) for m in map(EPOCH_LINE.search, lines) if m]
                run_id = next(re.search(r"MLflow run (\w+)", l).group(1) for l in lines if "MLflow run " in l)
                runs.append({"deterministic": deterministic, "repeat": repeat + 1, "wall_s": wall,
                             "epoch_s": epochs, "run_id": run_id, "loadavg_before": load_before,
                             "loadavg_after": os.getloadavg()})
                log(f"[{label}] epochs {epochs} s, process {wall:.1f}s")
        import mlflow

        client = mlflow.MlflowClient(f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}")
        for run in runs:
            found = client.get_run(run["run_id"])
            run["fit_seconds"] = found.data.metrics.get("fit_seconds")
            run["metrics"] = dict(sorted(found.data.metrics.items()))
            run["loss_history"] = [m.value for m in client.get_metric_history(run["run_id"], "loss")]
            run["val_loss_history"] = [m.value for m in client.get_metric_history(run["run_id"], "val_loss")]
    finally:
        if keep:
            log(f"[determinism] kept {cwd}")
        else:
            shutil.rmtree(cwd, ignore_errors=True)
    return {"job": job, "repeats": repeats, "runs": runs, "summary": determinism_summary(runs)}


def determinism_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per setting: epoch times, and whether every non-timing metric and the loss curve of the
    repeats are identical (exact float equality, as MLflow stored them)."""
    def outcome(run: dict[str, Any]) -> dict[str, float]:
        return {k: v for k, v in run["metrics"].items() if not TIMING_METRIC.search(k)}

    summary = {}
    for deterministic in (False, True):
        group = [r for r in runs if r["deterministic"] == deterministic]
        reference = group[0]
        differing = sorted({k for r in group[1:] for k in set(outcome(r)) | set(outcome(reference))
                            if outcome(r).get(k) != outcome(reference).get(k)})
        summary[str(deterministic).lower()] = {
            "epoch1_s": statistics.mean(r["epoch_s"][0] for r in group),
            "later_epoch_s": statistics.mean(e for r in group for e in r["epoch_s"][1:]) if any(
                len(r["epoch_s"]) > 1 for r in group) else None,
            "fit_s": statistics.mean(r["fit_seconds"] for r in group),
            "process_s": statistics.mean(r["wall_s"] for r in group),
            "metrics_identical_across_repeats": not differing and all(
                r["loss_history"] == reference["loss_history"] for r in group),
            "differing_metrics": differing,
            "val_rmse": [outcome(r).get("val_rmse") for r in group],
            "test_rmse": [outcome(r).get("test_rmse") for r in group],
        }
    summary["identical_across_all_runs"] = all(outcome(r) == outcome(runs[0]) and r["loss_history"] ==
                                               runs[0]["loss_history"] for r in runs)
    summary["later_epoch_ratio"] = (summary["true"]["later_epoch_s"] / summary["false"]["later_epoch_s"]
                                    if summary["false"]["later_epoch_s"] else None)
    summary["fit_ratio"] = summary["true"]["fit_s"] / summary["false"]["fit_s"]
    return summary


def determinism_table(r: dict[str, Any]) -> str:
    lines = ["| trainer.deterministic | epoch 1 s | later epochs s | fit s | process s | metrics identical across "
             "repeats | val RMSE per repeat |", "|---|---:|---:|---:|---:|---|---|"]
    for key in ("false", "true"):
        s = r["summary"][key]
        later = "-" if s["later_epoch_s"] is None else f"{s['later_epoch_s']:.2f}"
        lines.append(f"| {key} | {s['epoch1_s']:.2f} | {later} | {s['fit_s']:.2f} | {s['process_s']:.1f} | "
                     f"{'yes' if s['metrics_identical_across_repeats'] else 'no: ' + ', '.join(s['differing_metrics'][:6])}"
                     f" | {', '.join(f'{v:.6f}' for v in s['val_rmse'])} |")
    return "\n".join(lines)


# -- the run --


def machine() -> dict[str, Any]:
    cpu = next((line.split(":")[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    versions = {}
    for dist in ("tensorflow", "tensorflow-cpu", "keras", "optuna", "mlflow", "hydra-core", "sqlalchemy", "psycopg"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    pg = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if pg:
        versions["postgresql"] = subprocess.run([str(pg[-1]), "--version"], capture_output=True, text=True).stdout.strip()
    git = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()  # noqa: E731
    return {"platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "versions": versions, "commit": git("rev-parse", "HEAD"),
            "src_dirty": bool(git("status", "--porcelain", "src", "conf", "scripts", "train.py")),
            "loadavg_at_start": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does it still run?")
    parser.add_argument("--only", nargs="+", choices=MEASUREMENTS, help="run only these measurements")
    parser.add_argument("--storages", nargs="+", choices=STORAGES, default=list(STORAGES))
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--jobs", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--smoke-trials", type=int, default=8)
    parser.add_argument("--realistic-trials", type=int, default=6)
    parser.add_argument("--storage-trials", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2, help="determinism: runs per setting")
    parser.add_argument("--keep", action="store_true", help="keep each command's temporary working directory")
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/cluster-<date>[-quick].json)")
    parser.add_argument("--summarise", type=Path, metavar="JSON",
                        help="recompute the summaries of a results file (rewritten in place) and print its tables")
    parser.add_argument("--storage-worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.storage_worker:
        variant, url, n, out = args.storage_worker
        storage_worker(variant, url, int(n), Path(out))
        return
    if args.summarise:
        data = json.loads(args.summarise.read_text())
        if "determinism" in data:
            data["determinism"]["summary"] = determinism_summary(data["determinism"]["runs"])
        args.summarise.write_text(json.dumps(data, indent=1))
        print(tables_of(data))
        return
    chosen = args.only or list(MEASUREMENTS)
    trials = {"smoke": args.smoke_trials, "realistic": args.realistic_trials}
    jobs_for = {"smoke": SMOKE_JOB, "realistic": REALISTIC_JOB}
    determinism_job = DETERMINISM_JOB
    if args.quick:
        trials = {"smoke": 3, "realistic": 2}
        jobs_for = {"smoke": SMOKE_JOB, "realistic": ["trainer.epochs=1", "trainer.max_points=4000",
                                                      "trainer.early_stopping_patience=null"]}
        args.jobs, args.storage_trials, args.repeats = [1, 2], 50, 1
        determinism_job = ["trainer.epochs=2", "trainer.max_points=4000", "tracking.log_model=false",
                           "trainer.progress=log"]
    info, started = machine(), time.perf_counter()
    log(f"load average at start: {info['loadavg_at_start']}; commit {info['commit'][:7]}"
        f"{' (src/conf/scripts dirty)' if info['src_dirty'] else ''}")
    results: dict[str, Any] = {}
    local = [s for s in args.storages if s == "sqlite"]
    try:
        # SQLite first, with no server running; then everything that needs the cluster
        if "workers" in chosen and local:
            results["workers"] = measure_workers(local, args.kinds, args.jobs, trials, jobs_for, args.keep, None)
        if "storage" in chosen and local:
            results["storage"] = measure_storage(local, args.storage_trials, None)
        if "determinism" in chosen:
            results["determinism"] = measure_determinism(args.repeats, determinism_job, args.keep)
        if "postgres" in args.storages and ({"workers", "storage"} & set(chosen)):
            with cluster_up() as cluster:
                time.sleep(IDLE_SETTLE_S)  # the MLflow server starts its job runner and consumers after /health
                idle_before = (cpu_seconds(cluster.postmaster_pid()), cpu_seconds(cluster.mlflow_pid()))
                time.sleep(IDLE_MEASURE_S)
                idle = [(cpu_seconds(p) - b) / IDLE_MEASURE_S for p, b in
                        ((cluster.postmaster_pid(), idle_before[0]), (cluster.mlflow_pid(), idle_before[1]))]
                results["cluster_idle"] = {"postgres_cpu_per_s": idle[0], "mlflow_cpu_per_s": idle[1],
                                           "mlflow_server_processes": len(tree(cluster.mlflow_pid())),
                                           "mlflow_server_rss_mb": rss_mb(cluster.mlflow_pid())[0],
                                           "postgres_rss_mb": rss_mb(cluster.postmaster_pid())[0]}
                log(f"[cluster] idle: {results['cluster_idle']}")
                if "workers" in chosen:
                    results.setdefault("workers", []).extend(measure_workers(
                        ["postgres"], args.kinds, args.jobs, trials, jobs_for, args.keep, cluster))
                if "storage" in chosen:
                    results.setdefault("storage", []).extend(measure_storage(["postgres"], args.storage_trials,
                                                                             cluster))
    except BenchFailed as err:
        log(f"error: {err}")
        sys.exit(1)
    finally:
        if results:
            out = args.out or ROOT / "bench/results" / f"cluster-{date.today()}{'-quick' if args.quick else ''}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            info["loadavg_at_end"] = os.getloadavg()
            out.write_text(json.dumps({"date": str(date.today()), "machine": info, "quick": args.quick,
                                       "seconds": round(time.perf_counter() - started), "smoke_job": SMOKE_JOB,
                                       "realistic_job": jobs_for["realistic"], "space": SPACE, **results}, indent=1))
            log(f"raw results: {out} ({time.perf_counter() - started:.0f}s)")
    print(tables_of(results))


def tables_of(results: dict[str, Any]) -> str:
    tables = []
    if "workers" in results:
        tables.append(workers_table(results["workers"]))
    if "storage" in results:
        tables.append(storage_table(results["storage"]))
    if "determinism" in results:
        tables.append(determinism_table(results["determinism"]))
    return "\n\n".join(tables)


if __name__ == "__main__":
    main()
