"""Training throughput of the livestream study's LSTM: our ``tf.data`` windows vs the study's arrays.

Every case runs in a fresh subprocess (so its peak RSS is its own) on the same data (the embedded
synthetic livestream, univariate ``WATCH_UCNT`` scaled to [0, 1], 20,000 training windows), the
same model (``build_model``: LSTM 64/64/32 + Dense(1), MSE, Adam 1e-3) and the same seed.
Two timings: *window* cases skip the first steps (tracing, compilation, ramp-up) and time a fixed
number of samples inside epoch 1 (steady state); *epoch* cases time all of epoch 2, boundary
included. The worker exits as soon as its timing ends (teardown is not timed).

    python bench/throughput.py           # all cases, ~10 minutes on 2 CPU cores
    python bench/throughput.py --quick   # 4 cases, ~1 minute (smoke check)
    python bench/throughput.py --only ours-b128 study-b128 ours-b128-unroll
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any, Callable

import numpy as np

MODEL = {"name": "lstm", "layers": 3, "units": [64, 64, 32], "dropout": 0.0, "activation": "tanh",
         "head_units": [], "head_activation": "relu", "output_activation": "linear", "l2": 0.0}
WINDOWS, SEED = 20_000, 42
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    """One measured configuration; the defaults are our trainer's path at batch 128."""

    name: str
    pipeline: str = "ours"  # ours | study | keras_tsda | input_only | cached_input_only
    batch_size: int = 128
    timestep: int = 100
    steps_per_execution: int = 1
    jit_compile: bool = False
    unroll: bool = False
    data_options: str = ""  # "" (ours: tf.data autotuner off) | nondeterministic | autotune (on, as before 2026-11-25)
    threads: tuple[int, int] | None = None  # (intra_op, inter_op); None: TensorFlow's default
    epochs: int = 0  # 0: a window of --samples samples in epoch 1; n: epochs 2..n+1
    samples_scale: float = 1.0  # fraction of --samples timed (long-timestep memory cases)
    repeat: bool = False  # measured again in every round after the first
    validation: bool = False  # also validate on the val split each epoch, as our trainer does


def cases(quick: bool) -> list[Case]:
    """The plan: ours vs study per batch size, timestep scaling, knobs on ours, then whole epochs."""
    if quick:
        return [Case("study-b128", "study", repeat=True), Case("ours-b128", repeat=True),
                Case("study-b128-t400", "study", timestep=400, samples_scale=0.25),
                Case("ours-b128-t400", timestep=400, samples_scale=0.25)]
    i1e2, ref = (1, 2), Case("ours-b128")  # ref: re-run between knobs, each knob is compared to the nearest
    return [
        Case("study-b32", "study", batch_size=32, repeat=True), Case("ours-b32", batch_size=32, repeat=True),
        Case("ours-b32-intra1-inter2", batch_size=32, threads=i1e2, repeat=True),
        Case("study-b128", "study", repeat=True), Case("ours-b128", repeat=True),
        Case("study-b128-intra1-inter2", "study", threads=i1e2, repeat=True),
        Case("ours-b128-intra1-inter2", threads=i1e2, repeat=True),
        Case("study-b256", "study", batch_size=256, repeat=True), Case("ours-b256", batch_size=256, repeat=True),
        Case("ours-b256-intra1-inter2", batch_size=256, threads=i1e2, repeat=True),
        *(Case(f"{p}-b128-t{t}", p, timestep=t, samples_scale=100 / t) for t in (200, 400) for p in ("study", "ours")),
        Case("input-only-b128", "input_only"), Case("cached-input-only-b128", "cached_input_only"),
        ref, Case("keras_tsda-b128", "keras_tsda"),
        *(Case(f"ours-b128-spe{s}", steps_per_execution=s) for s in (4, 16, 32)),
        ref, Case("ours-b128-jit", jit_compile=True),
        Case("ours-b128-jit-spe16", jit_compile=True, steps_per_execution=16),
        Case("ours-b128-nondeterministic", data_options="nondeterministic"),
        Case("ours-b128-autotune", data_options="autotune"), Case("ours-b128-intra1-inter1", threads=(1, 1)), ref,
        Case("study-b128-epoch", "study", epochs=1), Case("ours-b128-epoch", epochs=1),
        Case("ours-b128-epoch-autotune-intra1-inter2", data_options="autotune", threads=i1e2, epochs=1),
        Case("ours-b128-epoch-intra1-inter2", threads=i1e2, epochs=1),
    ]


