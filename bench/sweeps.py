"""What a sweep costs beyond its training: orchestration overhead, pruning savings, parallel workers.

Every sweep is ``train.py -m ...`` as users run it, in a fresh temporary working directory (its
``sweeps/`` and ``mlruns/`` land there), read back afterwards from the Optuna study
(``sweeps/*/optuna.db``: trial start and end) and the MLflow store (``mlruns/mlflow.db``: the
parent run, and per trial a child run with ``fit_seconds``, ``evaluate_seconds``, ``epochs_run``).
The benchmark process never imports TensorFlow: a probe subprocess times what the logs cannot
split (data preparation, the TensorFlow import, ``clear_session`` and ``gc.collect``).

Every sweep names its pruner: ``pruner: null`` in the sweeper config gives Optuna's default
``MedianPruner``, which would prune grid points and the unpruned baseline, so those use
``NopPruner``.

    python bench/sweeps.py                   # all three, ~15-20 minutes on 2 CPU cores
    python bench/sweeps.py --quick           # tiny sizes, ~3 minutes: does it still run?
    python bench/sweeps.py --only pruning --pruners halving
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "train.py"
MEASUREMENTS = ("overhead", "pruning", "workers")
PRUNERS = ("median", "halving", "halving4", "hyperband")
TIMESTEP, MAX_POINTS = 30, 2000
# One small job: the last 2,000 points of the embedded livestream, 30-minute lookback, no model artifact.
SMALL = ["trainer=smoke", f"trainer.max_points={MAX_POINTS}", f"data.timestep={TIMESTEP}", "tracking.log_model=false"]
# The overhead sweep's job: a realistic trial (two default-trainer epochs on the full 62 days, ~30 s),
# since a fixed per-trial cost is only meaningful against trials of the length users run.
OVERHEAD_JOB = ["trainer.epochs=2", "trainer.early_stopping_patience=null", "data.timestep=60", "tracking.log_model=false"]
SAMPLED_SPACE = ["model.units=choice(8,16,32,64)", "model.dropout=interval(0,0.5)",
                 "trainer.learning_rate=tag(log,interval(1e-4,3e-2))", "trainer.optimizer=choice(adam,adagrad)"]
NO_PRUNER = ["+hydra.sweeper.pruner._target_=optuna.pruners.NopPruner"]
OVERHEAD_TARGET, PRUNE_VALUE_TARGET, PRUNE_EPOCH_TARGET = 1.03, 0.02, 1 / 3
SWEEP_TIMEOUT_S = 3600
PROGRESS = re.compile(r"(trial \d+/\d+ .*|started \d+ more worker.*)$")


@dataclass(frozen=True)
class Sizes:
    """How big each measurement is; ``--quick`` keeps each trial's job as it is, with fewer trials."""

    grid: tuple[str, ...]
    grid_trials: int
    overhead_job: tuple[str, ...]
    sampled_trials: int
    epochs: int
    pruners: tuple[str, ...]


def sizes(quick: bool) -> Sizes:
    if quick:
        return Sizes(("model.layers=1", "model.units=8,16,32"), 3, tuple(SMALL), sampled_trials=5, epochs=2,
                     pruners=("halving",))
    return Sizes(("model.layers=1,2", "model.units=8,16,32,48,64"), 10, tuple(OVERHEAD_JOB), sampled_trials=30,
                 epochs=8, pruners=PRUNERS)


class SweepFailed(RuntimeError):
    """A sweep exited non-zero, timed out, or left a failed or missing trial."""


@dataclass
class Sweep:
    """One ``train.py -m`` run: its wall time, its parent run, and every trial joined with its child run.

    Times are seconds since the process was launched (Optuna's local datetimes and MLflow's epoch
    milliseconds both converted), so spans and gaps are plain differences."""

    label: str
    args: list[str]
    wall_s: float
    parent_start_s: float
    parent_end_s: float
    trials: list[dict[str, Any]]
    best_value: float | None
    output_tail: list[str]


