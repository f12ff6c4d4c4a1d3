"""Next place (data=checkin_places): Acc@k of every family against the baselines, and set-up at full size.

Quality on the shared New York slice: every network (lstm, seq2seq, transformer) per seed and
every place baseline once (they are deterministic), each a fresh ``train.py`` process logging
to a temporary MLflow store, with the regression task's km beside it (``data=checkins``,
seq2seq and last_checkin, one seed). Set-up: ``sweepcast.tasks.prepare`` of
``conf/data/checkin_places.yaml`` (composed with Hydra, so its defaults list pulls in
``checkins.yaml``) on the 6.4 M-row synthetic SNAP file, timed phase by phase in a fresh
process under a memory and time guard, then 50 shuffled training batches, then every window's
candidate recall (``data.target_positions(split) >= 0``), timed on its own.

    python bench/next_place.py quality --seeds 42 1 2                 # 9 network + 4 baseline + 2 regression runs (~5 min on 2 cores)
    python bench/next_place.py quality --families lstm markov_place --seeds 42 --epochs 3   # a subset
    python bench/next_place.py setup                                  # the 6.4 M-row file, 2 fresh processes (~2.5 min; generated first if absent, ~1 min)
    python bench/next_place.py setup --quick                          # 200,000 rows, one repeat: does it still run? (~15 s)
    python bench/next_place.py phase --path FILE --batches 0 --profile /tmp/np.prof   # one measurement

The synthetic file is ``bench/checkins.py generate``'s (it writes SNAP's location id column, which
is what the place vocabulary is built from). Nothing here writes inside the repository except the
results JSON. ``code_state`` reads the commit from ``.git`` without running git and hashes
``src/`` and ``conf/`` before and after, so a change while the benchmark ran shows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sweeps import machine

TRAIN = ROOT / "train.py"
CHECKINS_BENCH = ROOT / "bench" / "checkins.py"
NYC_DEV = ROOT.parent / "shared" / "data" / "gowalla_nyc_dev.txt.gz"
SNAP_ROWS = 6_442_890
CHECKINS_WORK = Path(tempfile.gettempdir()) / "sweepcast-checkins"  # where checkins.py generate writes
WORK = Path(tempfile.gettempdir()) / "sweepcast-next-place"
NETWORKS = ("lstm", "seq2seq", "transformer")
BASELINES = ("last_place", "frequent_place", "markov_place", "recent_markov_place")
FAMILIES = NETWORKS + BASELINES
REGRESSION = ("seq2seq", "last_checkin")  # data=checkins, for the km beside
TARGET_SKILL = 0.10  # best network's mean Acc@1 at least 10 % above the best baseline's
TARGET_SECONDS, TARGET_RSS_MB = 30.0, 3000.0
SCORES = ("acc1", "acc5", "acc10", "mrr", "km_median", "km_mean", "point_km_median", "point_km_mean")
PLACE_METRICS = (*(f"test_{s}" for s in SCORES), "test_other_share", "test_unseen_share", "val_acc1",
                 "val_point_km_median", "point_radius_km", "point_stay_mass", "test_point_stay_share",
                 "last_checkin_test_km_median", "last_checkin_test_km_mean",
                 *(f"baseline_test_{s}" for s in SCORES), "skill", "fit_seconds", "epochs_run", "parameters",
                 *(f"{b}_test_{s}" for b in BASELINES for s in SCORES))
REGRESSION_METRICS = ("test_km_median", "test_km_mean", "baseline_test_km_median", "baseline_test_km_mean",
                      "test_rmse", "baseline_test_rmse", "skill", "fit_seconds", "epochs_run")
SUMMARY_SCORES = ("test_acc1", "test_acc5", "test_acc10", "test_mrr", "test_km_median", "test_km_mean", "val_acc1",
                  "test_point_km_median", "test_point_km_mean", "point_radius_km", "test_point_stay_share",
                  "skill", "fit_seconds", "epochs_run")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def code_state() -> dict[str, Any]:
    """The commit checked out (read from .git, git is not run) and digests of src/ and conf/."""
    git = ROOT / ".git"
    commit = None
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            if (git / ref).is_file():
                commit = (git / ref).read_text().strip()
            elif (git / "packed-refs").is_file():
                commit = next((line.split()[0] for line in (git / "packed-refs").read_text().splitlines()
                               if line.endswith(f" {ref}")), None)
        else:
            commit = head
    except OSError:
        pass

    def digest(folder: str, pattern: str) -> str:
        h = hashlib.sha256()
        for path in sorted((ROOT / folder).rglob(pattern)):
            h.update(str(path.relative_to(ROOT)).encode())
            h.update(path.read_bytes())
        return h.hexdigest()[:16]

    return {"commit": commit[:7] if commit else None, "src_sha256": digest("src", "*.py"),
            "conf_sha256": digest("conf", "*.yaml")}


def data_config(path: str | None, overrides: list[str] | None = None) -> dict[str, Any]:
    """``conf/data/checkin_places.yaml`` composed as train.py would (its defaults pull in checkins.yaml)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["data=checkin_places",
                                                      *([f"data.path={path}"] if path else []), *(overrides or [])])
    return OmegaConf.to_container(cfg.data, resolve=True)


