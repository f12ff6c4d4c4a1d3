"""One process's part in a sweep: open the study, claim trials, run them, record the outcome.

Worker 0 (the command the user typed) also owns the study's set-up (MLflow parent run, queued
trials, the extra ``n_jobs`` processes) and its end (final files, parent run status).
"""

from __future__ import annotations

import copy
import gc
import json
import logging
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf, open_dict

from sweepcast import tracking
from sweepcast.errors import SweepcastError, TrialPruned
from sweepcast.sweeper import outputs
from sweepcast.sweeper.context import WORKER_ENV, TrialContext, activate
from sweepcast.sweeper.settings import build
from sweepcast.sweeper.space import distribution, suggest
from sweepcast.sweeper.study import (
    FAIL_REASON,
    StaleTrialHandler,
    claim_next,
    fail_stale,
    heartbeat,
    holds_slot,
    is_counted,
    load_study,
    open_storage,
    queue_lock,
    redact,
    top_up,
)

if TYPE_CHECKING:
    import optuna

    from sweepcast.sweeper.optuna_sweeper import OptunaSweeper, Plan

log = logging.getLogger("sweepcast.sweep")

PARENT_ATTR = "mlflow_parent_run_id"
MIN_TRIALS_FOR_FAILURE_RATE = 4
PLAIN_VALUE = re.compile(r"^[\w./:-]+$")


