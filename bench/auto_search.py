"""search=series_auto on real series: does the best the tool finds beat the best default baseline,
and does selecting on the backtest (cv_val_rmse) pick better test models than one split (val_rmse)?

Each cell is one ``train.py -m search=series_auto`` study as users run it (a subprocess), with
``data.backtest.folds`` so every trial logs both ``val_rmse`` and ``cv_val_rmse``; the study
selects on ``val_rmse`` (its default), and the same trials are then ranked on ``cv_val_rmse``
too, so both selections come from one set of fits. The default-config baselines are the
study's first (enqueued) trials. Also: seconds per epoch of DLinear, N-HiTS and the LSTM on the
same windows (3 epochs each, no early stopping).

    python bench/auto_search.py                      # taxi at h 1 and 10 (~40 min on 2 CPU cores)
    python bench/auto_search.py --quick              # smoke budget, 8 trials: does it run? (~4 min)
    python bench/auto_search.py --datasets taxi --horizons 1 --trials 30
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from sweeps import machine

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "train.py"
TAXI = ROOT.parent / "shared" / "data" / "nab_nyc_taxi.csv"
DATASETS = {"taxi": ["data=csv_series", f"data.path={TAXI}"], "default": []}
BASELINES = ("persistence", "seasonal_naive", "moving_average", "ets", "gbdt")
# the taxi series has ~7,000 training windows: the default trainer's 10 epochs underfit (bench/README.md
# "families"); 20 with patience 3 keeps a study under 20 minutes here, pruning cuts the rest
TRAINER = ["trainer.epochs=20", "trainer.early_stopping_patience=3"]
QUICK = ["trainer=smoke", "trainer.max_points=3000"]
TARGET = 0.03  # the best found must beat the best default baseline's test RMSE by this


def env() -> dict[str, str]:
    environ = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    environ.pop("MLFLOW_TRACKING_URI", None)
    return environ


def study_cell(cwd: Path, dataset: str, horizon: int, trials: int, folds: int, quick: bool) -> dict[str, Any]:
    import mlflow

    sweep_dir = cwd / f"sweep-{dataset}-h{horizon}"
    args = ["-m", "search=series_auto", *DATASETS[dataset], f"data.horizon={horizon}", f"hydra.sweeper.n_trials={trials}",
            *([f"data.backtest.folds={folds}"] if folds else []), f"tracking.experiment=bench-auto-{dataset}-{horizon}",
            f"hydra.sweep.dir={sweep_dir}", *(QUICK if quick else TRAINER)]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(TRAIN), *args], cwd=cwd, env=env(), capture_output=True, text=True,
                          timeout=6 * 3600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{dataset} h={horizon} failed: " + " | ".join((done.stdout + done.stderr).splitlines()[-5:]))
    client = mlflow.MlflowClient(f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"bench-auto-{dataset}-{horizon}")
    rows = []
    for run in client.search_runs([experiment.experiment_id], max_results=1000):
        m, tags = run.data.metrics, run.data.tags
        if "trial_number" not in tags or "test_rmse" not in m or (folds and "cv_val_rmse" not in m):
            continue  # the parent run, or a pruned trial (no final metrics)
        rows.append({"trial": int(tags["trial_number"]), "family": run.data.params.get("model.name"),
                     "calendar": run.data.params.get("data.calendar.enabled"),
                     "timestep": run.data.params.get("data.timestep"),
                     "val_rmse": m["val_rmse"], "cv_val_rmse": m.get("cv_val_rmse"),
                     "cv_val_rmse_std": m.get("cv_val_rmse_std"),
                     "test_rmse": m["test_rmse"], "fit_seconds": m.get("fit_seconds")})
    rows.sort(key=lambda r: r["trial"])
    ensembles = {how: ensemble_cell(cwd, sweep_dir, client, experiment.experiment_id, how)
                 for how in ("equal", "greedy")}
    top5 = ensembles["equal"]
    defaults = [r for r in rows if r["trial"] < len(BASELINES)]
    best_default = min(defaults, key=lambda r: r["test_rmse"])
    by_val = min(rows, key=lambda r: r["val_rmse"])
    by_cv = min(rows, key=lambda r: r["cv_val_rmse"]) if folds else None
    return {"dataset": dataset, "horizon": horizon, "trials": trials, "folds": folds, "finished": len(rows),
            "wall_seconds": wall, "rows": rows, "best_default": best_default, "picked_by_val": by_val,
            "picked_by_cv": by_cv,
            "margin_val": 1 - by_val["test_rmse"] / best_default["test_rmse"],
            "margin_cv": 1 - by_cv["test_rmse"] / best_default["test_rmse"] if by_cv else None,
            "oracle_test_rmse": min(r["test_rmse"] for r in rows), "ensemble_top5": top5,
            "margin_ensemble": 1 - top5["test_rmse"] / best_default["test_rmse"],
            "ensemble_greedy": ensembles["greedy"],
            "margin_greedy": 1 - ensembles["greedy"]["test_rmse"] / best_default["test_rmse"]}


def ensemble_cell(cwd: Path, sweep_dir: Path, client: Any, experiment_id: str, how: str) -> dict[str, Any]:
    """``python -m sweepcast ensemble <sweep> --top 5 --weights <how>``, as a user runs it; its run's numbers."""
    store = f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}"
    done = subprocess.run([sys.executable, "-m", "sweepcast", "ensemble", str(sweep_dir), "--top", "5", "--weights", how,
                           "--tracking-uri", store], cwd=cwd, env=env(), capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"ensemble --weights {how} failed: " + " | ".join(done.stderr.splitlines()[-3:]))
    run = client.search_runs([experiment_id], f"tags.ensemble_weights = '{how}'",
                             order_by=["attributes.start_time DESC"], max_results=1)[0]
    families = {}
    for member in run.data.tags["ensemble_members"].split(","):
        families[member] = client.get_run(member).data.tags.get("model_family")
    return {"test_rmse": run.data.metrics["test_rmse"], "val_rmse": run.data.metrics["val_rmse"],
            "members": list(families), "families": list(families.values())}