EXTRA = [  # only with --only: unroll takes ~40 s to build; the fits take ~100 s each
    Case("ours-b128-unroll", unroll=True),
    Case("study-b128-fit-val", "study", epochs=3, validation=True),
    Case("ours-b128-fit-val", epochs=3, validation=True),
    Case("ours-b128-fit-val-autotune-intra1-inter2", data_options="autotune", threads=(1, 2), epochs=3,
         validation=True),
    Case("ours-b128-fit-val-intra1-inter2", threads=(1, 2), epochs=3, validation=True),
]


def rss_mb(peak: bool = False) -> float:
    """Current (or peak: ``ru_maxrss``, KiB on Linux) resident memory of this process in MiB."""
    if peak:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def livestream(timestep: int) -> Any:
    """Our prepared livestream data, capped so the train split holds exactly ``WINDOWS`` windows."""
    import yaml

    from sweepcast.data.pipeline import prepare

    cfg = yaml.safe_load((ROOT / "conf/data/livestream.yaml").read_text())
    cfg["timestep"], rows, train = timestep, WINDOWS + timestep, cfg["split"]["train"]
    max_points = next(m for m in range(int(rows / train) - 3, int(rows / train) + 4) if round(m * train) == rows)
    return prepare(cfg, max_points=max_points)


def study_windows(series: np.ndarray, timestep: int) -> tuple[np.ndarray, np.ndarray]:
    """The study's ``create_dataset``: a Python loop of windows stacked into ``[N, timestep, 1]``.

    float64, like the study's MinMaxScaler output: the ``N x timestep`` copy our pipeline avoids."""
    xs, ys = [], []
    for i in range(len(series) - timestep):
        xs.append(series[i:i + timestep])
        ys.append(series[i + timestep])
    return np.array(xs).reshape(-1, timestep, 1), np.array(ys)


def make_inputs(case: Case, data: Any) -> tuple[Any, dict[str, Any]]:
    """``(x, fit_kwargs)`` for ``model.fit`` in the case's pipeline."""
    import keras
    import tensorflow as tf

    if case.pipeline == "study":
        x, y = study_windows(data.split_targets("train").astype(np.float64), case.timestep)
        val = study_windows(data.split_targets("val").astype(np.float64), case.timestep) if case.validation else None
        return x, {"y": y, "batch_size": case.batch_size, "shuffle": True, "validation_data": val}
    if case.pipeline == "keras_tsda":  # window i: inputs[i:i+ts] -> targets[i+ts]
        return keras.utils.timeseries_dataset_from_array(
            data.split_inputs("train")[:-1], data.split_targets("train")[case.timestep:], case.timestep,
            batch_size=case.batch_size, shuffle=True, seed=SEED), {"shuffle": False}
    options = tf.data.Options()
    if case.data_options == "nondeterministic":
        options.deterministic = False
    elif case.data_options == "autotune":
        options.autotune.enabled = True
    ds = data.dataset("train", case.batch_size, shuffle=True, seed=SEED).with_options(options)
    val = data.dataset("val", case.batch_size).with_options(options) if case.validation else None
    return (ds.cache() if case.pipeline == "cached_input_only" else ds), {"shuffle": False, "validation_data": val}


def make_model(case: Case) -> Any:
    """The study's model via our ``build_model``; ``unroll`` rebuilds it from its config."""
    import keras

    from sweepcast.models import build_model

    keras.utils.set_random_seed(SEED)
    model = build_model(MODEL, (case.timestep, 1))
    if case.unroll:
        config = model.get_config()
        for layer in config["layers"]:
            if layer["class_name"] == "LSTM":
                layer["config"]["unroll"] = True
        keras.utils.set_random_seed(SEED)
        model = keras.Model.from_config(config)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse",
                  steps_per_execution=case.steps_per_execution, jit_compile=case.jit_compile)
    return model


