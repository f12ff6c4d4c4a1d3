"""Check-ins at full size and on real data (issue 5): setup time, memory and every family's quality.

A 6.4-million-row synthetic SNAP file; how long and how much memory load + clean + window setup
take on it; memory against timestep; every family's quality on the shared New York slice.

    python bench/checkins.py generate                     # /tmp/sweepcast-checkins/synthetic-6442890-s0.txt (+ .gz), ~1 min
    python bench/checkins.py setup                        # phases and peak RSS, each in a fresh process (~4 min)
    python bench/checkins.py quality --seeds 42 1 2       # every family on ../shared/data/gowalla_nyc_dev.txt.gz (~7 min)
    python bench/checkins.py quality --families lstm seq2seq transformer --epochs 40 --seeds 42 1 2 \
        --extra trainer.early_stopping_patience=5 --out bench/results/checkins-quality-long-DATE.json   # ~10 min
    python bench/checkins.py setup --quick                # 200,000 rows, one repeat: does it still run? (~30 s)
    python bench/checkins.py phase --mode prepare --path FILE --profile /tmp/prepare.prof   # one measurement

The synthetic file is made by a vectorised generator here (``synthesize``), not by
``sweepcast.data.checkins.generate_checkins``, whose Python loop per user would take ~15 minutes
for 6.4 million rows. It follows the same model (home, work and nearby favourite places in New
York, gaps no faster than 40 km/h, SNAP's newest-first order) and adds the same noise at the same
rates (stay duplicates 1/12, impossible jumps 1/40, trips out of the box 1/30, exact duplicate
lines 1/50 of a user's check-ins), but draws user lengths from a heavy tail like Gowalla's
(median ~12, a few users with thousands), so short users are dropped and long windows exist.
``setup`` prints how the cleaning report's counts compare with ``generate_checkins``'s.
Nothing here writes inside the repository except the results JSON.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sweeps import machine  # noqa: E402

TRAIN = ROOT / "train.py"
NYC_DEV = ROOT.parent / "shared" / "data" / "gowalla_nyc_dev.txt.gz"
SNAP_ROWS = 6_442_890  # loc-gowalla_totalCheckins.txt
WORK = Path(tempfile.gettempdir()) / "sweepcast-checkins"
FAMILIES = ("lstm", "seq2seq", "transformer", "gbdt", "last_checkin")
NETWORKS = ("lstm", "seq2seq", "transformer")
TARGET_SECONDS, TARGET_RSS_MB = 30.0, 3000.0
# the check-in study (full Gowalla), RMSE / R² on scaled targets
STUDY = {"seq2seq": (0.086, 0.354), "lstm": (0.104, 0.228), "transformer": (0.113, -0.208)}
NOISE = {"stay": 1 / 12, "jump": 1 / 40, "trip": 1 / 30, "duplicate": 1 / 50}  # as generate_checkins
QUALITY_METRICS = ("test_rmse", "test_r2", "test_km_median", "test_km_mean", "test_dt_minutes_mae", "skill",
                   "baseline_test_rmse", "baseline_test_km_median", "val_rmse", "fit_seconds", "epochs_run",
                   "parameters", "clean_rows_out", "clean_users_out")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


# --- generator ----------------------------------------------------------------------------

def synthesize(rows: int = SNAP_ROWS, seed: int = 0, start: str = "2009-02-04", days: int = 626,
               span_days: int = 240):
    """Exactly ``rows`` check-ins in SNAP's layout as a frame (``read_snap``'s dtypes), deterministic by ``seed``.

    Users are active for ``span_days`` starting anywhere in ``days`` from ``start`` (Gowalla ran
    2009-02 to 2010-10). The last user may be cut short to hit ``rows`` exactly.
    """
    import numpy as np
    import pandas as pd

    from sweepcast.data.checkins import NYC, haversine_km

    rng = np.random.default_rng(seed)
    lat0, lat1, lon0, lon1 = NYC
    noise = sum(NOISE.values())
    want = int(rows * 1.02 / (1 + noise))  # base check-ins; the 2 % margin is cut off at the end
    counts = np.clip(np.rint(rng.lognormal(2.5, 1.3, want // 5 + 1000)), 2, 5000).astype(np.int64)
    users = int(np.searchsorted(np.cumsum(counts), want)) + 1
    if users > len(counts):
        raise RuntimeError("not enough users drawn")  # E[count] ~ 28: never with want // 5 draws
    counts = counts[:users]
    n = int(counts.sum())
    # places, ordered along a snake over a 200 x 200 grid so that neighbouring ids are near each other
    n_places = max(50, 3 * users)
    plat = rng.uniform(lat0 + 0.02, lat1 - 0.02, n_places)
    plon = rng.uniform(lon0 + 0.02, lon1 - 0.02, n_places)
    row = ((plat - lat0) / (lat1 - lat0) * 200).astype(np.int64)
    col = ((plon - lon0) / (lon1 - lon0) * 200).astype(np.int64)
    order = np.lexsort((np.where(row % 2 == 0, col, 199 - col), row))
    plat, plon = plat[order], plon[order]
    # favourites: home, work, the 6 places next to home, 3 at random; Dirichlet(0.7) weights
    home = rng.integers(0, n_places, users)
    near = np.clip(home[:, None] + np.array([-3, -2, -1, 1, 2, 3]), 0, n_places - 1)
    fav = np.concatenate([home[:, None], rng.integers(0, n_places, (users, 1)), near,
                          rng.integers(0, n_places, (users, 3))], axis=1)
    weights = rng.gamma(0.7, 1.0, fav.shape)
    cum = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    user = np.repeat(np.arange(users, dtype=np.int64), counts)
    first = np.zeros(n, dtype=bool)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    first[starts] = True
    # favourite per check-in: one searchsorted over every user's cumulative weights shifted by the user id
    slot = np.searchsorted((cum + np.arange(users)[:, None]).ravel(), user + rng.random(n), side="right")
    place = fav.ravel()[np.minimum(slot, user * fav.shape[1] + fav.shape[1] - 1)]
    lat = plat[place] + rng.normal(0, 1e-5, n)
    lon = plon[place] + rng.normal(0, 1e-5, n)
    # gaps: exponential around span/count/2 plus 10 minutes, never faster than 40 km/h
    dist = np.concatenate([[0.0], haversine_km(lat[:-1], lon[:-1], lat[1:], lon[1:])])
    dist[first] = 0.0
    gaps = rng.exponential(1.0, n) * (span_days * 86400 / counts / 2)[user] + 600
    gaps = np.maximum(gaps, dist / 40.0 * 3600 + 300)
    total = np.cumsum(gaps)
    origin = pd.Timestamp(start).value // 10**9 + rng.integers(0, (days - span_days) * 86400, users)
    seconds = (origin[user] + total - (total[starts] - gaps[starts])[user]).astype(np.int64)
    location = place.astype(np.int64)
    parts = {"user": [user], "time": [seconds], "lat": [lat], "lon": [lon], "location": [location]}

    def add(mask, time, new_lat, new_lon, new_location):
        for key, value in zip(parts, (user[mask], time, new_lat, new_lon, new_location)):
            parts[key].append(value)

    m = rng.random(n) < NOISE["stay"]  # the same place again minutes later, ~20 m off
    k = int(m.sum())
    add(m, seconds[m] + rng.integers(60, 1200, k), lat[m] + rng.normal(0, 2e-4, k), lon[m] + rng.normal(0, 2e-4, k),
        location[m])
    m = rng.random(n) < NOISE["jump"]  # the opposite side of the city a minute later
    k = int(m.sum())
    add(m, seconds[m] + rng.integers(30, 90, k), np.clip(lat0 + lat1 - lat[m] + rng.normal(0, 0.01, k), lat0, lat1),
        np.clip(lon0 + lon1 - lon[m] + rng.normal(0, 0.01, k), lon0, lon1), n_places + rng.integers(0, 10**6, k))
    m = rng.random(n) < NOISE["trip"]  # Boston, days later
    k = int(m.sum())
    add(m, seconds[m] + rng.integers(86400, 3 * 86400, k), 42.36 + rng.normal(0, 0.02, k),
        -71.06 + rng.normal(0, 0.02, k), n_places + 10**6 + rng.integers(0, 10**6, k))
    m = rng.random(n) < NOISE["duplicate"]  # exact duplicate lines
    add(m, seconds[m], lat[m], lon[m], location[m])
    columns = {key: np.concatenate(value) for key, value in parts.items()}
    order = np.lexsort((-columns["time"], columns["user"]))[:rows]  # per user newest first, as SNAP
    if len(order) < rows:
        raise RuntimeError(f"generated {len(order)} rows, fewer than {rows}")
    frame = pd.DataFrame({key: value[order] for key, value in columns.items()})
    frame["time"] = pd.to_datetime(frame["time"], unit="s").astype("datetime64[ns]")
    return frame


def generate(args: argparse.Namespace) -> dict[str, Any]:
    from sweepcast.data.checkins import write_snap

    WORK.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else WORK / f"synthetic-{args.rows}-s{args.seed}.txt"
    started = time.perf_counter()
    frame = synthesize(args.rows, args.seed)
    generated = time.perf_counter() - started
    write_snap(frame, out)
    written = time.perf_counter() - started - generated
    result = {"path": str(out), "rows": len(frame), "users": int(frame["user"].nunique()), "seed": args.seed,
              "bytes": out.stat().st_size, "generate_seconds": generated, "write_seconds": written,
              "rows_per_user": frame.groupby("user").size().describe(percentiles=[0.5, 0.9, 0.99]).round(1).to_dict(),
              "peak_rss_mb": peak_rss_mb()}
    if args.gzip:
        gz_started = time.perf_counter()
        with open(out, "rb") as source, gzip.open(f"{out}.gz", "wb", compresslevel=6) as target:
            shutil.copyfileobj(source, target, 1 << 22)
        result.update(gzip_path=f"{out}.gz", gzip_bytes=Path(f"{out}.gz").stat().st_size,
                      gzip_seconds=time.perf_counter() - gz_started)
    Path(f"{out}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return result


# --- one measurement, in its own process ---------------------------------------------------

def data_config(path: str, timestep: int) -> dict[str, Any]:
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "data" / "checkins.yaml"), resolve=True)
    cfg.update(path=str(path), timestep=int(timestep))
    return cfg


def phase(args: argparse.Namespace) -> None:
    """``read``: read_snap; ``clean``: read_snap then clean_checkins; ``prepare``: prepare_checkins
    with its read and clean timed from inside; ``dataset``: prepare then the train tf.data pipeline
    and ``--batches`` batches. Prints one JSON line; peak RSS is this process's, so far, after each phase."""
    t0 = time.perf_counter()
    from sweepcast.data import trajectories
    from sweepcast.data.checkin_clean import CheckinCleanSpec, clean_checkins
    from sweepcast.data.checkins import read_snap

    out: dict[str, Any] = {"mode": args.mode, "path": args.path, "timestep": args.timestep,
                           "import_seconds": time.perf_counter() - t0, "rss_after_import_mb": rss_mb()}
    if args.mode in ("read", "clean"):
        started = time.perf_counter()
        frame, _ = read_snap(args.path)
        out.update(read_seconds=time.perf_counter() - started, rows_in=len(frame), peak_after_read_mb=peak_rss_mb())
        if args.mode == "clean":
            started = time.perf_counter()
            cleaned, report = clean_checkins(frame, CheckinCleanSpec.from_config({}), args.path)
            out.update(clean_seconds=time.perf_counter() - started, peak_after_clean_mb=peak_rss_mb(),
                       rows_out=len(cleaned), report=report.as_metrics())
    else:
        timings: dict[str, float] = {}

        def timed(name, function):
            def wrapper(*a, **k):
                started = time.perf_counter()
                result = function(*a, **k)
                timings[f"{name}_seconds"] = time.perf_counter() - started
                timings[f"peak_after_{name}_mb"] = peak_rss_mb()
                return result
            return wrapper

        trajectories.read_snap = timed("read", trajectories.read_snap)
        trajectories.clean_checkins = timed("clean", trajectories.clean_checkins)
        cfg = data_config(args.path, args.timestep)
        started = time.perf_counter()
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            data = profiler.runcall(trajectories.prepare_checkins, cfg)
            profiler.dump_stats(args.profile)
        else:
            data = trajectories.prepare_checkins(cfg)
        total = time.perf_counter() - started
        out.update(timings, prepare_seconds=total,
                   rest_seconds=total - timings["read_seconds"] - timings["clean_seconds"],
                   peak_after_prepare_mb=peak_rss_mb(), rss_after_prepare_mb=rss_mb(),
                   rows_out=len(data.frame), users_out=int(data.report.users_out), report=data.report.as_metrics(),
                   windows={name: len(rows) for name, rows in data.rows.items()},
                   held_mb={"frame": float(data.frame.memory_usage(deep=True).sum()) / 2**20,
                            "inputs_targets": (data.inputs.nbytes + data.targets.nbytes) / 2**20,
                            "rows": sum(rows.nbytes for rows in data.rows.values()) / 2**20})
        if args.mode == "dataset":
            started = time.perf_counter()
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(1)  # the trainer's defaults
            tf.config.threading.set_inter_op_parallelism_threads(2)
            out.update(tf_import_seconds=time.perf_counter() - started, peak_after_tf_import_mb=peak_rss_mb(),
                       rss_after_tf_import_mb=rss_mb())
            started = time.perf_counter()
            dataset = data.dataset("train", args.batch_size, shuffle=args.shuffle, seed=0)
            iterator = iter(dataset)
            x, y = next(iterator)  # with shuffle, the first batch fills the buffer (every train window's row)
            out.update(dataset_build_seconds=time.perf_counter() - started, batch_shape=[list(x.shape), list(y.shape)],
                       rss_after_first_batch_mb=rss_mb())
            started = time.perf_counter()
            for _ in range(args.batches - 1):
                x, y = next(iterator)
            out.update(batches=args.batches, batch_size=args.batch_size, shuffle=args.shuffle,
                       batches_seconds=time.perf_counter() - started, rss_after_batches_mb=rss_mb(),
                       batch_input_mb=args.batch_size * args.timestep * len(data.features) * 4 / 2**20)
    out.update(peak_rss_mb=peak_rss_mb(), process_seconds=time.perf_counter() - t0)
    print(json.dumps(out))