class SweepSession:
    def __init__(self, sweeper: "OptunaSweeper", plan: "Plan") -> None:
        from sweepcast.sweeper.optuna_sweeper import custom_search_space

        self.sweeper, self.plan = sweeper, plan
        self.worker = sweeper.worker
        self.custom = custom_search_space(plan.settings.custom_search_space)
        self.started = time.monotonic()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.parent_id = ""

    # -- lifecycle --

    def run(self) -> float | None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # our progress lines replace Optuna's
        plan = self.plan
        self.experiment_id = tracking.open_experiment(plan.tracking, plan.experiment)
        self.storage = open_storage(plan.storage_url, plan.settings.heartbeat_interval, plan.settings.grace_period,
                                    StaleTrialHandler(plan.settings.max_retry, self.close_abandoned_run))
        self.study = self.open_study()
        try:
            if self.worker == 0:
                self.prepare_queue()
                self.start_workers()
            self.work()
            if self.worker == 0:
                self.wait_for_workers()
                self.work_until_settled()
        except SweepcastError as err:
            self.abort("FAILED", str(err))
            raise
        except KeyboardInterrupt:
            self.abort("KILLED", "interrupted by the user")
            log.error("sweep interrupted; rerun the same command to continue study '%s'", plan.study_name)
            sys.exit(130)
        return self.finish()

    def open_study(self) -> "optuna.Study":
        """Create or continue the study (worker 0 also creates or reopens the MLflow parent run)."""
        import optuna

        plan = self.plan
        exists = plan.study_name in optuna.study.get_all_study_names(self.storage)
        previous = optuna.load_study(study_name=plan.study_name, storage=self.storage) if exists else None
        n_existing = len(previous.get_trials(deepcopy=False)) if previous else 0
        sampler = build(plan.settings.sampler, "sampler", optuna.samplers.BaseSampler,
                        **self.seed_override(n_existing))
        pruner = build(plan.settings.pruner, "pruner", optuna.pruners.BasePruner)
        if self.worker == 0:
            parent = previous.user_attrs.get(PARENT_ATTR) if previous else None
            self.parent_id = tracking.start_sweep_run(self.experiment_id, parent, f"sweep {plan.study_name}",
                                                      self.parent_tags())
        try:
            study = load_study(self.storage, plan.study_name, plan.direction, sampler, pruner)
        except BaseException as err:
            if self.worker == 0:
                tracking.end_sweep_run(self.parent_id, "FAILED", f"{type(err).__name__}: {err}")
            raise
        if self.worker == 0:
            if study.user_attrs.get(PARENT_ATTR) != self.parent_id:
                tracking.log_sweep_params(self.parent_id, self.parent_params())
                study.set_user_attr(PARENT_ATTR, self.parent_id)
            study.set_user_attr("search_space", {p.name: p.describe() for p in plan.space.params})
            study.set_user_attr("pruner", plan.settings.pruner)
            study.set_user_attr("metric", plan.metric)
        else:
            self.parent_id = str(study.user_attrs.get(PARENT_ATTR, ""))
        verb = "continuing" if exists else "created"
        log.info("study '%s' %s (%s, %s %s, %d trials, storage %s)", plan.study_name, verb,
                 "grid" if plan.grid is not None else type(sampler).__name__ if sampler else "TPESampler",
                 plan.direction, plan.metric, plan.n_trials, redact(plan.storage_url))
        return study

    def seed_override(self, n_existing: int) -> dict[str, Any]:
        """Shift a fixed sampler seed by the trials already run and by worker, so a resumed study
        or a second worker does not redraw the same first points."""
        seed = (self.plan.settings.sampler or {}).get("seed")
        if seed is None:
            return {}
        return {"seed": int(seed) + n_existing + 100_003 * self.worker}

    def prepare_queue(self) -> None:
        import optuna

        plan = self.plan
        plan.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(redacted_config(self.sweeper.config), plan.sweep_dir / "multirun.yaml")
        distributions = {p.name: distribution(p) for p in plan.space.params}
        with queue_lock(plan.storage_url):
            fail_stale(self.study)
            queued = top_up(self.study, plan.n_trials, plan.grid, distributions)
        trials = self.study.get_trials(deepcopy=False)
        done = sum(is_counted(t) for t in trials)
        log.info("%d/%d trials done, %d queued now; sweep folder %s", done, plan.n_trials, queued, plan.sweep_dir)
        if done >= plan.n_trials:
            log.info("study '%s' already holds %d finished trials: nothing to run", plan.study_name, done)

    def start_workers(self) -> None:
        """``n_jobs - 1`` more processes of this same command, each taking trials as it frees up."""
        for index in range(1, self.plan.settings.n_jobs):
            env = {**os.environ, WORKER_ENV: str(index)}
            self.processes.append(subprocess.Popen([sys.executable, *sys.argv], env=env))
        if self.processes:
            log.info("started %d more worker processes (pids %s)", len(self.processes),
                     ", ".join(str(p.pid) for p in self.processes))

    def wait_for_workers(self) -> None:
        for process in self.processes:
            code = process.wait()
            if code != 0:
                log.warning("worker process %d exited with status %d", process.pid, code)

    def work(self) -> None:
        """Claim and run trials until none is left to claim."""
        import optuna

        while True:
            with queue_lock(self.plan.storage_url):
                fail_stale(self.study)
                trial = claim_next(self.study, self.storage, self.plan.n_trials)
            if trial is None:
                return
            self.run_trial(trial)

    def work_until_settled(self) -> None:
        """After the workers exit: wait out a dead worker's heartbeat and run its retried trial."""
        from optuna.trial import TrialState

        settings = self.plan.settings
        deadline = time.monotonic() + settings.grace_period + 2 * settings.heartbeat_interval
        while time.monotonic() < deadline:
            if not self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                return
            time.sleep(settings.heartbeat_interval)
            self.work()

    # -- one trial --

    def run_trial(self, trial: "optuna.Trial") -> None:
        plan = self.plan
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        try:
            values = suggest(trial, plan.space)
            extra = self.custom(self.sweeper.config, trial) if self.custom else None
        except Exception as err:  # noqa: BLE001 - a broken custom space fails the trial, not the sweep
            self.record(trial, "FAIL", None, f"search space: {type(err).__name__}: {err}")
            return
        overrides = [*plan.space.overrides(values), *(f"{k}={v}" for k, v in (extra or {}).items()),
                     f"hydra.sweep.dir={quote(str(plan.sweep_dir))}", f"hydra.sweep.subdir=trial_{trial.number}"]
        context = TrialContext(
            number=trial.number, study_name=plan.study_name, experiment_id=self.experiment_id,
            parent_run_id=self.parent_id, report=self.reporter(trial) if plan.direction == "minimize" else None,
            attach_run=lambda run_id: trial.set_user_attr("mlflow_run_id", run_id),
        )
        try:
            with heartbeat(self.storage, trial._trial_id, plan.settings.heartbeat_interval), activate(context):
                result = self.sweeper.launcher.launch([overrides], initial_job_idx=trial.number)[0]
        except KeyboardInterrupt:
            self.requeue_interrupted(trial)
            raise
        finally:
            free_memory()
        self.record(trial, *outcome(result, trial.number))

    @staticmethod
    def reporter(trial: "optuna.Trial") -> Any:
        def report(epoch: int, value: float) -> bool:
            trial.report(value, epoch)
            return trial.should_prune()

        return report

    def record(self, trial: "optuna.Trial", state: str, value: float | None, reason: str | None) -> None:
        """Tell Optuna the outcome, then refresh the log line, files and parent run."""
        from optuna.trial import TrialState

        if reason:
            trial.set_user_attr(FAIL_REASON, reason[:2000])
        if state == "COMPLETE":
            self.study.tell(trial, value)
        else:
            self.study.tell(trial, state=TrialState[state])
        self.after_trial(trial.number, state, value)

    def requeue_interrupted(self, trial: "optuna.Trial") -> None:
        """Ctrl-C: the trial ends FAIL (uncounted) and its parameters wait for the rerun."""
        import optuna

        frozen = self.storage.get_trial(trial._trial_id)
        trial.set_user_attr("interrupted", True)
        self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        self.study.add_trial(optuna.create_trial(state=optuna.trial.TrialState.WAITING, params=frozen.params,
                                                 distributions=frozen.distributions))

    def after_trial(self, number: int, state: str, value: float | None) -> None:
        from optuna.trial import TrialState

        plan = self.plan
        trials = self.study.get_trials(deepcopy=False)
        counted = [t for t in trials if is_counted(t)]
        failed = [t for t in counted if t.state == TrialState.FAIL]
        best = outputs.best_trial(self.study)
        log.info(outputs.progress_line(len(counted), plan.n_trials, number, state, value, best,
                                       time.monotonic() - self.started, self.eta(counted)))
        summary = outputs.write_best(plan.sweep_dir, self.study, plan.space, plan.metric)
        outputs.write_trials(plan.sweep_dir, self.study)
        if self.parent_id:
            tracking.update_sweep_run(self.parent_id, {
                "best_value": best.value if best else None,
                "trials_complete": sum(t.state == TrialState.COMPLETE for t in counted),
                "trials_pruned": sum(t.state == TrialState.PRUNED for t in counted),
                "trials_failed": len(failed),
            }, step=len(counted), tags=self.best_tags(summary))
        self.check_failure_rate(counted, failed)

    def eta(self, counted: list[Any]) -> float | None:
        durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in counted
                     if t.datetime_complete and t.datetime_start]
        remaining = self.plan.n_trials - len(counted)
        if not durations or remaining <= 0:
            return 0.0 if remaining <= 0 else None
        return sum(durations) / len(durations) * remaining / self.plan.settings.n_jobs

    def check_failure_rate(self, counted: list[Any], failed: list[Any]) -> None:
        rate = self.plan.settings.max_failure_rate
        if len(counted) < min(MIN_TRIALS_FOR_FAILURE_RATE, self.plan.n_trials) or len(failed) <= rate * len(counted):
            return
        raise SweepcastError(
            f"{len(failed)} of {len(counted)} trials failed, above hydra.sweeper.max_failure_rate={rate}; "
            f"last: {failed[-1].user_attrs.get(FAIL_REASON)}")

    # -- the end --

    def finish(self) -> float | None:
        from optuna.trial import TrialState

        plan = self.plan
        trials = self.study.get_trials(deepcopy=False)
        counted = [t for t in trials if is_counted(t)]
        open_trials = [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING) and holds_slot(t)]
        best = outputs.best_trial(self.study)
        if self.worker != 0:
            return best.value if best else None
        summary = outputs.write_best(plan.sweep_dir, self.study, plan.space, plan.metric)
        outputs.write_trials(plan.sweep_dir, self.study)
        by_state = {s: sum(t.state.name == s for t in counted) for s in ("COMPLETE", "PRUNED", "FAIL")}
        log.info("study '%s': %d/%d trials done (%s) in %s", plan.study_name, len(counted), plan.n_trials,
                 ", ".join(f"{n} {s.lower()}" for s, n in by_state.items()), outputs.clock(time.monotonic() - self.started))
        if summary:
            log.info("best %s %.6g (trial %d): %s", plan.metric, summary["best_value"], summary["best_trial"],
                     summary["command"])
        if open_trials:
            log.info("%d trials still running or queued elsewhere; the parent run stays open", len(open_trials))
            return best.value if best else None
        tracking.log_sweep_files(self.parent_id, [plan.sweep_dir / "best.yaml", plan.sweep_dir / "trials.csv"])
        tracking.end_sweep_run(self.parent_id, "FINISHED")
        log.info("MLflow parent run %s; browse it with: %s", self.parent_id, tracking.ui_hint(str(plan.tracking["uri"])))
        return best.value if best else None

    def abort(self, status: str, reason: str) -> None:
        """Stop this machine's workers (their trials end KILLED and are requeued) and close the parent."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.worker == 0 and self.parent_id:
            tracking.end_sweep_run(self.parent_id, status, reason)

    def close_abandoned_run(self, trial: Any) -> None:
        run_id = trial.user_attrs.get("mlflow_run_id")
        if run_id:
            tracking.close_abandoned_run(run_id, f"trial {trial.number}: its worker process died (no heartbeat "
                                                 f"for {self.plan.settings.grace_period} s)")

    # -- what the parent run shows --

    def parent_tags(self) -> dict[str, str]:
        return {"sweep": "true", "study_name": self.plan.study_name, "sweep_dir": str(self.plan.sweep_dir),
                **tracking.git_tags()}

    def parent_params(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "study_name": plan.study_name, "metric": plan.metric, "direction": plan.direction,
            "mode": "grid" if plan.grid is not None else "sample",
            "sampler": json.dumps(plan.settings.sampler), "pruner": json.dumps(plan.settings.pruner),
            "storage": redact(plan.storage_url), "fixed_overrides": " ".join(plan.space.fixed) or "-",
            **{f"space.{p.name}": p.describe() for p in plan.space.params},
        }

    def best_tags(self, summary: dict[str, Any] | None) -> dict[str, str]:
        tags = {"n_trials": str(self.plan.n_trials)}
        if summary:
            tags.update({"best_trial": str(summary["best_trial"]), "best_override": summary["override"],
                         **{f"best.{k}": str(v) for k, v in summary["params"].items()}})
        return tags


def outcome(result: JobReturn, number: int) -> tuple[str, float | None, str | None]:
    """(state, value, fail reason) of a finished job; reads ``_return_value`` because the public
    ``return_value`` re-raises a failed job's exception."""
    if result.status == JobStatus.COMPLETED:
        value = result._return_value
        try:
            number_value = float(value)
        except (TypeError, ValueError):
            return "FAIL", None, f"the job returned {value!r}, not a number"
        if not math.isfinite(number_value):
            return "FAIL", None, f"the job returned {number_value}"
        return "COMPLETE", number_value, None
    error = result._return_value
    if isinstance(error, TrialPruned):
        return "PRUNED", error.value, None
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    reason = f"{type(error).__name__}: {first}"
    if isinstance(error, SweepcastError):
        log.warning("trial %d failed: %s", number, first)  # the job already logged the one line
    else:
        log.error("trial %d failed: %s", number, reason, exc_info=error)
    return "FAIL", None, reason


def redacted_config(config: Any) -> Any:
    """The sweep's config for ``multirun.yaml`` with any literal storage password masked
    (an ``${oc.env:...}`` interpolation is kept as written: it holds no secret)."""
    safe = copy.deepcopy(config)
    with open_dict(safe):
        node = safe.hydra.sweeper._get_node("storage")
        raw = node._value() if node is not None else None
        if isinstance(raw, str) and "${" not in raw:
            safe.hydra.sweeper.storage = redact(raw)
        safe.hydra.overrides.hydra = [
            redact_override(str(o)) for o in safe.hydra.overrides.hydra]
    return safe


def redact_override(override: str) -> str:
    key, _, value = override.partition("=")
    return f"{key}={redact(value)}" if key.lstrip("+~") == "hydra.sweeper.storage" and "${" not in value else override


def quote(value: str) -> str:
    """A value safe inside a Hydra override."""
    if PLAIN_VALUE.match(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def free_memory() -> None:
    """Drop the finished trial's graphs so a long sweep does not grow (without importing Keras)."""
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session()
    gc.collect()
