"""One training job: config -> data -> model -> metrics -> MLflow run; returns the optimized metric.

Order matters for users: every config and data check runs before TensorFlow is imported and
before an MLflow run exists, so a typo fails in about a second and leaves no run behind. Once
the run is open, any exception ends it FAILED (see :mod:`sweepcast.tracking`).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sweepcast import tracking
from sweepcast.data.calendar import calendar_spec
from sweepcast.data.pipeline import PreparedData, prepare, row_step
from sweepcast.data.trajectories import CheckinData, CheckinSettings
from sweepcast.data.windows import forecast_task, input_rows, scaler_state
from sweepcast.errors import ConfigError, SweepcastError, TrialPruned
from sweepcast.metrics import forecast_metrics, per_step, rmse, skill
from sweepcast.models import build_model, is_network, validate_model
from sweepcast.models.persistence import Persistence
from sweepcast.sweeper import context as sweep_context
from sweepcast.fitting import (
    TrainerSpec,
    configure_threads,
    fit,
    predict_split,
    seed_everything,
    trial_reporter,
    val_rmse_callback,
    validate_trainer,
)

log = logging.getLogger(__name__)

SECTIONS = ("data", "model", "trainer", "tracking")
# Final metrics a job returns; optimized_metric must be one of them (checked before training).
OPTIMIZABLE = {
    "series": tuple(f"{split}_{name}" for split in ("val", "test") for name in ("rmse", "mae", "r2", "smape"))
    + ("baseline_test_rmse", "skill"),
    "checkins": tuple(f"{split}_{name}" for split in ("val", "test")
                      for name in ("rmse", "mae", "r2", "km_median", "km_mean", "dt_minutes_mae"))
    + ("baseline_test_rmse", "skill"),
}


def run(cfg: DictConfig) -> float:
    """Train, evaluate and log one configuration; return ``cfg.optimized_metric``'s value."""
    config, trainer, optimized = check_config(cfg)
    data = prepare(config["data"], trainer.max_points)

    trial = sweep_context.current()
    experiment = str(config["tracking"].get("experiment") or config["data"].get("name") or "sweepcast")
    if trial is not None:  # a sweep's trial: nested under the sweep's parent run, in its experiment
        tracking.use_store(config["tracking"])
        experiment_id = trial.experiment_id
    else:
        experiment_id = tracking.open_experiment(config["tracking"], experiment)
    tags = {
        "data_source": data.source,
        "data_fingerprint": data.fingerprint,
        "model_family": str(config["model"]["name"]),
        **tracking.git_tags(Path(__file__).parent),
        **job_tags(),
        **(trial.run_tags() if trial is not None else {}),
    }
    with tracking.start_run(experiment_id, run_name(config), tags) as run_id:
        if trial is not None:
            trial.attach_run(run_id)
        tracking.log_config(config, OmegaConf.to_yaml(cfg, resolve=True))
        tracking.log_metrics(data.report.as_metrics())
        metrics = train_and_evaluate(data, config, trainer)
        if not math.isfinite(metrics[optimized]):
            raise SweepcastError(f"optimized_metric '{optimized}' is {metrics[optimized]}: training diverged or the split is constant")
    print_summary(metrics, run_id, experiment, str(config["tracking"]["uri"]))
    return float(metrics[optimized])


def check_config(cfg: DictConfig) -> tuple[dict[str, Any], TrainerSpec, str]:
    """Every check that needs no data: the sweeper runs it on each grid point before a study exists."""
    config = resolve(cfg)
    trainer = validate_trainer(config["trainer"])
    task = forecast_task(config["data"])
    validate_model(config["model"], task)
    if task.kind == "checkins":
        CheckinSettings.from_config(config["data"])
    else:
        calendar_spec(config["data"].get("calendar"))
    optimized = config.get("optimized_metric", "val_rmse")
    if optimized not in OPTIMIZABLE[task.kind]:
        raise ConfigError("optimized_metric", f"one of {OPTIMIZABLE[task.kind]}", optimized)
    return config, trainer, optimized


