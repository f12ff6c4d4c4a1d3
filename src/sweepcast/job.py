"""One training job: config -> data -> model -> metrics -> MLflow run; returns the optimized metric.

Order matters for users: every config and data check runs before TensorFlow is imported and
before an MLflow run exists, so a typo fails in about a second and leaves no run behind. Once
the run is open, any exception ends it FAILED (see :mod:`sweepcast.tracking`).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sweepcast import disk_space, tracking
from sweepcast.backtesting import CURVE, cv_metrics, fold_scores
from sweepcast.data.windows import input_rows
from sweepcast.errors import SweepcastError, Terminated, TrialPruned
from sweepcast.fitting import configure_threads, fit, predict_split, seed_everything, trial_reporter, val_rmse_callback
from sweepcast.models import build_model
from sweepcast.redaction import redact_override
from sweepcast.run_spec import RunSpec, parse_run
from sweepcast.sweeper import context as sweep_context
from sweepcast.tasks.base import Evaluation

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> float:
    """Train, evaluate and log one configuration; return ``cfg.optimized_metric``'s value."""
    spec = parse_run(cfg)
    data = spec.task.prepare(spec.data, spec.trainer.max_points)

    trial = sweep_context.current()
    if trial is not None:  # a sweep's trial: nested under the sweep's parent run, in its experiment
        tracking.use_store(spec.tracking.config)
        experiment_id = trial.experiment_id
    else:
        experiment_id = tracking.open_experiment(spec.tracking.config, spec.tracking.experiment)
    tags = {
        "data_source": data.source,
        "data_fingerprint": data.fingerprint,
        "model_family": spec.model.name,
        **tracking.git_tags(Path(__file__).parent),
        **job_tags(),
        **(trial.run_tags() if trial is not None else {}),
    }
    _RUN_OPENED.append(True)
    with tracking.start_run(experiment_id, run_name(spec), tags) as run_id:
        if trial is not None:
            trial.attach_run(run_id)
        tracking.log_config(spec.config, OmegaConf.to_yaml(cfg, resolve=True))
        tracking.log_metrics(data.report.as_metrics())
        metrics = train_and_evaluate(data, spec)
        optimized = spec.optimized
        if not math.isfinite(metrics[optimized]):
            raise SweepcastError(f"optimized_metric '{optimized}' is {metrics[optimized]}: training diverged or the split is constant")
    print_summary(spec, metrics, run_id)
    return float(metrics[spec.optimized])


def train_and_evaluate(data: Any, spec: RunSpec) -> dict[str, float]:
    """Fit, let the task score every split in original units, and log it all.

    Forecasts are ``[windows, horizon]`` (a check-in's 3 values); what is scored against which
    baseline, and which tables and pages a run keeps, is the task's (:mod:`sweepcast.tasks`).
    """
    model, fitted, predict = fit_network(data, spec) if spec.model.network else fit_baseline(data, spec)
    evaluation = spec.task.evaluate(data, finite(predict), fitted, spec.tracking.plotlyjs)
    log_evaluation(evaluation)
    state = spec.task.fitted_state(data)
    state.details.update(evaluation.state)
    tracking.log_json(state.to_json(), "preprocessing/scalers.json")
    log_model_and_log(model if spec.model.network else None, data, spec)
    backtest = getattr(spec.data, "backtest", None)
    if backtest is not None:  # after the final fit: a trial pruned in it never pays for the other folds
        first = [evaluation.metrics["val_rmse"]] if backtest.reuses_final_fit else []  # it is the last fold
        scores = fold_scores(data, spec, fold_reporter(spec), first)
        cv = cv_metrics(scores)
        tracking.log_metrics(cv)
        tracking.log_series(CURVE, scores)
        evaluation.metrics.update(cv)
        log.info("backtest: cv_val_rmse %.4g ± %.3g over %d folds", cv["cv_val_rmse"], cv["cv_val_rmse_std"],
                 len(scores))
    return evaluation.metrics


def finite(predict: Any) -> Any:
    """``predict`` that refuses NaN/inf forecasts in one line: a diverged network's outputs would
    otherwise fail inside scikit-learn's metrics with a traceback."""
    def checked(split: str) -> np.ndarray:
        forecast = np.asarray(predict(split))
        if not np.isfinite(forecast).all():
            raise SweepcastError(f"the model's {split} forecasts are not finite (NaN or inf): training diverged; "
                                 "lower trainer.learning_rate or use another trainer.optimizer")
        return forecast
    return checked