# -- running a sweep --


def run_sweep(label: str, args: list[str], keep: bool, expected: int) -> Sweep:
    """Run one sweep in a fresh directory; fail loudly on a non-zero exit or a failed trial."""
    cwd = Path(tempfile.mkdtemp(prefix=f"sweepcast-bench-{label}-"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    for name in ("MLFLOW_TRACKING_URI", "HYDRA_FULL_ERROR"):
        env.pop(name, None)
    log(f"[{label}] train.py -m {' '.join(args)}")
    try:
        launched, started = datetime.now(), time.perf_counter()
        code, tail = stream(label, [sys.executable, str(TRAIN), "-m", *args], cwd, env)
        wall = time.perf_counter() - started
        if code != 0:
            raise SweepFailed(f"sweep '{label}' exited with status {code}; last output:\n" + "\n".join(tail))
        trials, best = read_study(cwd, launched)
        parent, runs = read_runs(cwd, launched)
        joined = join(label, trials, runs, expected)
        log(f"[{label}] {len(joined)} trials in {wall:.1f}s")
        return Sweep(label, args, wall, parent["start_s"], parent["end_s"], joined, best, list(tail)[-20:])
    finally:
        if keep:
            log(f"[{label}] kept {cwd}")
        else:
            shutil.rmtree(cwd, ignore_errors=True)


def stream(label: str, cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, deque[str]]:
    """Run ``cmd``, echoing its progress lines to stderr and keeping the tail for an error message.

    Past ``SWEEP_TIMEOUT_S`` it gets SIGINT first (the sweeper then stops its own workers and closes
    its runs), so a hung sweep fails the benchmark instead of hanging it."""
    process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: deque[str] = deque(maxlen=60)
    expired = threading.Event()
    timer = threading.Timer(SWEEP_TIMEOUT_S, lambda: (expired.set(), stop(process)))
    timer.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line.rstrip())
            found = PROGRESS.search(line.rstrip())
            if found:
                log(f"[{label}]   {found.group(1)}")
        code = process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:  # e.g. Ctrl-C in the benchmark
            stop(process)
    if expired.is_set():
        tail.append(f"(stopped by the benchmark after {SWEEP_TIMEOUT_S} s)")
        code = code or 1
    return code, tail


def stop(process: subprocess.Popen[str]) -> None:
    """SIGINT, then SIGKILL after a minute: only the sweep process this benchmark started."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


# -- reading what a sweep left --


def seconds_since(moment: datetime | None, launched: datetime) -> float | None:
    """Seconds from the launch to a (naive local, or aware) datetime."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone().replace(tzinfo=None)
    return (moment - launched).total_seconds()


def read_study(cwd: Path, launched: datetime) -> tuple[list[dict[str, Any]], float | None]:
    """Every trial of the one study under ``cwd/sweeps`` (surplus queue entries left out), and the best value."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    (db,) = (cwd / "sweeps").glob("*/optuna.db")
    storage = f"sqlite:///{db}"
    (name,) = optuna.study.get_all_study_names(storage)
    study = optuna.load_study(study_name=name, storage=storage)
    trials = [{
        "number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
        "start_s": seconds_since(t.datetime_start, launched),
        "complete_s": seconds_since(t.datetime_complete, launched),
        "steps_reported": len(t.intermediate_values), "run_id": t.user_attrs.get("mlflow_run_id"),
        "worker": t.user_attrs.get("worker"), "fail_reason": t.user_attrs.get("fail_reason"),
    } for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("surplus")]
    complete = [t["value"] for t in trials if t["state"] == "COMPLETE"]
    return trials, min(complete) if complete else None


def read_runs(cwd: Path, launched: datetime) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The parent run's start and end, and the child runs by id with the metrics we need and when
    the final metrics were logged (right after evaluation)."""
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}")
    base = launched.timestamp()
    parents, runs = [], {}
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id], max_results=5000):
            times = {"start_s": run.info.start_time / 1000 - base,
                     "end_s": run.info.end_time / 1000 - base if run.info.end_time else None}
            if "mlflow.parentRunId" not in run.data.tags:
                parents.append(times)
                continue
            final = client.get_metric_history(run.info.run_id, "fit_seconds")
            metrics = run.data.metrics
            runs[run.info.run_id] = {
                "status": run.info.status, "run_start_s": times["start_s"], "run_end_s": times["end_s"],
                "final_logged_s": final[-1].timestamp / 1000 - base if final else None,
                **{k: metrics.get(k) for k in ("fit_seconds", "evaluate_seconds", "epochs_run", "val_rmse")},
            }
    if len(parents) != 1:
        raise SweepFailed(f"expected one MLflow parent run in {cwd}, found {len(parents)}")
    return parents[0], runs