# --- one set-up measurement, in its own process ---------------------------------------------

def phase(args: argparse.Namespace) -> None:
    """Prepare (each step timed, a progress line on stderr as each starts and ends), then optionally
    ``--batches`` batches of the shuffled train pipeline. One JSON line on stdout."""
    t0 = time.perf_counter()
    import numpy as np

    import sweepcast.tasks
    from sweepcast.data import place_windows, trajectories
    from sweepcast.data.places import OTHER, PlaceVocabulary

    out: dict[str, Any] = {"path": args.path, "import_seconds": time.perf_counter() - t0,
                           "rss_after_import_mb": rss_mb()}
    cfg = data_config(args.path, args.override)
    out.update(config={k: cfg[k] for k in ("timestep", "split", "clean", "places")},
               config_seconds=time.perf_counter() - t0 - out["import_seconds"])
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}

    def progress(**fields: Any) -> None:
        print(json.dumps({**fields, "peak_mb": round(peak_rss_mb()), "rss_mb": round(rss_mb())}), file=sys.stderr,
              flush=True)

    def timed(name: str, function: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            progress(start=name)
            started = time.perf_counter()
            result = function(*a, **k)
            seconds = time.perf_counter() - started
            timings[f"{name}_seconds"] = timings.get(f"{name}_seconds", 0.0) + seconds
            timings[f"peak_after_{name}_mb"] = peak_rss_mb()
            counts[name] = counts.get(name, 0) + 1
            progress(end=name, seconds=round(seconds, 2))
            return result
        return wrapper

    results: dict[str, Any] = {}

    def keep(name: str, function: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            results[name] = function(*a, **k)
            return results[name]
        return wrapper

    trajectories.read_snap = timed("read", trajectories.read_snap)
    trajectories.clean_checkins = timed("clean", trajectories.clean_checkins)
    place_windows.prepare_checkins = timed("prepare_checkins", place_windows.prepare_checkins)
    PlaceVocabulary.fit = staticmethod(timed("vocabulary", PlaceVocabulary.fit))  # the bound classmethod
    # src/ is changing: each step is timed where this version of place_windows has it
    for name, step in (("place_history", "place_history"), ("candidate_index", "CandidateIndex"),
                       ("target_positions", "target_positions"), ("sampled_recall", "sampled_recall")):
        if hasattr(place_windows, step):
            setattr(place_windows, step, timed(name, keep(name, getattr(place_windows, step))))
    crowd = getattr(place_windows, "Crowd", None)
    if crowd is not None and hasattr(crowd, "from_history"):
        crowd.from_history = staticmethod(timed("crowd", crowd.from_history))
    prepare = timed("prepare", sweepcast.tasks.prepare)
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        data = profiler.runcall(prepare, cfg)
        profiler.dump_stats(args.profile)
        out["profile"] = args.profile
    else:
        data = prepare(cfg)
    steps = ("read", "clean", "prepare_checkins", "vocabulary", "place_history", "crowd", "candidate_index",
             "target_positions", "sampled_recall")
    out.update(timings, calls=counts, peak_after_prepare_mb=peak_rss_mb(), rss_after_prepare_mb=rss_mb(),
               checkins_rest_seconds=timings["prepare_checkins_seconds"] - timings["read_seconds"]
               - timings["clean_seconds"],
               places_rest_seconds=timings["prepare_seconds"] - sum(timings.get(f"{s}_seconds", 0.0) for s in steps[2:]))
    if "sampled_recall" in results:
        out["sampled_recall_logged"] = results["sampled_recall"]
    splits = ("train", "val", "test")
    index = data.index
    out.update(
        rows_out=len(data.frame), users_out=int(data.report.users_out), report=data.report.as_metrics(),
        windows={s: int(data.window_count(s)) for s in splits},
        vocabulary_places=int(data.vocabulary.size - 1), candidates=int(getattr(index, "depth", 0)),
        other_share={s: float(np.mean(data.true_places(s) == OTHER)) for s in splits},
        held_mb={"frame": float(data.frame.memory_usage(deep=True).sum()) / 2**20,
                 "checkin_inputs_targets": (data.checkins.inputs.nbytes + data.checkins.targets.nbytes) / 2**20,
                 "place_inputs": data.inputs.nbytes / 2**20,
                 "candidate_index_history": array_bytes(getattr(index, "history", None)) / 2**20,
                 "candidate_index_rest": array_bytes(index, skip=("history", "vocabulary")) / 2**20},
    )
    if args.batches > 0:
        started = time.perf_counter()
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)  # the trainer's defaults
        tf.config.threading.set_inter_op_parallelism_threads(2)
        out.update(tf_import_seconds=time.perf_counter() - started, rss_after_tf_import_mb=rss_mb())
        progress(start="dataset")
        started = time.perf_counter()
        dataset = data.dataset("train", args.batch_size, shuffle=True, seed=0)
        iterator = iter(dataset)
        batch = next(iterator)  # the shuffle buffer fills here; (x, y) or (x, y, weights)
        first = time.perf_counter() - started
        parts = tf.nest.flatten(batch)
        out.update(dataset_first_batch_seconds=first, rss_after_first_batch_mb=rss_mb(),
                   batch_shapes=[list(part.shape) for part in parts])
        started = time.perf_counter()
        for _ in range(args.batches - 1):
            batch = next(iterator)
        rest = time.perf_counter() - started
        out.update(batches=args.batches, batch_size=args.batch_size, later_batches_seconds=rest,
                   batches_seconds=first + rest, rss_after_batches_mb=rss_mb(),
                   batch_mb=sum(int(np.prod(part.shape)) * part.dtype.size for part in tf.nest.flatten(batch)) / 2**20)
        progress(end="dataset", seconds=round(first + rest, 2))
    if not args.no_recall:
        # every window's candidate recall, data.target_positions(split) >= 0; computed in prepare
        # by some versions of src/, on first use by others: timed here either way
        recall, recall_seconds = {}, {}
        for split in splits:
            progress(start=f"recall_{split}")
            started = time.perf_counter()
            recall[split] = float(np.mean(data.target_positions(split) >= 0))
            recall_seconds[split] = time.perf_counter() - started
            progress(end=f"recall_{split}", seconds=round(recall_seconds[split], 2))
        out.update(candidate_recall=recall, recall_seconds=recall_seconds, peak_after_recall_mb=peak_rss_mb(),
                   train_windows_with_target=int(np.sum(data.target_positions("train") >= 0)),
                   positions_mb=sum(p.nbytes for p in data.positions.values()) / 2**20)
    out.update(peak_rss_mb=peak_rss_mb(), total_seconds=time.perf_counter() - t0)
    print(json.dumps(out), flush=True)
    sys.stderr.flush()
    # A live tf.data iterator whose map is a tf.numpy_function can deadlock interpreter shutdown
    # (its prefetch threads call back into Python while it finalises): seen once in 6 runs here.
    os._exit(0)


def array_bytes(obj: Any, skip: tuple[str, ...] = (), depth: int = 3, seen: set[int] | None = None) -> int:
    """Bytes of the NumPy arrays an object holds, through its attributes (``depth`` levels down)."""
    import numpy as np

    seen = set() if seen is None else seen
    if obj is None or id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if depth == 0:
        return 0
    if isinstance(obj, dict):
        children = list(obj.values())
    elif isinstance(obj, (list, tuple)):
        children = list(obj)
    elif hasattr(obj, "__dict__"):
        children = [v for k, v in vars(obj).items() if k not in skip]
    else:
        return 0
    return sum(array_bytes(child, (), depth - 1, seen) for child in children)


def in_fresh_process(path: str, batches: int, log: Path, timeout: float, max_rss_mb: float,
                     profile: str | None = None, as_limit: int | None = None, batch_size: int = 256,
                     overrides: list[str] | None = None, recall: bool = True) -> dict[str, Any]:
    """``phase`` in a child process, its RSS sampled every 0.2 s; killed past ``timeout`` seconds or
    ``max_rss_mb``. A killed child's row says which step it was in and what it had finished."""
    import psutil

    command = [sys.executable, __file__, "phase", "--path", str(path), "--batches", str(batches),
               "--batch-size", str(batch_size), *(["--profile", profile] if profile else []),
               *([] if recall else ["--no-recall"]),
               *(a for o in overrides or [] for a in ("--override", o))]
    if as_limit:
        command = ["prlimit", f"--as={as_limit}", *command]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    stdout, stderr = log.with_suffix(".out"), log.with_suffix(".err")
    started = time.perf_counter()
    sampled, killed = 0.0, None
    with stdout.open("w") as out, stderr.open("w") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        proc = psutil.Process(child.pid)
        while child.poll() is None:
            try:
                rss = sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20
                sampled = max(sampled, rss)
            except psutil.Error:
                rss = 0.0
            elapsed = time.perf_counter() - started
            if rss > max_rss_mb or elapsed > timeout:
                killed = f"RSS {rss:.0f} MB > {max_rss_mb:.0f} MB" if rss > max_rss_mb else f"{elapsed:.0f} s > {timeout:.0f} s"
                child.kill()
                child.wait()
                break
            time.sleep(0.2)
    wall = time.perf_counter() - started
    with log.open("a") as file:
        file.write(f"$ {' '.join(command)}\n{stdout.read_text()}{stderr.read_text()}\n")
    steps = [json.loads(line) for line in stderr.read_text().splitlines() if line.startswith("{")]
    if killed or child.returncode != 0:
        open_steps = [s["start"] for s in steps if "start" in s]
        for s in steps:
            if "end" in s and s["end"] in open_steps:
                open_steps.remove(s["end"])
        return {"path": str(path), "failed": killed or f"exit {child.returncode}", "wall_seconds": wall,
                "sampled_peak_rss_mb": sampled, "in_step": open_steps, "steps": steps,
                "stderr_tail": stderr.read_text().strip().splitlines()[-5:], "loadavg_after": os.getloadavg()}
    result = json.loads(stdout.read_text().strip().splitlines()[-1])
    result.update(wall_seconds=wall, sampled_peak_rss_mb=sampled, steps=steps, loadavg_after=os.getloadavg())
    return result


def top_functions(prof: Path, count: int = 25) -> list[dict[str, Any]]:
    import pstats

    stats = pstats.Stats(str(prof)).stats
    rows = [{"function": f"{Path(file).name}:{line}({name})", "calls": calls, "tottime": round(tottime, 2),
             "cumtime": round(cumtime, 2)} for (file, line, name), (_, calls, tottime, cumtime, _) in stats.items()]
    return sorted(rows, key=lambda r: -r["cumtime"])[:count]


def ensure_file(path: Path, rows: int) -> dict[str, Any] | None:
    """The synthetic file, generated by ``checkins.py generate`` when absent; its metadata."""
    if not path.is_file():
        print(f"{path}: absent, generating {rows:,} rows", flush=True)
        subprocess.run([sys.executable, str(CHECKINS_BENCH), "generate", "--rows", str(rows), "--no-gzip",
                        "--out", str(path)], check=True, stdout=subprocess.DEVNULL)
    meta = Path(f"{path}.json")
    return json.loads(meta.read_text()) if meta.is_file() else None


def setup(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    WORK.mkdir(parents=True, exist_ok=True)
    rows = 200_000 if args.quick else SNAP_ROWS
    path = Path(args.path) if args.path else CHECKINS_WORK / f"synthetic-{rows}-s0.txt"
    if args.path and not path.is_file():
        raise SystemExit(f"{path}: not found")
    generated = ensure_file(path, rows)
    with open(path) as file:  # SNAP's layout: user, time, lat, lon, location id (no header)
        if len(file.readline().rstrip("\n").split("\t")) != 5:
            raise SystemExit(f"{path}: not SNAP's 5 tab-separated columns (user, time, lat, lon, location)")
    repeats = 1 if args.quick else args.repeats
    stamp = time.strftime("%Y%m%d-%H%M%S")
    result: dict[str, Any] = {"machine": machine(), "code": code_state(), "path": str(path), "generated": generated,
                              "guard": {"timeout_s": args.timeout, "max_rss_mb": args.max_rss_mb,
                                        "as_limit": args.as_limit},
                              "targets": {"seconds": TARGET_SECONDS, "rss_mb": TARGET_RSS_MB}, "runs": []}
    for repeat in range(repeats):
        log = WORK / f"setup-{stamp}-{repeat}.log"
        row = in_fresh_process(str(path), args.batches, log, args.timeout, args.max_rss_mb, as_limit=args.as_limit,
                               batch_size=args.batch_size)
        row["repeat"] = repeat
        result["runs"].append(row)
        if "failed" in row:
            print(f"#{repeat} FAILED ({row['failed']}) in step {row['in_step']} after {row['wall_seconds']:.0f} s, "
                  f"sampled peak RSS {row['sampled_peak_rss_mb']:.0f} MB; finished: "
                  + ", ".join(f"{s['end']} {s['seconds']}s" for s in row["steps"] if "end" in s), flush=True)
            break
        def g(key: str, row: dict[str, Any] = row) -> float:  # a step this src/ lacks: nan
            return row.get(key, float("nan"))

        print(f"#{repeat}: prepare {g('prepare_seconds'):.1f} s (read {g('read_seconds'):.1f}, clean "
              f"{g('clean_seconds'):.1f}, rest of prepare_checkins {g('checkins_rest_seconds'):.1f}, vocabulary "
              f"{g('vocabulary_seconds'):.1f}, place_history {g('place_history_seconds'):.1f}, CandidateIndex "
              f"{g('candidate_index_seconds'):.1f}, Crowd {g('crowd_seconds'):.1f}, target_positions "
              f"{g('target_positions_seconds'):.1f}, sampled_recall {g('sampled_recall_seconds'):.1f}, other "
              f"{g('places_rest_seconds'):.1f}), peak {g('peak_after_prepare_mb'):.0f} MB; {args.batches} batches "
              f"{g('batches_seconds'):.1f} s (first {g('dataset_first_batch_seconds'):.1f}); every window's recall "
              f"{sum(row.get('recall_seconds', {}).values()):.1f} s {row.get('candidate_recall')}; peak "
              f"{g('peak_rss_mb'):.0f} MB", flush=True)
    done = [r for r in result["runs"] if "failed" not in r]
    summary: dict[str, Any] = {"failed": [r["failed"] for r in result["runs"] if "failed" in r]}
    if done:
        step_keys = [k for k in done[0] if k.endswith("_seconds") and k != "wall_seconds"
                     and isinstance(done[0][k], float)]
        summary.update({
            "repeats": len(done),
            **{k: round(statistics.median(r[k] for r in done), 2) for k in step_keys},
            "prepare_seconds_each": [round(r["prepare_seconds"], 2) for r in done],
            "peak_after_prepare_mb": round(max(r["peak_after_prepare_mb"] for r in done)),
            "peak_with_batches_mb": round(max(r["peak_rss_mb"] for r in done)),
            "peak_after_step_mb": {k.removeprefix("peak_after_").removesuffix("_mb"): round(done[0][k])
                                   for k in done[0] if k.startswith("peak_after_")},
            "rss_after_prepare_mb": round(done[0]["rss_after_prepare_mb"]),
            "rss_after_batches_mb": round(done[0].get("rss_after_batches_mb", float("nan"))),
            "windows": done[0]["windows"], "rows_out": done[0]["rows_out"], "users_out": done[0]["users_out"],
            "vocabulary_places": done[0]["vocabulary_places"], "candidates": done[0]["candidates"],
            "candidate_recall": {k: round(v, 4) for k, v in done[0].get("candidate_recall", {}).items()},
            "recall_seconds": {k: round(v, 2) for k, v in done[0].get("recall_seconds", {}).items()},
            "sampled_recall_logged": done[0].get("sampled_recall_logged"),
            "peak_after_recall_mb": round(max(r.get("peak_after_recall_mb", 0) for r in done)),
            "other_share": {k: round(v, 4) for k, v in done[0]["other_share"].items()},
            "held_mb": {k: round(v, 1) for k, v in done[0]["held_mb"].items()},
            "positions_mb": round(done[0].get("positions_mb", 0), 1),
        })
        summary["seconds_target_met"] = summary["prepare_seconds"] <= TARGET_SECONDS
        summary["rss_target_met"] = summary["peak_after_prepare_mb"] <= TARGET_RSS_MB
        summary["rss_target_met_with_batches"] = summary["peak_with_batches_mb"] <= TARGET_RSS_MB
    missed = bool(summary["failed"]) or not summary.get("seconds_target_met") or not summary.get("rss_target_met")
    if (missed or args.profile) and not args.no_profile:
        prof = WORK / f"prepare-{stamp}.prof"
        row = in_fresh_process(str(path), 0, WORK / f"setup-{stamp}-profile.log", args.timeout, args.max_rss_mb,
                               profile=str(prof), as_limit=args.as_limit, recall=False)
        result["profile"] = {"file": str(prof), "run": {k: v for k, v in row.items() if k.endswith("_seconds")
                                                        or k in ("failed", "in_step")}}
        if prof.is_file():
            result["profile"]["top"] = top_functions(prof)
            print(json.dumps({"profile_top": result["profile"]["top"][:15]}, indent=1))
    result["code_after"] = code_state()
    result["loadavg_at_end"] = os.getloadavg()
    result["summary"] = summary
    print(json.dumps(summary, indent=1))
    if not args.quick or args.out:
        out = args.out or ROOT / "bench" / "results" / f"next-place-setup-{date.today()}.json"
        out.write_text(json.dumps(result, indent=1, default=lambda o: o.item() if isinstance(o, np.generic) else str(o)))
        print(f"wrote {out}")
    return result


# --- quality on the New York slice ---------------------------------------------------------

def train_run(overrides: list[str], experiment: str, uri: str, log: Path) -> dict[str, Any]:
    """One train.py process; its MLflow run's metrics (the newest run of ``experiment``)."""
    import mlflow

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("MLFLOW_TRACKING_URI", None)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(TRAIN), *overrides], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=3600, check=False)
    wall = time.perf_counter() - started
    log.write_text(done.stdout + done.stderr)
    row: dict[str, Any] = {"overrides": overrides, "wall_seconds": wall, "loadavg_after": os.getloadavg(),
                           "log": str(log)}
    if done.returncode != 0:
        row["error"] = " | ".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        return row
    client = mlflow.MlflowClient(uri)
    run = client.search_runs([client.get_experiment_by_name(experiment).experiment_id],
                             order_by=["attributes.start_time DESC"], max_results=1)[0]
    metrics = dict(run.data.metrics)
    # MLflow shows a metric's value at its highest step. The Keras epoch logger logs its own
    # val_acc1 at steps 0..epochs-1 (SparseTopKCategoricalAccuracy over windows whose place is
    # among their candidates), and the task's final val_acc1 (every window) then lands at step 0
    # and is hidden. Take each metric's last-logged value (the task's), and keep what MLflow shows.
    shadowed = {}
    for key in [k for k in metrics if k.startswith("val_") or k in PLACE_METRICS or k in REGRESSION_METRICS]:
        history = client.get_metric_history(run.info.run_id, key)
        if len(history) > 1:
            last = max(enumerate(history), key=lambda item: (item[1].timestamp, item[0]))[1]
            if last.value != metrics[key]:
                shadowed[key] = {"shown_by_mlflow": metrics[key], "last_logged": last.value,
                                 "steps": len(history)}
                metrics[key] = last.value
    row.update(run_id=run.info.run_id, metrics=metrics, shadowed_metrics=shadowed)
    return row