def resolve(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain containers, every interpolation resolved, sections checked."""
    try:
        config = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", "") or "config"
        raise ConfigError(str(key), "a value", str(err).splitlines()[0]) from None
    for section in SECTIONS:
        if not isinstance(config.get(section), dict):
            raise ConfigError(section, "a config group (mapping)", config.get(section))
    return config


def train_and_evaluate(data: PreparedData, config: Mapping[str, Any], trainer: TrainerSpec) -> dict[str, float]:
    """Fit, predict every split, compute metrics in original units, and log it all.

    Forecasts are ``[windows, horizon]``; headline metrics pool every step, and test RMSE/MAE per
    step go to MLflow as ``test_rmse_by_step`` / ``test_mae_by_step`` (MLflow step = lead time).
    """
    network = is_network(config["model"]["name"])
    model, fitted, predict = fit_network(data, config, trainer) if network else fit_baseline(data, config, trainer)
    if isinstance(data, CheckinData):
        from sweepcast import checkin_evaluation

        metrics, test_pred, base_pred = checkin_evaluation.evaluate(data, predict, fitted)
        checkin_evaluation.log_artifacts(data, config, test_pred, base_pred)
    else:
        metrics = evaluate_series(data, config, predict, fitted)
    log_model_and_log(model if network else None, data, config)
    return metrics


def evaluate_series(data: PreparedData, config: Mapping[str, Any], predict: Any, fitted: dict[str, float]
                    ) -> dict[str, float]:
    """A series run's metrics (against persistence) and artifacts."""
    evaluating = time.perf_counter()
    val_pred, test_pred = predict("val"), predict("test")
    val_true, test_true = data.target_matrix("val"), data.target_matrix("test")
    persistence = Persistence().predict(data, "test")  # the reference every skill is measured against

    metrics = {
        **forecast_metrics(val_true, val_pred, "val"),
        **forecast_metrics(test_true, test_pred, "test"),
        "baseline_test_rmse": rmse(test_true, persistence),
        **fitted,
    }
    metrics["skill"] = skill(metrics["test_rmse"], metrics["baseline_test_rmse"])
    metrics["evaluate_seconds"] = time.perf_counter() - evaluating  # predictions + metrics
    tracking.log_metrics(metrics)
    steps, reference = per_step(test_true, test_pred), per_step(test_true, persistence)
    if data.horizon > 1:
        tracking.log_series("test_rmse_by_step", steps["rmse"])
        tracking.log_series("test_mae_by_step", steps["mae"])
        tracking.log_series("baseline_test_rmse_by_step", reference["rmse"])
        log.info("test RMSE by step: %s", "  ".join(f"{k}: {v:.4g}" for k, v in enumerate(steps["rmse"], start=1)))
    log_artifacts(data, config, test_pred, persistence, (steps["rmse"], reference["rmse"]))
    return metrics


def fit_network(data: PreparedData, config: Mapping[str, Any], trainer: TrainerSpec) -> tuple[Any, dict, Any]:
    """A Keras family on tf.data windows: (model, fit metrics, split -> forecasts in original units)."""
    configure_threads(trainer.intra_op_threads, trainer.inter_op_threads)
    seed_everything(trainer.seed, trainer.deterministic)
    model = build_model(config["model"], (data.timestep, len(data.features)), data.task.outputs)
    log.info("model %s: %s parameters", config["model"]["name"], f"{model.count_params():,}")
    trial = sweep_context.current()
    pruning = trial_reporter(trial.report) if trial is not None and trial.report is not None else None
    callbacks = [val_rmse_callback(data.target_unit_scale()), *([pruning] if pruning else []), tracking.epoch_callback()]
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


def fit_baseline(data: PreparedData, config: Mapping[str, Any], trainer: TrainerSpec) -> tuple[Any, dict, Any]:
    """A baseline fits itself (no TensorFlow at all) and forecasts the same windows."""
    forecaster = build_model(config["model"], (data.timestep, len(data.features)), data.task.outputs)
    started = time.perf_counter()
    extra = forecaster.fit(data, trainer.seed)
    fitted = {"fit_seconds": time.perf_counter() - started, **extra}
    log.info("baseline %s fitted in %.2fs", config["model"]["name"], fitted["fit_seconds"])
    return forecaster, fitted, lambda split: forecaster.predict(data, split)


def log_model_and_log(model: Any, data: "PreparedData | CheckinData", config: Mapping[str, Any]) -> None:
    """A network (with signature and one test window as its example) and the job's log file.
    Baselines log no model: their params say it all."""
    if model is not None and config["tracking"].get("log_model", True):
        example = data.inputs[input_rows(data.target_rows("test")[:1], data.timestep)]  # [1, timestep, F]
        tracking.log_keras_model(model, example)
    log_file = job_log_file()
    if log_file is not None:
        tracking.log_file(log_file)


def log_artifacts(data: PreparedData, config: Mapping[str, Any], test_pred: Any, persistence: Any,
                  step_rmse: tuple[list[float], list[float]]) -> None:
    """Scalers, the step-1 test predictions, and the forecast-vs-truth pages."""
    from sweepcast.report.forecast import figure_html, forecast_figure, step_error_figure

    tracking.log_json(
        {
            "target": data.target,
            "features": data.features,
            "timestep": data.timestep,
            "horizon": data.horizon,
            "strategy": data.task.strategy,
            "step": str(row_step(data.frame.index, data.source)),  # forecast timestamps follow it
            "input_scaler": scaler_state(data.input_scaler),
            "target_scaler": scaler_state(data.target_scaler),
        },
        "preprocessing/scalers.json",
    )
    stamps = data.frame.index[data.target_rows("test")]
    truth = data.target_matrix("test")
    # step 1 of the test forecasts as a small table: the sweep report draws the best trial's from it
    tracking.log_table_csv(pd.DataFrame({"timestamp": stamps, "truth": truth[:, 0], "forecast": test_pred[:, 0],
                                         "persistence": persistence[:, 0]}), "predictions/test_step1.csv")
    lead = "" if data.horizon == 1 else f", step 1 of {data.horizon}"
    figure = forecast_figure(
        stamps, truth[:, 0], test_pred[:, 0], persistence[:, 0],
        f"{data.target}: forecast vs truth (test split{lead}, {data.source})", data.target,
    )
    plotlyjs = str(config["tracking"].get("plotlyjs", "cdn"))
    tracking.log_html(figure_html(figure, plotlyjs), "plots/forecast_test.html")
    if data.horizon > 1:
        steps = step_error_figure(*step_rmse, data.target)  # model and persistence RMSE per step
        tracking.log_html(figure_html(steps, plotlyjs), "plots/rmse_by_step.html")


def print_summary(metrics: Mapping[str, float], run_id: str, experiment: str, uri: str) -> None:
    if "test_km_median" in metrics:
        from sweepcast.checkin_evaluation import summary

        log.info("%s", summary(metrics))
    else:
        log.info(
            "test RMSE %.4g  MAE %.4g  R² %.3f  sMAPE %.1f%%  skill over persistence %.3f (persistence RMSE %.4g)",
            metrics["test_rmse"], metrics["test_mae"], metrics["test_r2"], metrics["test_smape"],
            metrics["skill"], metrics["baseline_test_rmse"],
        )
    log.info("MLflow run %s in experiment '%s'; browse it with: %s", run_id, experiment, tracking.ui_hint(uri))


def run_name(config: Mapping[str, Any]) -> str:
    """The overrides that define this job (e.g. ``model.layers=2``), else the model family."""
    overrides = hydra_value("job.override_dirname")
    return f"{config['model']['name']} {overrides}".strip() if overrides else str(config["model"]["name"])


def job_tags() -> dict[str, str]:
    from sweepcast.sweeper.study import redact_override

    command = " ".join([Path(sys.argv[0]).name, *map(redact_override, sys.argv[1:])])  # no storage passwords
    tags = {"hydra_job_dir": hydra_value("runtime.output_dir") or "", "command": command,
            "job_overrides": " ".join(map(redact_override, job_overrides()))}
    return {k: v for k, v in tags.items() if v}


def job_overrides() -> list[str]:
    """This job's own overrides (a sweep trial's point, not the sweep's command line): with
    ``python train.py`` in front they reproduce the run."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def job_log_file() -> Path | None:
    output_dir, name = hydra_value("runtime.output_dir"), hydra_value("job.name")
    if not output_dir or not name:
        return None
    return Path(output_dir) / f"{name}.log"


def hydra_value(path: str) -> str | None:
    """A value of the running Hydra job's config, or None outside Hydra."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    value = OmegaConf.select(HydraConfig.get(), path)
    return None if value is None else str(value)


def in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def main(cfg: DictConfig) -> float:
    """Entry used by ``train.py``: user errors become one line and exit status 2.

    In a multirun the error is logged and re-raised so the sweeper can record the failed job.
    ``HYDRA_FULL_ERROR=1`` keeps the traceback.
    """
    try:
        return run(cfg)
    except SweepcastError as err:
        log.error("%s", err)
        if in_multirun() or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        sys.exit(2)
