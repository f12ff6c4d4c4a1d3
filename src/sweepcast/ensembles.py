"""Top-k ensembles of a sweep: the K best finished trials' forecasts averaged, scored like a run.

``python -m sweepcast ensemble sweeps/<name> --top K [--weights equal|inverse_val|greedy]`` ranks the
sweep's finished trial runs by the study's metric, rebuilds each member's
data from its own logged config (members may differ in lookback or inputs: each windows the
series itself) and loads its network, forecasts the validation and test windows, and averages
them: equally, weighted by the inverse of each member's validation RMSE, or by greedy ensemble
selection (Caruana et al., 2004: the K best and each family's best are candidates, drawn with
replacement one at a time to lower the validation RMSE of their mean; those never drawn leave).
Every member is
scored on the same target rows (validation and test windows read their history from the split
before, whatever the timestep), which is checked, as is that all were trained on the same data.
The ensemble is logged as its own run, ``ensemble top K of <study>``, tagged
``ensemble_members`` (the member run ids, best first) and ``ensemble_weights``, with the task's
usual metrics, curves and files, so the sweep's report and ``export --experiment`` see it beside
the trials. A series task only. A baseline member (GBDT, ETS, ...) logs no model and is refit
from its config, deterministically; an ensemble of networks exports as one pyfunc
(:mod:`sweepcast.export.ensemble_package`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sweepcast import tracking
from sweepcast.errors import SweepcastError
from sweepcast.fitting import predict_split
from sweepcast.models import fitted_baseline, is_network
from sweepcast.tasks import load_task

log = logging.getLogger(__name__)

WEIGHTS = ("equal", "inverse_val", "greedy")
GREEDY_ROUNDS = 25  # draws of Caruana's selection (AutoGluon's default too): weights are multiples of 1/k, k <= 25
MEMBERS_TAG, WEIGHTS_TAG = "ensemble_members", "ensemble_weights"


@dataclass
class Member:
    run_id: str
    name: str
    value: float  # the study's metric
    val_rmse: float
    config: dict[str, Any]
    model_uri: str | None  # a network's logged model; None for a baseline, refit from its config
    fingerprint: str
    label: str = ""  # "<family> #<trial>", for the log

    @property
    def short(self) -> str:
        return self.label or self.name


def members(store: Any, folder: Path, top: int, family_bests: bool = False,
            exportable: bool = False) -> tuple[list[Member], str, str, str]:
    """The ``top`` best finished trial runs with a model: (members, study label, metric, experiment id).
    With ``family_bests`` (greedy selection), each family's best run joins them, after the top
    ``top``: a study's top runs are often one family's variants, whose errors a mean cannot cancel.
    With ``exportable``, only runs ``export`` can package (networks with a logged model, GBDTs)."""
    from sweepcast.export.select import finished_runs, is_exportable, sweep_scope  # MLflow-backed; when used

    if top < 1:
        raise SweepcastError(f"--top: expected an integer >= 1, got {top}")
    scope = sweep_scope(store, folder, None, None)
    ranked = [run for run in finished_runs(store, scope) if MEMBERS_TAG not in run.tags
              and math.isfinite(run.metrics.get(scope.metric, math.nan)) and (not exportable or is_exportable(run.tags))]
    if len(ranked) < top:
        raise SweepcastError(f"{scope.label}: {len(ranked)} finished trial run(s) with '{scope.metric}'"
                             f"{' that export' if exportable else ''}, fewer than --top {top}")
    ranked.sort(key=lambda run: run.metrics[scope.metric], reverse=scope.direction == "maximize")
    picked = ranked[:top]
    if family_bests:  # each other family's best, when it saw the same data as the top runs
        seen = {run.tags.get("model_family") for run in picked}
        same = picked[0].tags.get("data_fingerprint", "")
        for run in ranked[top:]:
            family = run.tags.get("model_family")
            if family in seen:
                continue
            seen.add(family)
            if run.tags.get("data_fingerprint", "") == same:
                picked.append(run)
            else:
                log.warning("%s: the best %s run (%s) was trained on other data; it is no candidate", scope.label,
                            family, run.run_id)
    chosen = []
    for run in picked:
        config = yaml.safe_load(tracking.run_text(run.run_id, "config.yaml"))
        chosen.append(Member(run.run_id, run.name or run.run_id, float(run.metrics[scope.metric]),
                             float(run.metrics.get("val_rmse", math.nan)), config, run.tags.get("model_uri"),
                             run.tags.get("data_fingerprint", ""),
                             f"{run.tags.get('model_family', '?')} #{run.tags['trial_number']}"
                             if "trial_number" in run.tags else ""))
    if len({m.fingerprint for m in chosen}) > 1:
        raise SweepcastError(f"{scope.label}: the {len(chosen)} candidate runs were trained on different data (data fingerprints "
                             f"{sorted({m.fingerprint for m in chosen})}); their forecasts do not average")
    return chosen, scope.label, scope.metric, ranked[0].experiment_id


def weights_of(chosen: list[Member], how: str) -> np.ndarray:
    """Fixed weights (``equal``, ``inverse_val``); ``greedy`` needs the forecasts: :func:`greedy_weights`."""
    if how not in WEIGHTS:
        raise SweepcastError(f"--weights: expected one of {WEIGHTS}, got {how!r}")
    if how == "greedy":
        raise ValueError("greedy weights come from the members' forecasts: greedy_weights")
    raw = np.ones(len(chosen)) if how == "equal" else np.array([1.0 / m.val_rmse for m in chosen])
    if not np.isfinite(raw).all() or raw.sum() <= 0:
        raise SweepcastError("--weights inverse_val: every member needs a finite, positive val_rmse")
    return raw / raw.sum()


def greedy_weights(val_forecasts: list[np.ndarray], target: np.ndarray, rounds: int = GREEDY_ROUNDS) -> np.ndarray:
    """Caruana's ensemble selection on the validation windows: each round adds (with replacement)
    the candidate whose addition gives the lowest RMSE of the running mean; the best prefix wins,
    so the result is never worse on validation than the best single candidate. Why not a fitted
    stack (linear regression on the forecasts): with a few hundred validation windows and
    correlated members it overfits, where selection with replacement gives sparse, non-negative
    weights that sum to one (Caruana et al., ICML 2004; AutoGluon's weighted ensemble)."""
    stacked = np.stack([np.asarray(f, dtype=float) for f in val_forecasts])
    counts, total = np.zeros(len(stacked)), np.zeros_like(stacked[0])
    best_counts, best_score = counts, math.inf
    for drawn in range(1, rounds + 1):
        scores = [float(np.sqrt(np.nanmean(((total + f) / drawn - target) ** 2))) for f in stacked]
        pick = int(np.argmin(scores))  # ties go to the better-ranked candidate
        counts = counts.copy()
        counts[pick] += 1
        total = total + stacked[pick]
        if scores[pick] < best_score - 1e-12:
            best_counts, best_score = counts, scores[pick]
    return best_counts / best_counts.sum()


def member_forecasts(member: Member) -> tuple[Any, dict[str, np.ndarray]]:
    """The member's own data (from its config) and its validation and test forecasts in original units."""
    config = member.config
    task = load_task(str(config["data"].get("task", "series")))
    if task.name != "series":
        raise SweepcastError(f"run {member.run_id}: ensembles average series forecasts, this run's task is "
                             f"{task.name}")
    trainer = config.get("trainer") or {}
    data = task.prepare(task.settings(config["data"]), trainer.get("max_points"))
    family = str(config["model"]["name"])
    if member.model_uri is None:
        if is_network(family):
            raise SweepcastError(f"run {member.run_id} ({family}) logged no model (tracking.log_model=false): it "
                                 "cannot be a member; rerun it with tracking.log_model=true")
        forecaster = fitted_baseline(config["model"], data, int(trainer.get("seed", 0)))
        return data, {split: forecaster.predict(data, split) for split in ("val", "test")}
    model = tracking.load_logged_model(member.model_uri)
    batch = int(trainer.get("batch_size", 256))
    return data, {split: predict_split(model, data, split, batch) for split in ("val", "test")}


def build(folder: Path, top: int, how: str, uri: str, exportable: bool = False) -> tuple[str, dict[str, float]]:
    """Score the ensemble and log its run; (run id, metrics)."""
    from sweepcast.job import log_evaluation  # the one place that logs an Evaluation through the tracking layer

    store = tracking.reader(uri)
    chosen, label, metric, experiment_id = members(store, folder, top, family_bests=how == "greedy",
                                                   exportable=exportable)
    weights = None if how == "greedy" else weights_of(chosen, how)  # greedy's come from the forecasts
    forecasts, first = [], None
    for member in chosen:
        data, predicted = member_forecasts(member)
        if first is not None and any(predicted[s].shape != forecasts[0][s].shape or not np.array_equal(
                data.target_matrix(s), first.target_matrix(s)) for s in ("val", "test")):
            raise SweepcastError(f"run {member.run_id} forecasts other target rows than run {chosen[0].run_id} "
                                 "(another data split, max_points or horizon): its forecasts do not average")
        first = first or data
        forecasts.append(predicted)
        if weights is not None:
            log.info("member %s (%s = %.6g, weight %.3f)", member.short, metric, member.value,
                     weights[len(forecasts) - 1])
    candidates = len(chosen)
    if weights is None:
        weights = greedy_weights([f["val"] for f in forecasts], first.target_matrix("val"))
        kept = [i for i, w in enumerate(weights) if w > 0]
        log.info("greedy selection kept %d of %d candidates: %s", len(kept), len(chosen),
                 ", ".join(f"{chosen[i].short} ({weights[i]:.2f})" for i in kept))
        chosen, forecasts, weights = [chosen[i] for i in kept], [forecasts[i] for i in kept], weights[kept]

    def predict(split: str) -> np.ndarray:
        return np.tensordot(weights, np.stack([f[split] for f in forecasts]), axes=1)

    task = load_task("series")
    evaluation = task.evaluate(first, predict, {"members": float(len(chosen)), "candidates": float(candidates)}, "cdn")
    tags = {MEMBERS_TAG: ",".join(m.run_id for m in chosen), WEIGHTS_TAG: how, "model_family": "ensemble",
            "data_fingerprint": chosen[0].fingerprint, "ensemble_of": label}
    name = f"ensemble top {top} of {label}" if how != "greedy" else \
        f"ensemble greedy {len(chosen)} of top {top} of {label}"
    with tracking.start_run(experiment_id, name, tags) as run_id:
        tracking.log_json({"members": [{"run_id": m.run_id, "name": m.name, metric: m.value, "weight": float(w)}
                                       for m, w in zip(chosen, weights)], "weights": how}, "ensemble.json")
        log_evaluation(evaluation)
    return run_id, evaluation.metrics