def spread(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values), "n": len(values)}


def quality(args: argparse.Namespace) -> dict[str, Any]:
    if not NYC_DEV.is_file():
        raise SystemExit(f"{NYC_DEV}: not found")
    WORK.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="quality-", dir=WORK))
    uri = f"sqlite:///{run_dir / 'mlflow.db'}"
    common = [f"trainer.epochs={args.epochs}", "trainer.progress=log", "tracking.log_model=false",
              f"tracking.uri={uri}", f"tracking.artifact_root={run_dir / 'art'}"]
    result: dict[str, Any] = {"machine": machine(), "code": code_state(), "data_path": str(NYC_DEV),
                              "epochs": args.epochs, "seeds": args.seeds, "extra": args.extra,
                              "run_dir": str(run_dir), "rows": [], "regression": []}
    # what the runs train on: windows, vocabulary, candidate recall (prepare alone, a fresh process)
    result["data"] = in_fresh_process(str(NYC_DEV), 0, run_dir / "data.log", 600, 8000,
                                      overrides=[o.removeprefix("+") for o in args.extra if o.lstrip("+").startswith("data.")])
    started_all = time.perf_counter()
    plan = [(f, s) for f in args.families if f in BASELINES for s in args.seeds[:1]]
    plan += [(f, s) for s in args.seeds for f in args.families if f in NETWORKS]
    for family, seed in plan:
        overrides = ["data=checkin_places", f"data.path={NYC_DEV}", f"model={family}", f"trainer.seed={seed}", *common,
                     "tracking.experiment=bench-next-place", f"hydra.run.dir={run_dir / 'out' / f'{family}-{seed}'}",
                     *args.extra]
        row = {"family": family, "seed": seed, "kind": "network" if family in NETWORKS else "baseline",
               "code": code_state(), **train_run(overrides, "bench-next-place", uri, run_dir / f"{family}-{seed}.log")}
        if "error" in row:
            print(f"{family} seed {seed}: FAILED ({row['log']}): {row['error']}", flush=True)
        else:
            m = row["metrics"]
            row.update({k: m.get(k) for k in PLACE_METRICS})
            print(f"{family} seed {seed}: Acc@1 {m['test_acc1']:.4f} Acc@5 {m['test_acc5']:.4f} Acc@10 "
                  f"{m['test_acc10']:.4f} MRR {m['test_mrr']:.4f} km median {m['test_km_median']:.2f} mean "
                  f"{m['test_km_mean']:.2f} point km median {m.get('test_point_km_median', float('nan')):.3f} "
                  f"(radius {m.get('point_radius_km', float('nan')):g}) "
                  f"skill {m['skill']:+.3f} (baseline Acc@1 {m['baseline_test_acc1']:.4f}) "
                  f"epochs {m.get('epochs_run', 0):.0f} fit {m.get('fit_seconds', 0):.1f}s wall {row['wall_seconds']:.0f}s "
                  f"load {row['loadavg_after'][0]:.2f}", flush=True)
        result["rows"].append(row)
    if args.regression:
        for family in REGRESSION:
            seed = args.seeds[0]
            overrides = ["data=checkins", f"data.path={NYC_DEV}", f"model={family}", f"trainer.seed={seed}", *common,
                         "tracking.experiment=bench-next-place-regression",
                         f"hydra.run.dir={run_dir / 'out' / f'checkins-{family}-{seed}'}"]
            row = {"family": family, "seed": seed, "kind": "regression", "code": code_state(),
                   **train_run(overrides, "bench-next-place-regression", uri, run_dir / f"checkins-{family}-{seed}.log")}
            if "error" in row:
                print(f"data=checkins {family}: FAILED ({row['log']}): {row['error']}", flush=True)
            else:
                m = row["metrics"]
                row.update({k: m.get(k) for k in REGRESSION_METRICS})
                print(f"data=checkins {family} seed {seed}: km median {m['test_km_median']:.2f} mean "
                      f"{m['test_km_mean']:.2f}; last check-in km median {m['baseline_test_km_median']:.2f} "
                      f"wall {row['wall_seconds']:.0f}s", flush=True)
            result["regression"].append(row)
    result["wall_seconds"] = time.perf_counter() - started_all
    result["code_after"] = code_state()
    result["loadavg_at_end"] = os.getloadavg()
    result["summary"] = summarise_quality(result)
    print_summary(result["summary"])
    out = args.out or ROOT / "bench" / "results" / f"next-place-quality-{date.today()}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return result


