"""Training throughput of the livestream study's LSTM: our ``tf.data`` windows vs the study's arrays.

Every case runs in its own fresh subprocess (so its peak RSS is its own) on the same data (the
embedded synthetic livestream, univariate ``WATCH_UCNT`` scaled to [0, 1], 20,000 training
windows), the same model (``build_model``: LSTM 64/64/32 + Dense(1), MSE, Adam 1e-3) and the
same seed. A callback skips the first steps (tracing, XLA compilation, pipeline ramp-up) and
then times a fixed number of samples; training stops there.

    python bench/throughput.py           # all cases, ~10 minutes on 2 CPU cores
    python bench/throughput.py --quick   # 4 cases, ~1 minute (smoke check)
    python bench/throughput.py --only ours-b128 study-b128
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

MODEL = {"name": "lstm", "layers": 3, "units": [64, 64, 32], "dropout": 0.0, "activation": "tanh",
         "head_units": [], "head_activation": "relu", "output_activation": "linear", "l2": 0.0}
WINDOWS, SEED, TRAIN_FRACTION = 20_000, 42, 0.7
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Case:
    """One measured configuration; the defaults are our trainer's path at batch 128."""

    name: str
    pipeline: str = "ours"  # ours | study | keras_tsda | ours_input_only | ours_cached_input_only
    batch_size: int = 128
    timestep: int = 100
    steps_per_execution: int = 1
    jit_compile: bool = False
    unroll: bool = False
    data_options: str = ""  # "" | nondeterministic | private_pool
    threads: tuple[int, int] | None = None  # (intra_op, inter_op); None: TensorFlow's default
    env: dict[str, str] = field(default_factory=dict)
    samples_scale: float = 1.0  # fraction of --samples timed (long-timestep memory cases)


def cases(quick: bool) -> list[Case]:
    """The benchmark plan: ours vs study per batch size, timestep scaling, then knobs on ours."""
    if quick:
        return [Case("study-b128", "study"), Case("ours-b128"),
                Case("study-b128-t400", "study", timestep=400, samples_scale=0.25),
                Case("ours-b128-t400", timestep=400, samples_scale=0.25)]
    plan = [Case(f"{p}-b{b}", p, batch_size=b) for b in (32, 128, 256) for p in ("study", "ours")]
    plan += [Case(f"{p}-b128-t{t}", p, timestep=t, samples_scale=100 / t) for t in (200, 400)
             for p in ("study", "ours")]
    plan += [Case("keras_tsda-b128", "keras_tsda"), Case("ours-input-only", "ours_input_only"),
             Case("ours-cached-input-only", "ours_cached_input_only"),
             *(Case(f"ours-b128-spe{s}", steps_per_execution=s) for s in (4, 16, 32)),
             Case("ours-b128-jit", jit_compile=True),
             Case("ours-b128-jit-spe16", jit_compile=True, steps_per_execution=16),
             Case("study-b128-jit-spe16", "study", jit_compile=True, steps_per_execution=16),
             Case("ours-b256-jit-spe16", batch_size=256, jit_compile=True, steps_per_execution=16),
             Case("ours-b128-unroll", unroll=True),
             Case("ours-b128-nondeterministic", data_options="nondeterministic"),
             Case("ours-b128-private-pool", data_options="private_pool"),
             Case("ours-b128-intra1-inter2", threads=(1, 2)),
             Case("ours-b128-intra2-inter1", threads=(2, 1)),
             Case("ours-b128-onednn-off", env={"TF_ENABLE_ONEDNN_OPTS": "0"})]
    return plan


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def livestream(timestep: int) -> Any:
    """Our prepared livestream data, capped so the train split holds exactly ``WINDOWS`` windows."""
    import yaml

    from sweepcast.data.pipeline import prepare

    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "conf/data/livestream.yaml").read_text())
    cfg["timestep"] = timestep
    rows = WINDOWS + timestep
    max_points = next(m for m in range(int(rows / TRAIN_FRACTION) - 3, int(rows / TRAIN_FRACTION) + 4)
                      if int(round(m * TRAIN_FRACTION)) == rows)
    return prepare(cfg, max_points=max_points)