def join(label: str, trials: list[dict[str, Any]], runs: dict[str, dict[str, Any]],
         expected: int) -> list[dict[str, Any]]:
    """Each trial with its child run's metrics; a failed, unfinished or run-less trial is an error."""
    bad = [t for t in trials if t["state"] not in ("COMPLETE", "PRUNED") or t["run_id"] not in runs]
    if bad or len(trials) != expected:
        details = "; ".join(f"#{t['number']} {t['state']} run={t['run_id']} {t['fail_reason'] or ''}" for t in bad)
        raise SweepFailed(f"sweep '{label}': {len(trials)} trials (expected {expected}); bad: {details or '-'}")
    return [{**t, **runs[t["run_id"]]} for t in sorted(trials, key=lambda t: t["start_s"])]


def in_trial(trial: dict[str, Any]) -> float:
    """The job's own work: fit plus evaluation (a pruned trial has no evaluation)."""
    return (trial["fit_seconds"] or 0.0) + (trial["evaluate_seconds"] or 0.0)


def span(sweep: Sweep) -> float:
    """First trial start to last trial end: the sweep without process start-up and exit."""
    return max(t["complete_s"] for t in sweep.trials) - min(t["start_s"] for t in sweep.trials)


# -- the probe: what the logs cannot split, timed in a fresh process --


def probe_worker() -> None:
    """Worker side: data preparation (3 calls, as each trial prepares its data), the TensorFlow +
    Keras import, then per fit of one grid job the ``clear_session`` and ``gc.collect`` that the
    sweeper runs after every trial. Prints one JSON line."""
    import gc

    import yaml

    from sweepcast.data.pipeline import prepare

    def conf(name: str) -> dict[str, Any]:
        return {k: v for k, v in yaml.safe_load((ROOT / "conf" / name).read_text()).items() if k != "defaults"}

    data_cfg, prepare_s = {**conf("data/livestream.yaml"), "timestep": TIMESTEP}, []
    for _ in range(3):
        started = time.perf_counter()
        data = prepare(data_cfg, max_points=MAX_POINTS)
        prepare_s.append(time.perf_counter() - started)
    tf_before, started = "tensorflow" in sys.modules, time.perf_counter()
    import keras
    import tensorflow  # noqa: F401

    tf_import_s = time.perf_counter() - started
    from sweepcast.models import build_model
    from sweepcast.fitting import configure_threads, fit, validate_trainer

    spec = validate_trainer({**conf("trainer/default.yaml"), **conf("trainer/smoke.yaml"), "progress": "none"})
    configure_threads(spec.intra_op_threads, spec.inter_op_threads)
    clear_s, collect_s = [], []
    for _ in range(2):
        fit(build_model({**conf("model/lstm.yaml"), "units": 16}, (data.timestep, len(data.features))), data, spec,
            show_bar=False)
        started = time.perf_counter()
        keras.backend.clear_session()
        clear_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        gc.collect()
        collect_s.append(time.perf_counter() - started)
    print(json.dumps({"prepare_s": prepare_s, "tf_import_s": tf_import_s, "tf_imported_by_prepare": tf_before,
                      "clear_session_s": clear_s, "gc_collect_s": collect_s}), flush=True)
    os._exit(0)  # skip TensorFlow's teardown