def log_evaluation(evaluation: Evaluation) -> None:
    """Final metrics, per-step curves and the task's files, through the tracking layer."""
    tracking.log_metrics(evaluation.metrics)
    for key, values in evaluation.curves.items():
        tracking.log_series(key, values)
    for artifact in evaluation.artifacts:
        if isinstance(artifact.content, dict):
            tracking.log_json(artifact.content, artifact.path)
        elif isinstance(artifact.content, str):
            tracking.log_html(artifact.content, artifact.path)
        else:
            tracking.log_table_csv(artifact.content, artifact.path, digits=artifact.digits)


def fit_network(data: Any, spec: RunSpec) -> tuple[Any, dict, Any]:
    """A Keras family on tf.data windows: (model, fit metrics, split -> forecasts in original units)."""
    trainer = spec.trainer
    configure_threads(trainer.intra_op_threads, trainer.inter_op_threads)
    seed_everything(trainer.seed, trainer.deterministic)
    model = build_model(spec.model.config, (data.timestep, len(data.features)), data.task.outputs, data.task)
    log.info("model %s: %s parameters", spec.model.name, f"{model.count_params():,}")
    trial = sweep_context.current()
    epoch_metric, direction = getattr(data, "epoch_metric", ("epoch_val_rmse", "minimize"))
    prunable = trial is not None and trial.report is not None and trial.direction == direction \
        and not spec.optimized.startswith("cv_")  # a backtest's trial reports per fold (sweepcast.backtesting)
    pruning = trial_reporter(trial.report, epoch_metric, trainer.epochs) if prunable else None
    if prunable and trainer.epochs == 1:
        say_once("trainer.epochs=1: trials are not pruned (pruning saves the epochs after a rung; there are none)")
    callbacks = [val_rmse_callback(data), *([pruning] if pruning else []), tracking.epoch_callback()]
    result = fit(model, data, trainer, callbacks=callbacks, show_bar=not in_multirun())
    if pruning is not None and pruning.pruned_epoch is not None:
        tracking.log_metrics({"epochs_run": float(result.epochs_run), "fit_seconds": result.seconds})
        raise TrialPruned(pruning.pruned_epoch, pruning.last_value)
    fitted = {
        "epochs_run": float(result.epochs_run),
        "best_epoch": float(result.best_epoch + 1),
        "fit_seconds": result.seconds,
        "train_samples_per_second": result.samples_per_second,
        "parameters": float(model.count_params()),
    }
    return model, fitted, lambda split: predict_split(model, data, split, trainer.batch_size)


def fold_reporter(spec: RunSpec) -> Any:
    """A sweep trial selecting on ``cv_val_rmse`` reports the running fold mean (else no reports)."""
    trial = sweep_context.current()
    if trial is None or trial.report is None or not spec.optimized.startswith("cv_") or trial.direction != "minimize":
        return None
    return trial.report


_SAID: set[str] = set()


def say_once(message: str) -> None:
    """One line per worker process, not one per trial."""
    if message not in _SAID:
        _SAID.add(message)
        log.info("%s", message)


def fit_baseline(data: Any, spec: RunSpec) -> tuple[Any, dict, Any]:
    """A baseline fits itself (no TensorFlow at all) and forecasts the same windows."""
    forecaster = build_model(spec.model.config, (data.timestep, len(data.features)), data.task.outputs)
    configure_threads(spec.trainer.intra_op_threads, spec.trainer.inter_op_threads, tensorflow=False)  # GBDT's OpenMP
    started = time.perf_counter()
    extra = forecaster.fit(data, spec.trainer.seed)
    fitted = {"fit_seconds": time.perf_counter() - started, **extra}
    log.info("baseline %s fitted in %.2fs", spec.model.name, fitted["fit_seconds"])
    return forecaster, fitted, lambda split: forecaster.predict(data, split)


def log_model_and_log(model: Any, data: Any, spec: RunSpec) -> None:
    """A network (with signature and one test window as its example) and the job's log file.
    Baselines log no model: their params say it all."""
    if model is not None and spec.tracking.log_model:
        example = data.example_input() if hasattr(data, "example_input") else \
            data.inputs[input_rows(data.target_rows("test")[:1], data.timestep)]  # [1, timestep, F]
        tracking.log_keras_model(model, example)
    log_file = job_log_file()
    if log_file is not None:
        tracking.log_file(log_file)


def print_summary(spec: RunSpec, metrics: Mapping[str, float], run_id: str) -> None:
    log.info("%s", spec.task.summary(metrics))
    if sweep_context.current() is not None:  # a trial: the sweep says how to browse once, at its end
        log.info("MLflow run %s", run_id)
        return
    log.info("MLflow run %s in experiment '%s'; browse it with: %s", run_id, spec.tracking.experiment,
             tracking.ui_hint(spec.tracking.uri))