def study_windows(series: np.ndarray, timestep: int) -> tuple[np.ndarray, np.ndarray]:
    """The study's ``create_dataset``: a Python loop of windows stacked into ``[N, timestep, 1]``.

    float64, as the study's MinMaxScaler output; this is the ``N x timestep`` copy we avoid."""
    xs, ys = [], []
    for i in range(len(series) - timestep):
        xs.append(series[i:i + timestep])
        ys.append(series[i + timestep])
    return np.array(xs).reshape(-1, timestep, 1), np.array(ys)


def make_inputs(case: Case, data: Any) -> tuple[Any, dict[str, Any]]:
    """``(x, fit_kwargs)`` for ``model.fit`` in the case's pipeline."""
    import keras
    import tensorflow as tf

    ts = case.timestep
    if case.pipeline == "study":
        x, y = study_windows(data.split_targets("train").astype(np.float64), ts)
        return x, {"y": y, "batch_size": case.batch_size, "shuffle": True}
    if case.pipeline == "keras_tsda":
        inputs, targets = data.split_inputs("train"), data.split_targets("train")
        return keras.utils.timeseries_dataset_from_array(
            inputs[:-1], targets[ts:], sequence_length=ts, batch_size=case.batch_size, shuffle=True, seed=SEED), {}
    ds = data.dataset("train", case.batch_size, shuffle=True, seed=SEED)
    if case.data_options:
        options = tf.data.Options()
        if case.data_options == "nondeterministic":
            options.deterministic = False
        elif case.data_options == "private_pool":  # keep tf.data off the threads the model uses
            options.threading.private_threadpool_size = 1
            options.threading.max_intra_op_parallelism = 1
        ds = ds.with_options(options)
    return (ds.cache() if case.pipeline == "ours_cached_input_only" else ds), {}


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


def timer(batch_size: int, warmup_steps: int, samples: int) -> Any:
    """A callback timing ``samples`` samples after ``warmup_steps`` steps, then stopping training."""
    import keras

    class Timer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.steps, self.samples, self.epoch_steps = 0, 0, 0  # finished epochs' totals
            self.marks: list[tuple[float, int]] = []  # (time, samples seen) at start and end

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.epoch_steps = 0

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            now, self.epoch_steps = time.perf_counter(), batch + 1  # batch: last step of the execution
            seen = self.samples + min(self.epoch_steps * batch_size, WINDOWS)
            if not self.marks and self.steps + self.epoch_steps >= warmup_steps:
                self.marks.append((now, seen))
            elif self.marks and seen - self.marks[0][1] >= samples:
                self.marks.append((now, seen))
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.steps += self.epoch_steps
            self.samples += min(self.epoch_steps * batch_size, WINDOWS)

    return Timer()


def input_only(x: Any, samples: int, warmup_steps: int) -> float:
    """Samples/s of an input pipeline alone, after ``warmup_steps`` batches (a full pass when cached)."""
    iterator = iter(x.repeat())
    for _ in range(warmup_steps):
        next(iterator)
    seen, start = 0, time.perf_counter()
    while seen < samples:
        seen += int(next(iterator)[0].shape[0])
    return seen / (time.perf_counter() - start)


