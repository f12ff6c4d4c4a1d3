"""GBDT trial time alone and beside a second worker, with scikit-learn's OpenMP unlimited or limited.

One measurement is a GBDT trial's work as ``train.py model=gbdt trainer=smoke`` does it: the
embedded livestream's last 2,000 points (1,400 training rows, 1,340 windows of timestep 60),
``conf/model/gbdt.yaml`` (200 trees), fit, then forecasts for val and test. Each measurement is
a fresh process (the *worker*) that prepares the data, fits once to warm up, says ready, waits for
"go" and then runs ``--fits`` trials back to back, timing each (wall, and the process's CPU time
over all its threads). *alone*: one worker. *beside*: two workers told "go" together, like
``hydra.sweeper.n_jobs=2`` on one machine; both report. An arm is a thread setting: ``none`` is
the code before issue 16.9 (no limit: scikit-learn's OpenMP takes every core in each worker),
a number N is ``fitting.configure_threads(N, None, tensorflow=False)``, i.e. the trial's budget,
applied by ``sweepcast.models.gbdt`` with ``threadpoolctl``. Measurements are interleaved (per
repeat: each arm alone then beside, the arm order rotating) so that the load other work puts on
the machine falls on every arm alike; compare ratios within one run. The load average is
recorded at the start and end and before every measurement.

    python bench/gbdt_threads.py                         # 5 repeats x arms none,1,2, ~3 minutes on 2 cores
    python bench/gbdt_threads.py --quick                 # 1 repeat, 1 fit each: does it still run?
    python bench/gbdt_threads.py --arms none,1 --repeats 9 --out /tmp/g.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MAX_POINTS = 2000  # trainer=smoke: 70 % of it is the 1,400 training rows of the report
SCENARIOS = {"alone": 1, "beside": 2}


def worker(arm: str, fits: int) -> None:
    """One worker process: set up, warm up, print ready, wait for go, print one JSON line of timings."""
    sys.path.insert(0, str(ROOT / "src"))
    import yaml
    from threadpoolctl import threadpool_info

    from sweepcast import fitting
    from sweepcast.data.pipeline import prepare
    from sweepcast.models import build_model
    from sweepcast.models import gbdt as gbdt_module

    if arm == "none":  # the code before the fix: no limit around fit and predict
        gbdt_module.thread_budget = lambda threads: nullcontext(threads)  # type: ignore[assignment]
    else:
        fitting.configure_threads(int(arm), None, tensorflow=False)
    data = prepare(yaml.safe_load((ROOT / "conf" / "data" / "livestream.yaml").read_text()), MAX_POINTS)
    spec = yaml.safe_load((ROOT / "conf" / "model" / "gbdt.yaml").read_text())

    def trial() -> None:
        model = build_model(spec, (data.timestep, len(data.features)), data.task.outputs)
        model.fit(data, seed=42)
        model.predict(data, "val")
        model.predict(data, "test")

    trial()  # warm-up: imports, OpenMP's thread pool
    print("ready", flush=True)
    sys.stdin.readline()
    walls, cpus = [], []
    for _ in range(fits):
        wall, cpu = time.perf_counter(), time.process_time()
        trial()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    openmp = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"]
    print(json.dumps({"wall_s": walls, "cpu_s": cpus, "train_windows": data.window_count("train"),
                      "budget": None if arm == "none" else fitting.trial_openmp_threads(),
                      "openmp_threads_outside_fit": openmp}), flush=True)


def measure(arm: str, workers: int, fits: int) -> dict[str, Any]:
    """``workers`` fresh worker processes on arm ``arm``, started together; every worker's timings."""
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", arm, "--fits", str(fits)], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(workers)]
    for proc in procs:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if line.strip() != "ready":
            raise RuntimeError(f"worker did not start: {line!r} (status {proc.wait()})")
    load = os.getloadavg()[0]
    for proc in procs:  # "go" to all at once
        proc.stdin.write("go\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"worker failed with status {proc.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return {"arm": arm, "workers": workers, "loadavg_1m_before": load, "per_worker": results}


def summarize(measurements: list[dict[str, Any]], arms: list[str]) -> list[dict[str, Any]]:
    rows = []
    for scenario, workers in SCENARIOS.items():
        for arm in arms:
            chosen = [m for m in measurements if m["arm"] == arm and m["workers"] == workers]
            walls = [w for m in chosen for r in m["per_worker"] for w in r["wall_s"]]
            cpus = [c for m in chosen for r in m["per_worker"] for c in r["cpu_s"]]
            if walls:
                rows.append({"scenario": scenario, "arm": arm, "trials": len(walls),
                             "median_wall_s": statistics.median(walls), "min_wall_s": min(walls),
                             "max_wall_s": max(walls), "median_cpu_s": statistics.median(cpus)})
    by_key = {(r["scenario"], r["arm"]): r for r in rows}
    for row in rows:  # ratios within this run: against the same scenario unlimited, and against alone
        before = by_key.get((row["scenario"], "none"))
        alone = by_key.get(("alone", row["arm"]))
        row["wall_vs_none"] = row["median_wall_s"] / before["median_wall_s"] if before else None
        row["wall_vs_alone"] = row["median_wall_s"] / alone["median_wall_s"] if alone else None
    return rows


def machine() -> dict[str, Any]:
    cpu = next((line.split(":")[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    versions = {d: metadata.version(d) for d in ("scikit-learn", "threadpoolctl", "numpy")}
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(), "usable_cpus": usable,
            "python": platform.python_version(), "versions": versions,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| scenario | OpenMP threads | trials | median wall s (min–max) | median CPU s | wall × unlimited | wall × alone |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = lambda v: "" if v is None else f"{v:.2f}"  # noqa: E731
        lines.append(f"| {r['scenario']} | {'unlimited' if r['arm'] == 'none' else r['arm']} | {r['trials']} | "
                     f"{r['median_wall_s']:.3f} ({r['min_wall_s']:.3f}–{r['max_wall_s']:.3f}) | "
                     f"{r['median_cpu_s']:.3f} | {ratio(r['wall_vs_none'])} | {ratio(r['wall_vs_alone'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="Writes a JSON (machine, every measurement, summary) and prints a table.")
    parser.add_argument("--arms", default="none,1,2",
                        help="comma-separated thread settings: none (no limit, the code before) or a number (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of every arm alone and beside (default: %(default)s)")
    parser.add_argument("--fits", type=int, default=3, help="trials per worker per measurement (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="1 repeat, 1 fit: does it still run?")
    parser.add_argument("--out", type=Path, default=None,
                        help="results JSON (default bench/results/gbdt-threads-DATE.json)")
    parser.add_argument("--worker", metavar="ARM", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.fits)
        return
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    for arm in arms:
        if arm != "none" and not (arm.isdigit() and int(arm) >= 1):
            parser.error(f"--arms: 'none' or a positive number, got {arm!r}")
    repeats, fits = (1, 1) if args.quick else (args.repeats, args.fits)
    started, load_start = time.time(), os.getloadavg()
    measurements = []
    for repeat in range(repeats):
        shift = repeat % len(arms)
        for arm in arms[shift:] + arms[:shift]:
            for scenario, workers in SCENARIOS.items():  # A, B, A, B, ...
                m = measure(arm, workers, fits)
                m["repeat"] = repeat
                measurements.append(m)
                walls = [w for r in m["per_worker"] for w in r["wall_s"]]
                print(f"repeat {repeat} {scenario:6s} threads {arm:4s} wall {statistics.median(walls):.3f}s "
                      f"load {m['loadavg_1m_before']:.2f}", file=sys.stderr, flush=True)
    rows = summarize(measurements, arms)
    result = {"machine": machine(), "loadavg_at_start": load_start, "loadavg_at_end": os.getloadavg(),
              "seconds": time.time() - started, "repeats": repeats, "fits_per_worker": fits, "arms": arms,
              "measurements": measurements, "summary": rows}
    out = args.out or ROOT / "bench" / "results" / f"gbdt-threads-{date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(rows))
    print(f"load average (1, 5, 15 min) at start {load_start}, at end {result['loadavg_at_end']}; "
          f"{result['seconds']:.0f} s; {out}")


if __name__ == "__main__":
    main()
