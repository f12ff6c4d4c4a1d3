"""Which run to export: the best finished run with a logged model, in a sweep or an experiment."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sweepcast.errors import SweepcastError
from sweepcast.metrics import higher_is_better
from sweepcast.tracking import reading
from sweepcast.tracking.views import RunView

if TYPE_CHECKING:
    from sweepcast.tracking.reading import Store

log = logging.getLogger(__name__)

DIRECTIONS = ("minimize", "maximize")
EXPORT_TAG = "sweepcast_export_of"  # on the run an export logs
REFIT_FAMILIES = ("gbdt",)  # baselines that log no model but export: refit from their config, saved with skops


def is_exportable(tags: dict[str, str]) -> bool:
    """A run that logged a network, or a baseline of :data:`REFIT_FAMILIES`, which export refits."""
    return "model_uri" in tags or tags.get("model_family") in REFIT_FAMILIES


@dataclass(frozen=True)
class Candidate:
    run_id: str
    run_name: str
    experiment_id: str
    metric: str
    direction: str
    value: float
    model_uri: str
    scope: str  # what was searched, for messages and the model card: "study 'x'" / "experiment 'y'"


@dataclass(frozen=True)
class Scope:
    """Where to look and how to rank: a sweep's study (its trial runs carry ``study_name``) or a
    whole experiment."""

    experiment_ids: list[str]
    filter: str
    label: str
    metric: str
    direction: str


def task_metric(runs: list[RunView]) -> str:
    """The default ``--metric``: the optimized metric of the runs' task (val_rmse for a series or
    check-ins, val_acc1 for next places), from one of them: an experiment holds one task."""
    from sweepcast.tasks import task_of_params  # here: pandas/sklearn load only when needed

    return task_of_params(runs[0].params).default_metric if runs else "val_rmse"


def default_direction(metric: str) -> str:
    return "maximize" if higher_is_better(metric) else "minimize"


def sweep_scope(store: Store, folder: Path, metric: str | None, direction: str | None) -> Scope:
    """A sweep folder (``sweeps/<study_name>``): its ``best.yaml`` gives the study's metric and direction."""
    if not folder.is_dir():
        raise SweepcastError(f"{folder}: no such sweep folder (expected sweeps/<study_name> from a `train.py -m` run)")
    summary: dict[str, Any] = {}
    best = folder / "best.yaml"
    if best.is_file():
        summary = yaml.safe_load(best.read_text(encoding="utf-8")) or {}
    study = str(summary.get("study_name") or folder.name)
    swept_metric = str(summary.get("metric") or "val_rmse")
    metric = metric or swept_metric
    if direction is None:  # the sweep's direction holds for the sweep's metric only
        direction = str(summary.get("direction") or "") if metric == swept_metric else ""
        direction = direction or default_direction(metric)
    experiments = reading.experiment_ids(store)
    return Scope(experiments, f"tags.study_name = {quote(study)}", f"study '{study}'", metric, direction)


def experiment_scope(store: Store, name: str, metric: str | None, direction: str | None) -> Scope:
    experiment_id = reading.experiment_id(store, name)
    if experiment_id is None:
        known = ", ".join(reading.experiment_names(store)) or "none"
        raise SweepcastError(f"--experiment {name!r}: no such MLflow experiment (experiments: {known})")
    metric = metric or task_metric(reading.finished_runs(store, [experiment_id], ""))
    return Scope([experiment_id], "", f"experiment '{name}'", metric, direction or default_direction(metric))


def run_scope(store: Store, run_id: str, metric: str | None, direction: str | None) -> Scope:
    """One run: nothing to rank, but its metric still decides whether it becomes the champion."""
    run = reading.find_run(store, run_id)
    if run is None:
        raise SweepcastError(f"--run {run_id}: no such MLflow run in this store")
    metric = metric or task_metric([run])
    return Scope([run.experiment_id], f"attributes.run_id = {quote(run_id)}", f"run {run_id}", metric,
                 direction or default_direction(metric))


def best_candidate(store: Store, scope: Scope) -> Candidate:
    """The best FINISHED run in ``scope`` that can be exported (:func:`is_exportable`) and logged
    the metric; a better run that cannot (a baseline other than GBDT) is named in a warning."""
    if scope.direction not in DIRECTIONS:
        raise SweepcastError(f"--direction: expected one of {DIRECTIONS}, got {scope.direction!r}")
    found = finished_runs(store, scope)
    ranked = [run for run in found
              if is_exportable(run.tags) and math.isfinite(run.metrics.get(scope.metric, math.nan))]
    if not ranked:
        finished = len(found)
        raise SweepcastError(
            f"{scope.label}: no finished run with a logged model and metric '{scope.metric}' "
            f"({finished} finished run(s) in all; baselines other than GBDT and tracking.log_model=false runs have "
            "no model)"
        )
    pick = min if scope.direction == "minimize" else max
    run = pick(ranked, key=lambda r: r.metrics[scope.metric])
    scored = [r for r in found if math.isfinite(r.metrics.get(scope.metric, math.nan))]
    overall = pick(scored, key=lambda r: r.metrics[scope.metric])
    if overall.run_id != run.run_id:  # e.g. a GBDT won the sweep: say so, never hide it
        log.warning("the best run of %s by %s is %s (%s = %.6g), which logged no model (a baseline other than "
                    "GBDT, or tracking.log_model=false); exporting the best run with a model instead",
                    scope.label, scope.metric, overall.name, scope.metric, overall.metrics[scope.metric])
    return Candidate(run.run_id, run.name or run.run_id, run.experiment_id, scope.metric,
                     scope.direction, float(run.metrics[scope.metric]), run.tags.get("model_uri", ""), scope.label)


def finished_runs(store: Store, scope: Scope) -> list[RunView]:
    """FINISHED runs in ``scope``, leaving out our own ``export`` runs (they hold a packaged copy)."""
    runs = reading.finished_runs(store, scope.experiment_ids, scope.filter)
    return [r for r in runs if EXPORT_TAG not in r.tags]


def quote(text: str) -> str:
    """A value as an MLflow filter-string literal: MLflow takes single or double quotes and no escapes."""
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    raise SweepcastError(f"{text!r}: a name with both quote characters cannot be searched in MLflow")