MAX_RUN_NAME = 250  # MLflow's runs.name is VARCHAR(250): PostgreSQL refuses longer, SQLite does not check


def run_name(spec: RunSpec) -> str:
    """The overrides that define this job (e.g. ``model.layers=2``), else the model family; cut
    to :data:`MAX_RUN_NAME` characters (the ``job_overrides`` tag keeps them all)."""
    overrides = hydra_value("job.override_dirname")
    name = f"{spec.model.name} {overrides}".strip() if overrides else spec.model.name
    return name if len(name) <= MAX_RUN_NAME else name[:MAX_RUN_NAME - 1] + "…"


def job_tags() -> dict[str, str]:
    command = " ".join([Path(sys.argv[0]).name, *map(redact_override, sys.argv[1:])])  # no storage passwords
    tags = {"hydra_job_dir": hydra_value("runtime.output_dir") or "", "command": command,
            "job_overrides": " ".join(map(redact_override, job_overrides()))}
    return {k: v for k, v in tags.items() if v}


def job_overrides() -> list[str]:
    """This job's own overrides (a sweep trial's point, not the sweep's command line): with
    ``python train.py`` in front they reproduce the run."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def job_log_file() -> Path | None:
    output_dir, name = hydra_value("runtime.output_dir"), hydra_value("job.name")
    if not output_dir or not name:
        return None
    return Path(output_dir) / f"{name}.log"


def hydra_value(path: str) -> str | None:
    """A value of the running Hydra job's config, or None outside Hydra."""
    if not HydraConfig.initialized():
        return None
    value = OmegaConf.select(HydraConfig.get(), path)
    return None if value is None else str(value)


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def main(cfg: DictConfig) -> float:
    """Entry used by ``train.py``: user errors become one line and exit status 2.

    In a multirun the error is logged and re-raised so the sweeper can record the failed job.
    ``HYDRA_FULL_ERROR=1`` keeps the traceback.
    """
    if not in_multirun():  # a sweep's trials are stopped by the sweeper, which closes their runs itself
        signal.signal(signal.SIGTERM, terminate)
    disk_space.quiet_log_files()  # this job's log file (Hydra made it just now)
    try:
        with disk_space.reserve([] if in_multirun() else reserve_folders(cfg)):  # a sweep holds its trials' own
            return run(cfg)
    except SweepcastError as err:
        log.error("%s", err)
        if in_multirun() or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        if not _RUN_OPENED:
            remove_output_folder()
        sys.exit(2)
    except Exception as err:
        if not disk_space.is_disk_full(err):
            raise
        if in_multirun():  # the sweeper queues the trial again and stops with one line
            raise disk_space.DiskFull(disk_space.describe(err)) from err
        log.error("%s; free some space and run it again", disk_space.describe(err))
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        sys.exit(2)
    except Terminated as err:  # its MLflow run, if one was open, is closed KILLED (tracking.start_run)
        log.error("%s", err)
        sys.exit(128 + signal.SIGTERM)


_RUN_OPENED: list[bool] = []  # appended once this process opens an MLflow run


def remove_output_folder() -> None:
    """A single run refused before any MLflow run opened leaves nothing behind: Hydra's
    ``outputs/<date>/<time>/`` (its config copy and a log of the one error line) goes, and the
    date folder with it when empty. A folder holding anything else is kept."""
    output = hydra_value("runtime.output_dir")
    if not output:
        return
    folder, here = Path(output).resolve(), Path.cwd().resolve()
    if folder == here or folder in here.parents:  # hydra.run.dir=. : the user's own folder
        return
    hydra_files = {".hydra", *(p.name for p in folder.glob("*.log"))}
    if not folder.is_dir() or any(p.name not in hydra_files for p in folder.iterdir()):
        return
    shutil.rmtree(folder, ignore_errors=True)
    for parent in (folder.parent, folder.parent.parent):
        if parent != here and here in parent.parents and not any(parent.iterdir()):
            parent.rmdir()
        else:
            break


def reserve_folders(cfg: DictConfig) -> list[Path]:
    """Where a single run writes: its MLflow store (when local) and Hydra's output folder."""
    uri = OmegaConf.select(cfg, "tracking.uri", throw_on_resolution_failure=False)
    store = tracking.sqlite_path(uri) if isinstance(uri, str) else None
    output = hydra_value("runtime.output_dir")
    return [path for path in (store.parent if store else None, Path(output) if output else None) if path]


def terminate(signum: int, frame: Any) -> None:
    """SIGTERM (``kill``, a scheduler's time limit) ends a single run like Ctrl-C: closed KILLED,
    never left RUNNING in MLflow."""
    raise Terminated(f"stopped by {signal.Signals(signum).name}")
