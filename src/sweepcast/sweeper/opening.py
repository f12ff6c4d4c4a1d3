"""Opening the study for one launch: create or continue it, seed its sampler, record what it
searches, and (worker 0) queue the trials still owed.

All of it runs under the queue lock: machines launched together on one server study then share
one study and one parent run (the first creates both, the others find them).
"""

from __future__ import annotations

import logging
from typing import Any

import optuna

from sweepcast.redaction import redact
from sweepcast.sweeper.events import SWEEP_LOG
from sweepcast.sweeper.parent_run import ParentRun
from sweepcast.sweeper.plan import Plan
from sweepcast.sweeper.settings import build
from sweepcast.sweeper.space import distribution
from sweepcast.sweeper.stopping import STOPPED
from sweepcast.sweeper.study import check_direction, fail_stale, is_counted, load_study, queue_lock, top_up

log = logging.getLogger(SWEEP_LOG)

LAUNCHES_ATTR = "worker_launches"  # worker processes that opened the study so far (shifts their seeds)


def open_study(plan: Plan, storage: Any, worker: int, parent: ParentRun) -> optuna.Study:
    """Create or continue the study; worker 0 also creates or reopens the MLflow parent run."""
    with queue_lock(plan.storage_url):
        return open_study_locked(plan, storage, worker, parent)


def open_study_locked(plan: Plan, storage: Any, worker: int, parent: ParentRun) -> optuna.Study:
    exists = plan.study_name in optuna.study.get_all_study_names(storage)
    previous = optuna.load_study(study_name=plan.study_name, storage=storage) if exists else None
    n_existing = len(previous.get_trials(deepcopy=False)) if previous else 0
    launch = int(previous.user_attrs.get(LAUNCHES_ATTR, 0)) if previous else 0
    sampler = build(plan.settings.sampler, "sampler", optuna.samplers.BaseSampler,
                    **seed_override(plan, n_existing, launch))
    # Optuna turns "no pruner" into MedianPruner; null here means no pruning at all
    pruner = build(plan.settings.pruner, "pruner", optuna.pruners.BasePruner) or optuna.pruners.NopPruner()
    if previous is not None:  # before the parent run is touched: a bad rerun changes nothing
        check_direction(previous, plan.direction)
    if worker == 0:
        parent.start(previous)
    try:
        study = load_study(storage, plan.study_name, plan.direction, sampler, pruner)
    except BaseException as err:
        if worker == 0:
            parent.end("FAILED", f"{type(err).__name__}: {err}")
        raise
    study.set_user_attr(LAUNCHES_ATTR, launch + 1)
    parent.attach(study)
    if worker == 0:
        describe(study, plan)
    verb = "continuing" if exists else "created"
    log.info("study '%s' %s (%s, %s %s, %d trials, storage %s)", plan.study_name, verb,
             "grid" if plan.grid is not None else type(sampler).__name__ if sampler else "TPESampler",
             plan.direction, plan.metric, plan.n_trials, redact(plan.storage_url))
    return study


def seed_override(plan: Plan, n_existing: int, launch: int) -> dict[str, Any]:
    """Shift a fixed sampler seed by the trials already run and by the worker processes that
    opened the study before (on any machine), so a resumed study, a second worker or a second
    machine running the same command does not redraw the same first points. A study run by
    one process from start to end draws exactly what its seed says."""
    seed = (plan.settings.sampler or {}).get("seed")
    if seed is None:
        return {}
    return {"seed": int(seed) + n_existing + 100_003 * launch}


def describe(study: optuna.Study, plan: Plan) -> None:
    """What the study searches, as user attributes (the job rebuilds the pruner from them; the
    report reads the space and the metric); warn when the fixed overrides changed."""
    before = study.user_attrs.get("fixed_overrides")
    if before is not None and before != plan.space.fixed:
        log.warning("study '%s' ran so far with the overrides %s, this launch with %s: its trials are "
                    "compared across both", plan.study_name, before, plan.space.fixed)
    study.set_user_attr("fixed_overrides", plan.space.fixed)
    study.set_user_attr("search_space", {p.name: p.describe() for p in plan.space.params})
    study.set_user_attr("pruner", plan.settings.pruner)
    study.set_user_attr("metric", plan.metric)


def queue_trials(plan: Plan, study: optuna.Study) -> None:
    """Worker 0: queue WAITING trials up to ``n_trials`` (dead workers' trials first marked stale)."""
    distributions = {p.name: distribution(p) for p in plan.space.params}
    if study.user_attrs.get(STOPPED):
        study.set_user_attr(STOPPED, "")  # a new launch, a new budget: an earlier stop does not hold
    with queue_lock(plan.storage_url):
        fail_stale(study)
        queued = top_up(study, plan.n_trials, plan.grid, distributions, plan.first, plan.warm)
    trials = study.get_trials(deepcopy=False)
    done = sum(is_counted(t) for t in trials)
    log.info("%d/%d trials done, %d queued now; sweep folder %s", done, plan.n_trials, queued, plan.sweep_dir)
    if done >= plan.n_trials:
        log.info("study '%s' already holds %d finished trials: nothing to run", plan.study_name, done)