def summarise_quality(result: dict[str, Any]) -> dict[str, Any]:
    ok = [r for r in result["rows"] if "error" not in r]
    families: dict[str, Any] = {}
    for family in dict.fromkeys(r["family"] for r in ok):
        rows = [r for r in ok if r["family"] == family]
        families[family] = {"kind": rows[0]["kind"], "seeds": [r["seed"] for r in rows],
                            **{k: spread([r[k] for r in rows]) for k in SUMMARY_SCORES if rows[0].get(k) is not None}}
    summary: dict[str, Any] = {"families": families, "failed": [
        {"family": r["family"], "seed": r["seed"], "error": r["error"], "log": r["log"]}
        for r in result["rows"] + result["regression"] if "error" in r]}
    # the baselines each run scores on the same test windows: identical in every run?
    logged = [r["baseline_test_acc1"] for r in ok]
    summary["baseline_test_acc1_logged"] = {"min": min(logged), "max": max(logged)} if logged else None
    networks = {f: v for f, v in families.items() if v["kind"] == "network"}
    baselines = {f: v for f, v in families.items() if v["kind"] == "baseline"}
    if baselines:
        best_base = max(baselines, key=lambda f: baselines[f]["test_acc1"]["mean"])
        base_acc1 = baselines[best_base]["test_acc1"]["mean"]
    elif logged:
        best_base, base_acc1 = "logged baseline_test_acc1", max(logged)
    else:
        best_base, base_acc1 = None, None
    if logged and (base_acc1 is None or max(logged) > base_acc1):  # a baseline not run here did better in-run
        best_base, base_acc1 = "logged baseline_test_acc1 (best of the four, in-run)", max(logged)
    regression = {r["family"]: r for r in result["regression"] if "error" not in r}
    summary["regression"] = {f: {k: r.get(k) for k in REGRESSION_METRICS} for f, r in regression.items()}
    reg_km = next((r["baseline_test_km_median"] for r in regression.values()), None)
    summary["best_baseline"] = {"family": best_base, "test_acc1": base_acc1,
                                "test_km_median": baselines[best_base]["test_km_median"]["mean"]
                                if best_base in baselines else None}
    if networks and base_acc1:
        best_net = max(networks, key=lambda f: networks[f]["test_acc1"]["mean"])
        net = networks[best_net]
        ratio = net["test_acc1"]["mean"] / base_acc1 - 1
        summary["best_network"] = {"family": best_net, "test_acc1_mean": net["test_acc1"]["mean"],
                                   "test_acc1_min": net["test_acc1"]["min"],
                                   "test_km_median_mean": net["test_km_median"]["mean"],
                                   "test_km_median_max": net["test_km_median"]["max"]}
        summary["target_acc1"] = {
            "rule": f"best network's mean Acc@1 >= (1 + {TARGET_SKILL}) x best baseline's Acc@1",
            "network": best_net, "network_mean_acc1": net["test_acc1"]["mean"], "baseline": best_base,
            "baseline_acc1": base_acc1, "needed_acc1": (1 + TARGET_SKILL) * base_acc1, "relative_gain": ratio,
            "met": ratio >= TARGET_SKILL,
            "every_seed_met": net["test_acc1"]["min"] / base_acc1 - 1 >= TARGET_SKILL}
        if reg_km is not None:
            km = net["test_km_median"]["mean"]
            summary["target_km"] = {
                "rule": "best network's top-1 km median < the regression's last-check-in km median (data=checkins)",
                "network": best_net, "network_km_median_mean": km, "network_km_median_max": net["test_km_median"]["max"],
                "last_checkin_km_median": reg_km, "difference_km": km - reg_km, "met": km < reg_km,
                "every_seed_met": net["test_km_median"]["max"] < reg_km,
                "any_family_met": sorted(f for f, v in families.items() if v["test_km_median"]["mean"] < reg_km)}
            point = {f: v["test_point_km_median"] for f, v in networks.items() if "test_point_km_median" in v}
            if point:  # the km answer beside the ranking (sweepcast.models.place_point)
                best_point = min(point, key=lambda f: point[f]["mean"])
                summary["target_km_point"] = {
                    "rule": "best network's point answer km median < the last-check-in km median",
                    "network": best_point, "point_km_median_mean": point[best_point]["mean"],
                    "point_km_median_max": point[best_point]["max"], "last_checkin_km_median": reg_km,
                    "difference_km": point[best_point]["mean"] - reg_km, "met": point[best_point]["mean"] < reg_km,
                    "every_seed_met": point[best_point]["max"] < reg_km,
                    "families_met": sorted(f for f, v in point.items() if v["mean"] < reg_km),
                    "families_every_seed_met": sorted(f for f, v in point.items() if v["max"] < reg_km)}
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    print("\nfamily               n  Acc@1 mean (min-max)      Acc@5 mean            Acc@10 mean           "
          "MRR mean              km median mean        point km median")
    for family, v in summary["families"].items():
        cells = [f"{v[k]['mean']:.4f} ({v[k]['min']:.4f}-{v[k]['max']:.4f})" if k != "test_km_median"
                 else f"{v[k]['mean']:.2f} ({v[k]['min']:.2f}-{v[k]['max']:.2f})"
                 for k in ("test_acc1", "test_acc5", "test_acc10", "test_mrr", "test_km_median")]
        if "test_point_km_median" in v:
            cells.append(f"point {v['test_point_km_median']['mean']:.2f} ({v['test_point_km_median']['min']:.2f}-"
                         f"{v['test_point_km_median']['max']:.2f})")
        print(f"{family:20s} {v['test_acc1']['n']}  " + "  ".join(f"{c:22s}" for c in cells))
    for family, r in summary["regression"].items():
        print(f"data=checkins {family}: km median {r['test_km_median']:.2f}, mean {r['test_km_mean']:.2f}; "
              f"last check-in km median {r['baseline_test_km_median']:.2f}")
    for key in ("target_acc1", "target_km", "target_km_point"):
        if key in summary:
            print(f"{key}: {json.dumps(summary[key])}")
    if summary["failed"]:
        print(f"FAILED runs: {json.dumps(summary['failed'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("quality", help="every family and baseline on the shared New York slice, regression beside")
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seeds", type=int, nargs="+", default=[42])
    p.add_argument("--extra", nargs="*", default=[], help="more train.py overrides for every next-place run")
    p.add_argument("--no-regression", dest="regression", action="store_false", help="skip the data=checkins runs")
    p.add_argument("--out", type=Path, default=None)
    p = sub.add_parser("setup", help="prepare's steps, peak RSS and 50 train batches on the 6.4 M-row file")
    p.add_argument("--path", default=None, help=f"a SNAP file (default {CHECKINS_WORK}/synthetic-ROWS-s0.txt)")
    p.add_argument("--quick", action="store_true", help="200,000 rows, one repeat")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--batches", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--timeout", type=float, default=900.0, help="seconds before a measurement is killed")
    p.add_argument("--max-rss-mb", type=float, default=12000.0, help="RSS at which a measurement is killed")
    p.add_argument("--as-limit", type=int, default=None, help="also run under prlimit --as=BYTES")
    p.add_argument("--profile", action="store_true", help="cProfile prepare even if the targets are met")
    p.add_argument("--no-profile", action="store_true", help="never profile (even when a target is missed)")
    p.add_argument("--out", type=Path, default=None)
    p = sub.add_parser("phase", help="one measurement (what setup runs in a fresh process)")
    p.add_argument("--path", required=True)
    p.add_argument("--batches", type=int, default=50, help="0: prepare only")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--override", action="append", default=[], help="a data.* override for the composed config")
    p.add_argument("--profile", default=None, help="cProfile prepare into this file")
    p.add_argument("--no-recall", action="store_true", help="skip every window's candidate recall")
    args = parser.parse_args()
    {"quality": quality, "setup": setup, "phase": phase}[args.command](args)


if __name__ == "__main__":
    main()