def probe() -> dict[str, Any]:
    """Run :func:`probe_worker` in a fresh interpreter and summarise it (medians of the warm calls)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, __file__, "--probe"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0:
        raise SweepFailed(f"probe failed with status {done.returncode}:\n{(done.stdout + done.stderr)[-3000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return {**found, "prepare_warm_s": statistics.median(found["prepare_s"][1:]),
            "clear_session_median_s": statistics.median(found["clear_session_s"]),
            "gc_collect_median_s": statistics.median(found["gc_collect_s"])}


# -- measurement 1: orchestration overhead --


def grid_args(plan: Sizes, study: str, n_jobs: int = 1, job: tuple[str, ...] = tuple(SMALL)) -> list[str]:
    return [*job, *plan.grid, *NO_PRUNER, f"hydra.sweeper.study_name={study}", f"hydra.sweeper.n_jobs={n_jobs}"]


def parts(sweep: Sweep) -> list[dict[str, Any]]:
    """Per trial of a serial sweep: where its time went, from Optuna's and MLflow's timestamps.

    fit start = when the final metrics were logged - evaluate_seconds - fit_seconds."""
    rows, previous_end = [], sweep.parent_start_s
    for t in sweep.trials:
        fit_start = t["final_logged_s"] - t["evaluate_seconds"] - t["fit_seconds"]
        rows.append({
            "number": t["number"], "gap_before": t["start_s"] - previous_end,
            "job_setup": t["run_start_s"] - t["start_s"], "run_setup": fit_start - t["run_start_s"],
            "fit": t["fit_seconds"], "evaluate": t["evaluate_seconds"],
            "artifacts": t["run_end_s"] - t["final_logged_s"], "job_end": t["complete_s"] - t["run_end_s"],
            "trial": t["complete_s"] - t["start_s"],
        })
        previous_end = t["complete_s"]
    return rows


def breakdown(sweep: Sweep, rows: list[dict[str, Any]], found: dict[str, Any]) -> dict[str, float]:
    """Wall time minus fit and evaluation, in named parts that add up; indented keys are "of which"
    estimates from the probe (per-call time x trials), not part of the sum."""
    n = len(rows)
    total = lambda key: sum(r[key] for r in rows)  # noqa: E731
    first_extra = rows[0]["run_setup"] - statistics.median(r["run_setup"] for r in rows[1:] or rows)
    last_end = sweep.trials[-1]["complete_s"]
    return {
        "launch to parent run (imports without TF, Hydra compose, every grid point checked)": sweep.parent_start_s,
        "parent run to first trial (study, queue, claim)": rows[0]["gap_before"],
        "job set-up before the child run (Hydra job, data preparation, git tags, run start)": total("job_setup"),
        "  of which data preparation (probe)": found["prepare_warm_s"] * n,
        "child run to fit (config + data metrics to MLflow, threads, model build)": total("run_setup") - first_extra,
        "first trial's extra set-up (TensorFlow + Keras import)": first_extra,
        "  TF + Keras import alone (probe)": found["tf_import_s"],
        "after evaluation (scalers JSON, forecast page, job log to MLflow; run end)": total("artifacts"),
        "run end to trial complete (Hydra job end, clear_session, Optuna tell)": total("job_end"),
        "  of which keras clear_session (probe)": found["clear_session_median_s"] * n,
        "between trials (progress line, best.yaml/trials.csv, parent-run metrics, claim next)":
            total("gap_before") - rows[0]["gap_before"],
        "last trial to parent run end (final files, parent-run artifacts)": sweep.parent_end_s - last_end,
        "parent run end to exit (Hydra, interpreter and TensorFlow teardown)": sweep.wall_s - sweep.parent_end_s,
    }


def measure_overhead(plan: Sizes, keep: bool) -> dict[str, Any]:
    sweep = run_sweep("overhead", grid_args(plan, "bench-overhead", job=plan.overhead_job), keep, plan.grid_trials)
    log("[overhead] probe: data preparation, TensorFlow import, clear_session and gc in a fresh process")
    found = probe()
    rows = parts(sweep)
    work = sum(in_trial(t) for t in sweep.trials)
    parts_s = breakdown(sweep, rows, found)
    summed = sum(v for k, v in parts_s.items() if not k.startswith("  "))
    return {
        "wall_s": sweep.wall_s, "span_s": span(sweep), "trial_durations_s": sum(r["trial"] for r in rows),
        "fit_evaluate_s": work, "fit_s": sum(r["fit"] for r in rows), "evaluate_s": sum(r["evaluate"] for r in rows),
        "wall_over_work": sweep.wall_s / work, "span_over_work": span(sweep) / work, "overhead_s": sweep.wall_s - work,
        "breakdown_s": parts_s, "breakdown_unaccounted_s": sweep.wall_s - work - summed,
        "target": OVERHEAD_TARGET, "target_met": sweep.wall_s / work <= OVERHEAD_TARGET,
        "probe": found, "per_trial": rows, "sweep": asdict(sweep),
    }


def overhead_tables(r: dict[str, Any]) -> str:
    n, work = len(r["per_trial"]), r["fit_evaluate_s"]
    lines = [f"### Orchestration overhead ({n}-trial grid, n_jobs=1)", "",
             "| quantity | seconds | per trial | × in-trial fit+eval |", "|---|---:|---:|---:|"]
    for name, value in (("sweep wall (process start to exit)", r["wall_s"]),
                        ("first trial start to last trial end", r["span_s"]),
                        ("summed trial durations (Optuna)", r["trial_durations_s"]),
                        ("summed in-trial fit + evaluate (MLflow)", work),
                        ("  of which fit", r["fit_s"]), ("  of which evaluate", r["evaluate_s"])):
        lines.append(f"| {name} | {value:.1f} | {value / n:.2f} | {value / work:.3f} |")
    verdict = "met" if r["target_met"] else "missed"
    lines += ["", f"Target: wall ≤ {OVERHEAD_TARGET:.2f} × in-trial fit+eval: **{verdict}** "
                  f"({r['wall_over_work']:.2f}×; {r['span_over_work']:.2f}× first trial start to last trial end).",
              "", "| where the overhead went | seconds | per trial | share of overhead |", "|---|---:|---:|---:|"]
    for name, value in r["breakdown_s"].items():
        shown = f"&nbsp;&nbsp;{name.strip()}" if name.startswith("  ") else name
        lines.append(f"| {shown} | {value:.2f} | {value / n:.3f} | {value / r['overhead_s']:.0%} |")
    lines.append(f"| **total overhead (wall − fit − evaluate)** | **{r['overhead_s']:.2f}** | "
                 f"{r['overhead_s'] / n:.3f} | 100% |")
    return "\n".join(lines)


# -- measurement 2: pruning --


def pruner_args(name: str, plan: Sizes) -> list[str]:
    """Optuna pruner overrides; our trials report epochs as steps 1..epochs."""
    p = "+hydra.sweeper.pruner."
    if name == "none":
        return NO_PRUNER
    if name == "median":  # as the issue suggests; startup scaled down for --quick
        startup = min(5, max(1, plan.sampled_trials // 6))
        return [f"{p}_target_=optuna.pruners.MedianPruner", f"{p}n_startup_trials={startup}", f"{p}n_warmup_steps=2"]
    if name == "halving":  # rungs at epochs 1 and 3 (9 is past the end): each keeps the best third so far
        return [f"{p}_target_=optuna.pruners.SuccessiveHalvingPruner", f"{p}min_resource=1", f"{p}reduction_factor=3"]
    if name == "halving4":  # rungs at epochs 1 and 4: each keeps the best quarter so far
        return [f"{p}_target_=optuna.pruners.SuccessiveHalvingPruner", f"{p}min_resource=1", f"{p}reduction_factor=4"]
    if name == "hyperband":
        return [f"{p}_target_=optuna.pruners.HyperbandPruner", f"{p}min_resource=1",
                f"{p}max_resource={plan.epochs}", f"{p}reduction_factor=3"]
    raise ValueError(name)


def sampled_args(plan: Sizes, pruner: str) -> list[str]:
    return [*SMALL, f"trainer.epochs={plan.epochs}", "trainer.early_stopping_patience=null", *SAMPLED_SPACE,
            f"hydra.sweeper.n_trials={plan.sampled_trials}",
            "hydra.sweeper.sampler._target_=optuna.samplers.TPESampler", "hydra.sweeper.sampler.seed=7",
            f"hydra.sweeper.study_name=bench-prune-{pruner}", *pruner_args(pruner, plan)]


def pruning_row(name: str, sweep: Sweep) -> dict[str, Any]:
    epochs = sum(t["epochs_run"] for t in sweep.trials)
    steps = sum(t["steps_reported"] for t in sweep.trials)
    if epochs != steps:
        log(f"[pruning] warning: {name}: MLflow epochs_run sum {epochs:g} != Optuna reported steps {steps}")
    return {"pruner": name, "complete": sum(t["state"] == "COMPLETE" for t in sweep.trials),
            "pruned": sum(t["state"] == "PRUNED" for t in sweep.trials), "best_val_rmse": sweep.best_value,
            "epochs": epochs, "steps_reported": steps, "wall_s": sweep.wall_s,
            "fit_s": sum(t["fit_seconds"] for t in sweep.trials), "sweep": asdict(sweep)}


def measure_pruning(plan: Sizes, pruners: tuple[str, ...], keep: bool) -> dict[str, Any]:
    rows = [pruning_row(name, run_sweep(f"pruning-{name}", sampled_args(plan, name), keep, plan.sampled_trials))
            for name in ("none", *pruners)]
    base = rows[0]
    for row in rows:
        row["value_vs_none"] = (row["best_val_rmse"] / base["best_val_rmse"] - 1
                                if row["best_val_rmse"] is not None else float("nan"))
        row["epochs_vs_none"] = row["epochs"] / base["epochs"]
        row["wall_vs_none"] = row["wall_s"] / base["wall_s"]
        row["target_met"] = row["value_vs_none"] <= PRUNE_VALUE_TARGET and row["epochs_vs_none"] <= PRUNE_EPOCH_TARGET
    return {"trials": plan.sampled_trials, "epochs": plan.epochs, "space": SAMPLED_SPACE,
            "pruner_args": {n: pruner_args(n, plan) for n in ("none", *pruners)}, "rows": rows}


def pruning_table(r: dict[str, Any]) -> str:
    lines = [f"### Pruning ({r['trials']} TPE trials, seed 7, {r['epochs']} epochs unless pruned)", "",
             "| pruner | complete / pruned | best val RMSE | vs none | epochs trained | × none | wall s | × none "
             "| target (≤ +2 %, ≤ 1/3 epochs) |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in r["rows"]:
        target = "-" if row["pruner"] == "none" else "met" if row["target_met"] else "missed"
        best = "-" if row["best_val_rmse"] is None else f"{row['best_val_rmse']:.4g}"
        lines.append(f"| {row['pruner']} | {row['complete']} / {row['pruned']} | {best} | "
                     f"{row['value_vs_none']:+.1%} | {row['epochs']:.0f} | {row['epochs_vs_none']:.2f} | "
                     f"{row['wall_s']:.0f} | {row['wall_vs_none']:.2f} | {target} |")
    return "\n".join(lines)


# -- measurement 3: parallel workers --


def measure_workers(plan: Sizes, keep: bool) -> dict[str, Any]:
    rows = []
    for n_jobs in (1, 2):
        sweep = run_sweep(f"workers-{n_jobs}", grid_args(plan, f"bench-workers-{n_jobs}", n_jobs), keep,
                          plan.grid_trials)
        rows.append({"n_jobs": n_jobs, "wall_s": sweep.wall_s, "span_s": span(sweep),
                     "fit_evaluate_s": sum(in_trial(t) for t in sweep.trials),
                     "processes": len({t["worker"] for t in sweep.trials}), "sweep": asdict(sweep)})
    for row in rows:
        row["speedup_wall"] = rows[0]["wall_s"] / row["wall_s"]
        row["speedup_span"] = rows[0]["span_s"] / row["span_s"]
    return {"trials": plan.grid_trials, "rows": rows}


def workers_table(r: dict[str, Any]) -> str:
    lines = [f"### Parallel workers ({r['trials']}-trial grid)", "",
             "| n_jobs | processes that ran trials | wall s | speed-up | first start to last end s | speed-up "
             "| summed fit+eval s |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for row in r["rows"]:
        lines.append(f"| {row['n_jobs']} | {row['processes']} | {row['wall_s']:.1f} | {row['speedup_wall']:.2f} | "
                     f"{row['span_s']:.1f} | {row['speedup_span']:.2f} | {row['fit_evaluate_s']:.1f} |")
    return "\n".join(lines)


# -- the run --


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    """What the numbers depend on (versions read without importing TensorFlow), and the load."""
    cpu = next((line.split(":")[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    versions = {}
    for dist in ("tensorflow", "tensorflow-cpu", "keras", "optuna", "mlflow", "hydra-core"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return {"platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(),
            "versions": versions, "loadavg_at_start": os.getloadavg()}


def run(chosen: list[str], plan: Sizes, pruners: tuple[str, ...], keep: bool) -> tuple[dict[str, Any], list[str]]:
    """The chosen measurements, in order; their raw results and markdown tables."""
    results, tables = {}, []
    if "overhead" in chosen:
        results["overhead"] = measure_overhead(plan, keep)
        tables.append(overhead_tables(results["overhead"]))
    if "pruning" in chosen:
        results["pruning"] = measure_pruning(plan, pruners, keep)
        tables.append(pruning_table(results["pruning"]))
    if "workers" in chosen:
        results["workers"] = measure_workers(plan, keep)
        tables.append(workers_table(results["workers"]))
    return results, tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3-trial grids, 5 trials x 2 epochs, halving only")
    parser.add_argument("--only", nargs="+", choices=MEASUREMENTS, help="run only these measurements")
    parser.add_argument("--pruners", nargs="+", choices=PRUNERS,
                        help="pruners compared with none (default: all three; --quick: halving)")
    parser.add_argument("--epochs", type=int, help="epochs per unpruned pruning-study trial (default 8; quick 2)")
    parser.add_argument("--keep", action="store_true", help="keep each sweep's temporary working directory")
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/sweeps-<date>[-quick].json)")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe_worker()
        return
    plan = sizes(args.quick)
    if args.epochs:
        plan = replace(plan, epochs=args.epochs)
    pruners = tuple(args.pruners) if args.pruners else plan.pruners
    info, started = machine(), time.perf_counter()
    if info["loadavg_at_start"][0] > 0.5:
        log(f"note: load average {info['loadavg_at_start'][0]:.2f} at start: other work skews these timings")
    try:
        results, tables = run(args.only or list(MEASUREMENTS), plan, pruners, args.keep)
    except SweepFailed as err:
        log(f"error: {err}")
        sys.exit(1)
    print("\n\n".join(tables))
    out = args.out or ROOT / "bench/results" / f"sweeps-{date.today()}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    info["loadavg_at_end"] = os.getloadavg()
    out.write_text(json.dumps({"date": str(date.today()), "machine": info, "quick": args.quick,
                               "sizes": asdict(plan), "job": SMALL, "seconds": round(time.perf_counter() - started),
                               **results}, indent=1))
    log(f"raw results: {out} ({time.perf_counter() - started:.0f}s)")


if __name__ == "__main__":
    main()