def timer(case: Case, warmup_steps: int, samples: int, finish: Callable[..., None]) -> Any:
    """A callback that calls ``finish(start, end, samples, boundary)`` once the timed window is over;
    ``boundary`` (epoch cases): seconds from the end of epoch 1 to the first step of epoch 2."""
    import keras

    class Timer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.steps, self.seen, self.epoch_steps, self.start, self.boundary = 0, 0, 0, None, None

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            if case.epochs and self.start and self.boundary is None:
                self.boundary = time.perf_counter() - self.start[0]

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            now, self.epoch_steps = time.perf_counter(), batch + 1  # batch: last step of the execution
            seen = self.seen + min(self.epoch_steps * case.batch_size, WINDOWS)
            if case.epochs or (self.start is None and self.steps + self.epoch_steps < warmup_steps):
                return
            if self.start is None:
                self.start = (now, seen)
            elif seen - self.start[1] >= samples:
                finish(self.start[0], now, seen - self.start[1])

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.steps += self.epoch_steps
            self.seen += min(self.epoch_steps * case.batch_size, WINDOWS)
            if case.epochs and epoch == 0:
                self.start = (time.perf_counter(), self.seen)
            elif case.epochs and epoch == case.epochs:
                finish(self.start[0], time.perf_counter(), self.seen - self.start[1], self.boundary)

    return Timer()