def epoch_seconds(cwd: Path, dataset: str, quick: bool) -> list[dict[str, Any]]:
    """Seconds per epoch of the fast families against the LSTM on the same windows."""
    import mlflow

    found = []
    for family in ("lstm", "dlinear", "nhits"):
        args = [*DATASETS[dataset], f"model={family}", "trainer.epochs=3", "trainer.early_stopping_patience=null",
                "tracking.log_model=false", "tracking.experiment=bench-epochs", *(["trainer.max_points=3000"] if quick else [])]
        done = subprocess.run([sys.executable, str(TRAIN), *args], cwd=cwd, env=env(), capture_output=True, text=True,
                              timeout=3600)
        if done.returncode != 0:
            raise RuntimeError(f"{family} epochs failed: " + " | ".join((done.stdout + done.stderr).splitlines()[-5:]))
        client = mlflow.MlflowClient(f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}")
        run = client.search_runs([client.get_experiment_by_name("bench-epochs").experiment_id],
                                 order_by=["attributes.start_time DESC"], max_results=1)[0]
        m = run.data.metrics
        found.append({"family": family, "seconds_per_epoch": m["fit_seconds"] / m["epochs_run"],
                      "parameters": m["parameters"], "test_rmse_3_epochs": m["test_rmse"]})
        print(f"{dataset} {family}: {found[-1]['seconds_per_epoch']:.2f} s/epoch", flush=True)
    return found


def table(cells: list[dict[str, Any]]) -> str:
    lines = ["| data | h | trials (finished) | wall | best default baseline | picked by val_rmse | by cv_val_rmse | "
             "top-5 ensemble | greedy ensemble | margin (val / cv / top-5 / greedy) | target 3 % |",
             "|---|---:|---:|---:|---|---|---|---:|---:|---:|---|"]

    def percent(value: float | None) -> str:
        return "–" if value is None else f"{100 * value:.1f} %"

    for c in cells:
        base, val, cv = c["best_default"], c["picked_by_val"], c["picked_by_cv"]
        margins = [m for m in (c["margin_val"], c["margin_cv"], c["margin_ensemble"], c["margin_greedy"]) if m is not None]
        met = "met" if max(margins) >= TARGET else "missed"
        greedy = c["ensemble_greedy"]
        lines.append(f"| {c['dataset']} | {c['horizon']} | {c['trials']} ({c['finished']}) | {c['wall_seconds'] / 60:.0f} min | "
                     f"{base['family']} {base['test_rmse']:.1f} | {val['family']} #{val['trial']} {val['test_rmse']:.1f} | "
                     f"{cv['family'] + ' #' + str(cv['trial']) + ' ' + format(cv['test_rmse'], '.1f') if cv else '–'} | "
                     f"{c['ensemble_top5']['test_rmse']:.1f} | {greedy['test_rmse']:.1f} ({'+'.join(greedy['families'])}) | "
                     f"{percent(c['margin_val'])} / {percent(c['margin_cv'])} / {percent(c['margin_ensemble'])} / "
                     f"{percent(c['margin_greedy'])} | {met} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--datasets", default="taxi")
    parser.add_argument("--horizons", default="1,10")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--folds", type=int, default=3, help="0: no backtest (no cv_val_rmse; 4x fewer network fits)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--skip-epochs", action="store_true", help="leave out the seconds-per-epoch runs")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the sweeps and MLflow store here (default: a temporary folder, removed)")
    args = parser.parse_args()
    datasets = [d for d in args.datasets.split(",") if d and (d != "taxi" or TAXI.is_file())]
    trials = 8 if args.quick else args.trials
    cells, epochs = [], {}
    with tempfile.TemporaryDirectory(prefix="sweepcast-auto-") as scratch:
        tmp = args.workdir.resolve() if args.workdir else Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        for dataset in datasets:
            if not args.skip_epochs:
                epochs[dataset] = epoch_seconds(Path(tmp), dataset, args.quick)
            for horizon in (int(h) for h in args.horizons.split(",")):
                cells.append(study_cell(Path(tmp), dataset, horizon, trials, args.folds, args.quick))
                print(table(cells[-1:]), flush=True)
    print(table(cells))
    out = args.out or ROOT / "bench" / "results" / f"auto-search-{'quick-' if args.quick else ''}{date.today()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "quick": args.quick, "cells": cells, "epoch_seconds": epochs},
                              indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