def in_fresh_process(mode: str, path: str, timestep: int = 10, log: Path | None = None, **extra: Any
                     ) -> dict[str, Any]:
    command = [sys.executable, __file__, "phase", "--mode", mode, "--path", str(path), "--timestep", str(timestep)]
    for key, value in extra.items():
        if value is False:
            command.append(f"--no-{key.replace('_', '-')}")
        elif value is not True:
            command += [f"--{key.replace('_', '-')}", str(value)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    wall = time.perf_counter() - started
    if log:
        with log.open("a") as file:
            file.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        raise RuntimeError(f"{mode} {path} failed: " + " | ".join((done.stdout + done.stderr).strip().splitlines()[-5:]))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = wall
    result["loadavg_after"] = os.getloadavg()
    return result


# --- setup: phases, peak RSS, timestep ------------------------------------------------------

def code_state() -> dict[str, Any]:
    """The commit measured, and whether src/ differed from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"), "src_changes": git("status", "--porcelain", "src").splitlines()}


def fidelity() -> dict[str, Any]:
    """What each cleaning filter removes, per 1,000 check-ins read, in generate_checkins's frames
    (the project's own generator) — to compare with the synthetic file's."""
    from sweepcast.data.checkin_clean import CheckinCleanSpec, clean_checkins
    from sweepcast.data.checkins import generate_checkins

    _, report = clean_checkins(generate_checkins(400, 0), CheckinCleanSpec.from_config({}), "generate_checkins")
    return per_thousand(report.as_metrics())


def per_thousand(report: dict[str, float]) -> dict[str, float]:
    keys = ("outside_bbox", "duplicate_lines", "impossible_speed", "stay_duplicates", "short_user_rows")
    return {key: round(1000 * report[f"clean_{key}"] / report["clean_rows_in"], 2) for key in keys}


def setup(args: argparse.Namespace) -> dict[str, Any]:
    WORK.mkdir(parents=True, exist_ok=True)
    log = WORK / f"setup-{time.strftime('%Y%m%d-%H%M%S')}.log"
    files = [Path(p) for p in args.paths] if args.paths else None
    if args.quick:
        files = files or [Path(generate(argparse.Namespace(rows=200_000, seed=args.seed, gzip=False,
                                                           out=str(WORK / "quick.txt")))["path"])]
    if not files:
        files = [WORK / f"synthetic-{SNAP_ROWS}-s{args.seed}.txt", WORK / f"synthetic-{SNAP_ROWS}-s{args.seed}.txt.gz"]
    for file in files:
        if not file.is_file():
            raise SystemExit(f"{file}: not found (run: python bench/checkins.py generate)")
    repeats = 1 if args.quick else args.repeats
    result: dict[str, Any] = {"machine": machine(), "code": code_state(), "log": str(log), "phases": [],
                              "timesteps": []}
    for file in files:
        meta = Path(f"{str(file).removesuffix('.gz')}.json")
        if meta.is_file():
            result.setdefault("generated", json.loads(meta.read_text()))
        for repeat in range(repeats):
            for mode in ("read", "clean", "prepare"):
                row = in_fresh_process(mode, str(file), 10, log)
                row["repeat"] = repeat
                result["phases"].append(row)
                print(f"{file.name} {mode} #{repeat}: " + ", ".join(
                    f"{k} {row[k]:.1f}" for k in ("read_seconds", "clean_seconds", "rest_seconds", "prepare_seconds",
                                                   "peak_rss_mb") if k in row), flush=True)
    # the train pipeline at each timestep, and once unshuffled to show what the shuffle buffer holds
    for timestep, shuffle in [*((t, True) for t in args.timesteps), (args.timesteps[0], False)]:
        row = in_fresh_process("dataset", str(files[0]), timestep, log, batches=args.batches,
                               batch_size=args.batch_size, shuffle=shuffle)
        result["timesteps"].append(row)
        print(f"timestep {timestep}{'' if shuffle else ' unshuffled'}: prepare {row['prepare_seconds']:.1f}s, "
              f"1st batch {row['dataset_build_seconds']:.1f}s, {args.batches - 1} batches {row['batches_seconds']:.2f}s, "
              f"peak RSS {row['peak_rss_mb']:.0f} MB", flush=True)
    result["code_after"] = code_state()  # src/ may be edited while this runs: compare with "code"
    result["generate_checkins_per_1000"] = fidelity()
    result["summary"] = summarise(result)
    missed = any(not v["seconds_target_met"] or not v["rss_target_met"] for k, v in result["summary"].items()
                 if k != "timesteps")
    if missed or args.profile:
        prof = WORK / "prepare.prof"
        in_fresh_process("prepare", str(files[0]), 10, log, profile=prof)
        result["profile"] = {"file": str(prof), "top": top_functions(prof)}
        print(json.dumps({"profile_top": result["profile"]["top"][:12]}, indent=1))
    print(json.dumps(result["summary"], indent=1))
    if not args.quick:
        out = args.out or ROOT / "bench" / "results" / f"checkins-{date.today()}.json"
        out.write_text(json.dumps(result, indent=1))
        print(f"wrote {out}")
    return result


def top_functions(prof: Path, count: int = 20) -> list[dict[str, Any]]:
    """The profile's functions by cumulative time (prepare_checkins's own tree)."""
    import pstats

    stats = pstats.Stats(str(prof)).stats  # {(file, line, name): (calls, primitive, tottime, cumtime, callers)}
    rows = [{"function": f"{Path(file).name}:{line}({name})", "calls": calls, "tottime": round(tottime, 2),
             "cumtime": round(cumtime, 2)} for (file, line, name), (_, calls, tottime, cumtime, _) in stats.items()]
    return sorted(rows, key=lambda r: -r["cumtime"])[:count]


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """Per file, the median over repeats of each phase (from the prepare runs), the worst peak RSS, and the targets."""
    import statistics

    summary: dict[str, Any] = {}
    for path in dict.fromkeys(r["path"] for r in result["phases"]):
        rows = [r for r in result["phases"] if r["path"] == path]
        prepared = [r for r in rows if r["mode"] == "prepare"]
        med = {k: statistics.median(r[k] for r in prepared) for k in ("read_seconds", "clean_seconds", "rest_seconds",
                                                                         "prepare_seconds")}
        peaks = {mode: max(r["peak_rss_mb"] for r in rows if r["mode"] == mode) for mode in ("read", "clean", "prepare")}
        summary[Path(path).name] = {
            **{k: round(v, 2) for k, v in med.items()},
            "read_only_seconds": round(statistics.median(r["read_seconds"] for r in rows if r["mode"] == "read"), 2),
            "clean_only_seconds": round(statistics.median(r["clean_seconds"] for r in rows if r["mode"] == "clean"), 2),
            "peak_rss_mb": {k: round(v) for k, v in peaks.items()},
            "seconds_target_met": med["prepare_seconds"] <= TARGET_SECONDS,
            "rss_target_met": peaks["prepare"] <= TARGET_RSS_MB,
            "clean_per_1000": per_thousand(prepared[0]["report"]),
            "windows": prepared[0]["windows"], "rows_out": prepared[0]["rows_out"], "users_out": prepared[0]["users_out"],
        }
    summary["timesteps"] = [{k: (round(r[k], 2) if isinstance(r[k], float) else r[k]) for k in (
        "timestep", "shuffle", "prepare_seconds", "dataset_build_seconds", "batches_seconds", "peak_after_prepare_mb",
        "rss_after_prepare_mb", "rss_after_tf_import_mb", "rss_after_first_batch_mb", "rss_after_batches_mb",
        "peak_rss_mb", "batch_input_mb", "windows")} for r in result["timesteps"]]
    return summary


# --- quality on the New York slice ---------------------------------------------------------

def quality(args: argparse.Namespace) -> dict[str, Any]:
    import mlflow

    if not NYC_DEV.is_file():
        raise SystemExit(f"{NYC_DEV}: not found")
    WORK.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="quality-", dir=WORK))
    uri = f"sqlite:///{run_dir / 'mlflow.db'}"
    rows = []
    for seed in args.seeds:
        for family in args.families:
            if seed != args.seeds[0] and family not in NETWORKS:
                continue  # baselines are deterministic
            overrides = ["data=checkins", f"data.path={NYC_DEV}", f"model={family}", f"trainer.epochs={args.epochs}",
                         f"trainer.seed={seed}", "trainer.progress=log", "tracking.log_model=false",
                         "tracking.experiment=bench-checkins", f"tracking.uri={uri}",
                         f"tracking.artifact_root={run_dir / 'art'}", f"hydra.run.dir={run_dir / 'out' / f'{family}-{seed}'}",
                         *args.extra]
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
            env.pop("MLFLOW_TRACKING_URI", None)
            started = time.perf_counter()
            done = subprocess.run([sys.executable, str(TRAIN), *overrides], cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=3600)
            wall = time.perf_counter() - started
            (run_dir / f"{family}-{seed}.log").write_text(done.stdout + done.stderr)
            if done.returncode != 0:
                raise RuntimeError(f"{family} failed (log {run_dir / f'{family}-{seed}.log'}): "
                                   + " | ".join((done.stdout + done.stderr).strip().splitlines()[-5:]))
            client = mlflow.MlflowClient(uri)
            experiment = client.get_experiment_by_name("bench-checkins")
            run = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"],
                                     max_results=1)[0]
            metrics = run.data.metrics
            row = {"family": family, "seed": seed, "overrides": overrides, "run_id": run.info.run_id,
                   "wall_seconds": wall, **{k: metrics.get(k) for k in QUALITY_METRICS}}
            rows.append(row)
            print(f"{family} seed {seed}: test RMSE {row['test_rmse']:.4f} R² {row['test_r2']:.3f} "
                  f"km median {row['test_km_median']:.2f} skill {row['skill']:.3f} fit {row['fit_seconds']:.1f}s "
                  f"wall {wall:.0f}s", flush=True)
    result = {"machine": machine(), "data": str(NYC_DEV), "epochs": args.epochs, "seeds": args.seeds,
              "run_dir": str(run_dir), "rows": rows, "study": STUDY}
    out = args.out or ROOT / "bench" / "results" / f"checkins-quality-{date.today()}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("generate", help="write the synthetic SNAP file (and its .gz) under /tmp")
    p.add_argument("--rows", type=int, default=SNAP_ROWS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help=f"default {WORK}/synthetic-ROWS-sSEED.txt")
    p.add_argument("--no-gzip", dest="gzip", action="store_false")
    p = sub.add_parser("setup", help="load / clean / window phases and peak RSS, then RSS against timestep")
    p.add_argument("paths", nargs="*", help="SNAP files (default: the generated .txt and .txt.gz)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--timesteps", type=int, nargs="+", default=[10, 50, 200])
    p.add_argument("--batches", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--profile", action="store_true", help="profile prepare_checkins even if the targets are met")
    p.add_argument("--out", type=Path, default=None)
    p = sub.add_parser("phase", help="one measurement (what setup runs in a fresh process)")
    p.add_argument("--mode", choices=("read", "clean", "prepare", "dataset"), required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--timestep", type=int, default=10)
    p.add_argument("--batches", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--profile", default=None, help="cProfile prepare_checkins into this file")
    p.add_argument("--no-shuffle", dest="shuffle", action="store_false", help="dataset mode: unshuffled")
    p = sub.add_parser("quality", help="every family on the shared New York slice")
    p.add_argument("--families", nargs="+", default=list(FAMILIES))
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seeds", type=int, nargs="+", default=[42])
    p.add_argument("--extra", nargs="*", default=[], help="more train.py overrides for every run")
    p.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    {"generate": generate, "setup": setup, "phase": phase, "quality": quality}[args.command](args)


if __name__ == "__main__":
    main()