def run_case(case: Case, samples: int, warmup_steps: int) -> None:
    """Worker side: build data, inputs and model, train until the timed window ends, print JSON, exit."""
    import keras
    import tensorflow as tf

    if case.threads:
        tf.config.threading.set_intra_op_parallelism_threads(case.threads[0])
        tf.config.threading.set_inter_op_parallelism_threads(case.threads[1])
    base_rss, data = rss_mb(peak=True), livestream(case.timestep)
    tf.constant(0.0)  # start TensorFlow's runtime before measuring what the inputs hold
    before = rss_mb()
    x, kwargs = make_inputs(case, data)
    input_mb = rss_mb() - before
    samples = max(int(samples * case.samples_scale) // case.batch_size, 1) * case.batch_size
    warmup = max(warmup_steps, case.steps_per_execution)
    started = time.perf_counter()

    def finish(start: float, end: float, timed: int, boundary: float | None = None) -> None:
        print(json.dumps({**asdict(case), "samples_per_s": timed / (end - start), "timed_samples": timed,
                          "boundary_s": boundary,
                          "timed_s": end - start, "setup_s": start - started, "peak_rss_mb": rss_mb(peak=True),
                          "input_mb": input_mb, "base_rss_mb": base_rss, "tf": tf.__version__,
                          "keras": keras.__version__}), flush=True)
        os._exit(0)  # skip teardown: dropping a live tf.data iterator can block for seconds

    if case.pipeline.endswith("input_only"):
        iterator = iter(x.repeat())
        for _ in range(-(-WINDOWS // case.batch_size) if case.pipeline.startswith("cached") else warmup):
            next(iterator)  # a cached pipeline is timed on its second pass
        start, timed = time.perf_counter(), 0
        while timed < samples:
            timed += int(next(iterator)[0].shape[0])
        finish(start, time.perf_counter(), timed)
    make_model(case).fit(x, epochs=case.epochs + 1 if case.epochs else 1000, verbose=0,
                         callbacks=[timer(case, warmup, samples, finish)], **kwargs)
    raise RuntimeError(f"{case.name}: training ended before the timed window")


def spawn(case: Case, samples: int, warmup: int) -> dict[str, Any]:
    """Run one case in a fresh interpreter and parse its JSON line."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, __file__, "--worker", json.dumps(asdict(case)), "--samples", str(samples),
           "--warmup", str(warmup)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{case.name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per case: median samples/s over its runs, and the median ratio of each run against the
    nearest-in-time run of the study's and of our no-knob case at the same batch size, timestep, timing."""
    def ratio(i: int, pipeline: str) -> float | None:
        like = rows[i]
        refs = [j for j, r in enumerate(rows) if r["pipeline"] == pipeline and r["steps_per_execution"] == 1
                and not (r["jit_compile"] or r["unroll"] or r["data_options"] or r["threads"])
                and all(r[k] == like[k] for k in ("batch_size", "timestep", "epochs", "validation"))]
        if not refs or "input" in like["pipeline"]:
            return None
        near = min(abs(j - i) for j in refs)  # both neighbours when equally near
        return like["samples_per_s"] / statistics.mean(rows[j]["samples_per_s"] for j in refs if abs(j - i) == near)

    out = []
    for name in dict.fromkeys(r["name"] for r in rows):
        runs = [i for i, r in enumerate(rows) if r["name"] == name]
        rates = [rows[i]["samples_per_s"] for i in runs]
        ratios = {p: [v for v in (ratio(i, p) for i in runs) if v is not None] for p in ("study", "ours")}
        out.append({**rows[runs[0]], "samples_per_s": statistics.median(rates), "runs": [round(v) for v in rates],
                    "peak_rss_mb": max(rows[i]["peak_rss_mb"] for i in runs),
                    "input_mb": max(rows[i]["input_mb"] for i in runs),
                    "setup_s": statistics.median(rows[i]["setup_s"] for i in runs),
                    **{f"x_{p}": statistics.median(v) if v else None for p, v in ratios.items()}})
    return out


def table(summary: list[dict[str, Any]]) -> str:
    """The summary as a markdown table."""
    lines = ["| case | batch | timestep | timing | samples/s | runs | x study | x ours default | peak RSS MB "
             "| inputs MB | setup s | boundary s |", "|---|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in summary:
        cells = [f"{r[k]:.2f}" if r[k] is not None else "-" for k in ("x_study", "x_ours", "boundary_s")]
        timing = ("input only" if "input" in r["name"] else "window" if not r["epochs"] else
                  f"epoch{'s 2-' if r['epochs'] > 1 else ' '}{r['epochs'] + 1}{' + val' if r['validation'] else ''}")
        lines.append(f"| {r['name']} | {r['batch_size']} | {r['timestep']} | {timing} | {r['samples_per_s']:.0f} | "
                     f"{'/'.join(map(str, r['runs']))} | {cells[0]} | {cells[1]} | {r['peak_rss_mb']:.0f} | "
                     f"{r['input_mb']:.0f} | {r['setup_s']:.1f} | {cells[2]} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 cases, 1 round, few samples: ~1 minute")
    parser.add_argument("--samples", type=int, help="timed samples per window case (default 3072, quick 1024)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (at least steps_per_execution)")
    parser.add_argument("--rounds", type=int, help="rounds of the repeated cases, order alternating (default 2)")
    parser.add_argument("--only", nargs="+", metavar="CASE", help="run only these case names")
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/throughput-<date>.json)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    samples = args.samples or (1024 if args.quick else 3072)
    if args.worker:
        case = json.loads(args.worker)
        case["threads"] = tuple(case["threads"]) if case["threads"] else None
        run_case(Case(**case), samples, args.warmup)
        return
    plan = cases(args.quick)
    if args.only:  # each named case once, in plan order
        plan = list({c.name: c for c in plan + EXTRA if c.name in args.only}.values())
    rounds = args.rounds or (1 if args.quick else 2)
    order = [(0, c) for c in plan] + [(i, c) for i in range(1, rounds)
                                      for c in (plan if i % 2 == 0 else plan[::-1]) if c.repeat or args.only]
    rows, started = [], time.perf_counter()
    for i, (rnd, case) in enumerate(order, 1):
        rows.append({**spawn(case, samples, args.warmup), "round": rnd})
        print(f"[{i}/{len(order)}] {case.name}: {rows[-1]['samples_per_s']:.0f} samples/s, "
              f"peak {rows[-1]['peak_rss_mb']:.0f} MB ({time.perf_counter() - started:.0f}s)", file=sys.stderr)
    summary = summarise(rows)
    print(table(summary))
    out = args.out or ROOT / "bench/results" / f"throughput-{date.today()}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    cpu = next((line.split(":")[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    machine = {"platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(),
               "python": platform.python_version()}
    out.write_text(json.dumps({"date": str(date.today()), "machine": machine, "windows": WINDOWS,
                               "samples": samples, "rounds": rounds, "seconds": round(time.perf_counter() - started),
                               "summary": summary, "runs": rows}, indent=1))
    print(f"raw results: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