def run_case(case: Case, samples: int, warmup_steps: int) -> dict[str, Any]:
    """Worker side: build data, inputs and model, train until the timed window is done."""
    import keras
    import tensorflow as tf

    if case.threads:
        tf.config.threading.set_intra_op_parallelism_threads(case.threads[0])
        tf.config.threading.set_inter_op_parallelism_threads(case.threads[1])
    base_rss = peak_rss_mb()
    data = livestream(case.timestep)
    x, kwargs = make_inputs(case, data)
    samples = int(samples * case.samples_scale) // case.batch_size * case.batch_size
    warmup = max(5, case.steps_per_execution)
    if case.pipeline.endswith("input_only"):
        cached = case.pipeline.startswith("ours_cached")
        rate, setup = input_only(x, samples, -(-WINDOWS // case.batch_size) if cached else warmup), 0.0
    else:
        model, clock, started = make_model(case), timer(case.batch_size, warmup, samples), time.perf_counter()
        model.fit(x, epochs=100, verbose=0, callbacks=[clock], **kwargs)
        (t0, s0), (t1, s1) = clock.marks[0], clock.marks[-1]
        rate, setup = (s1 - s0) / (t1 - t0), t0 - started
    return {**asdict(case), "samples_per_s": rate, "setup_s": setup, "peak_rss_mb": peak_rss_mb(),
            "base_rss_mb": base_rss, "timed_samples": samples, "tf": tf.__version__, "keras": keras.__version__}


def spawn(case: Case, samples: int, warmup: int) -> dict[str, Any]:
    """Run one case in a fresh interpreter and parse its JSON line."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore", **case.env}
    cmd = [sys.executable, __file__, "--worker", json.dumps(asdict(case)), "--samples", str(samples),
           "--warmup", str(warmup)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{case.name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def is_default(row: dict[str, Any]) -> bool:
    """A case with no knob changed: the reference for its pipeline, batch size and timestep."""
    return (row["steps_per_execution"] == 1 and not row["jit_compile"] and not row["unroll"]
            and not row["data_options"] and not row["threads"] and not row["env"])


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table; ratios are against the study and our default at the same batch and timestep."""
    def rate_of(pipeline: str, row: dict[str, Any]) -> float | None:
        return next((r["samples_per_s"] for r in rows if r["pipeline"] == pipeline and is_default(r)
                     and (r["batch_size"], r["timestep"]) == (row["batch_size"], row["timestep"])), None)

    lines = ["| case | batch | timestep | samples/s | x study | x ours default | peak RSS MB | setup s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratios = [f"{r['samples_per_s'] / base:.2f}" if base and not r["pipeline"].endswith("input_only")
                  else "-" for base in (rate_of("study", r), rate_of("ours", r))]
        lines.append(f"| {r['name']} | {r['batch_size']} | {r['timestep']} | {r['samples_per_s']:.0f} | "
                     f"{ratios[0]} | {ratios[1]} | {r['peak_rss_mb']:.0f} | {r['setup_s']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 cases, few samples: a ~1 minute smoke check")
    parser.add_argument("--samples", type=int, help="timed samples per case (default 6144, quick 1024)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (at least steps_per_execution)")
    parser.add_argument("--only", nargs="+", metavar="CASE", help="run only these case names")
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/throughput-<date>.json)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    samples = args.samples or (1024 if args.quick else 6144)
    if args.worker:
        case = json.loads(args.worker)
        case["threads"] = tuple(case["threads"]) if case["threads"] else None
        print(json.dumps(run_case(Case(**case), samples, args.warmup)))
        return
    plan = [c for c in cases(args.quick) if not args.only or c.name in args.only]
    rows, started = [], time.perf_counter()
    for i, case in enumerate(plan, 1):
        rows.append(spawn(case, samples, args.warmup))
        print(f"[{i}/{len(plan)}] {case.name}: {rows[-1]['samples_per_s']:.0f} samples/s, "
              f"peak {rows[-1]['peak_rss_mb']:.0f} MB ({time.perf_counter() - started:.0f}s)", file=sys.stderr)
    print(table(rows))
    machine = {"platform": platform.platform(), "cpu_count": os.cpu_count(), "processor": platform.processor(),
               "python": platform.python_version()}
    out = args.out or RESULTS / f"throughput-{date.today()}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": str(date.today()), "machine": machine, "windows": WINDOWS,
                               "samples": samples, "seconds": time.perf_counter() - started,
                               "results": rows}, indent=1))
    print(f"\nraw results: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
