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
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf, open_dict
from optuna.exceptions import UpdateFinishedTrialError

from sweepcast import tracking
from sweepcast.errors import SweepcastError, TrialPruned
from sweepcast.sweeper import outputs
from sweepcast.sweeper.context import WORKER_ENV, TrialContext, activate
from sweepcast.sweeper.settings import build
from sweepcast.sweeper.space import distribution, suggest
from sweepcast.sweeper.study import (
    FAIL_REASON,
    StaleTrialHandler,
    check_direction,
    claim_next,
    fail_stale,
    heartbeat,
    is_counted,
    load_study,
    open_storage,
    queue_lock,
    redact,
    redact_override,
    top_up,
)

if TYPE_CHECKING:
    import optuna

    from sweepcast.sweeper.optuna_sweeper import OptunaSweeper, Plan

log = logging.getLogger("sweepcast.sweep")

PARENT_ATTR = "mlflow_parent_run_id"
LAUNCHES_ATTR = "worker_launches"  # worker processes that opened the study so far (shifts their seeds)
MIN_TRIALS_FOR_FAILURE_RATE = 4
PLAIN_VALUE = re.compile(r"^[\w./:-]+$")


class SweepSession:
    def __init__(self, sweeper: "OptunaSweeper", plan: "Plan") -> None:
        from sweepcast.sweeper.optuna_sweeper import custom_search_space

        self.sweeper, self.plan = sweeper, plan
        self.worker = sweeper.worker
        self.custom = custom_search_space(plan.settings.custom_search_space)
        self.started = time.monotonic()
        self.launched = datetime.now()  # failures before this launch do not count toward max_failure_rate
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
        signal.signal(signal.SIGTERM, interrupt)  # schedulers stop jobs with SIGTERM: same as Ctrl-C
        try:
            if self.worker == 0:
                self.prepare_queue()
                self.start_workers()
            self.work()
            if self.worker == 0:
                self.wait_for_workers()
                self.work_until_settled()
        except KeyboardInterrupt:
            self.abort("KILLED", "interrupted by the user")
            log.error("sweep interrupted; rerun the same command to continue study '%s'", plan.study_name)
            sys.exit(130)
        except BaseException as err:  # noqa: BLE001 - never leave the parent RUNNING or workers orphaned
            self.abort("FAILED", f"{type(err).__name__}: {err}" if not isinstance(err, SweepcastError) else str(err))
            raise
        return self.finish()

    def open_study(self) -> "optuna.Study":
        """Create or continue the study (worker 0 also creates or reopens the MLflow parent run).

        Under the queue lock: machines launched together on one server study then share one
        study and one parent run (the first creates both, the others find them)."""
        with queue_lock(self.plan.storage_url):
            return self.open_study_locked()

    def open_study_locked(self) -> "optuna.Study":
        import optuna

        plan = self.plan
        exists = plan.study_name in optuna.study.get_all_study_names(self.storage)
        previous = optuna.load_study(study_name=plan.study_name, storage=self.storage) if exists else None
        n_existing = len(previous.get_trials(deepcopy=False)) if previous else 0
        launch = int(previous.user_attrs.get(LAUNCHES_ATTR, 0)) if previous else 0
        sampler = build(plan.settings.sampler, "sampler", optuna.samplers.BaseSampler,
                        **self.seed_override(n_existing, launch))
        # Optuna turns "no pruner" into MedianPruner; null here means no pruning at all
        pruner = build(plan.settings.pruner, "pruner", optuna.pruners.BasePruner) or optuna.pruners.NopPruner()
        if previous is not None:  # before the parent run is touched: a bad rerun changes nothing
            check_direction(previous, plan.direction)
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
        study.set_user_attr(LAUNCHES_ATTR, launch + 1)
        if self.worker == 0:
            if study.user_attrs.get(PARENT_ATTR) != self.parent_id:
                tracking.log_sweep_params(self.parent_id, self.parent_params())
                study.set_user_attr(PARENT_ATTR, self.parent_id)
            before = study.user_attrs.get("fixed_overrides")
            if before is not None and before != plan.space.fixed:
                log.warning("study '%s' ran so far with the overrides %s, this launch with %s: its trials are "
                            "compared across both", plan.study_name, before, plan.space.fixed)
            study.set_user_attr("fixed_overrides", plan.space.fixed)
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

    def seed_override(self, n_existing: int, launch: int) -> dict[str, Any]:
        """Shift a fixed sampler seed by the trials already run and by the worker processes that
        opened the study before (on any machine), so a resumed study, a second worker or a second
        machine running the same command does not redraw the same first points. A study run by
        one process from start to end draws exactly what its seed says."""
        seed = (self.plan.settings.sampler or {}).get("seed")
        if seed is None:
            return {}
        return {"seed": int(seed) + n_existing + 100_003 * launch}

    def prepare_queue(self) -> None:
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
        """Wait for this machine's workers; one that stopped the sweep (status 2) stops it here too."""
        codes = {process.pid: process.wait() for process in self.processes}
        failed = {pid: code for pid, code in codes.items() if code != 0}
        if failed:
            pid, code = next(iter(failed.items()))
            raise SweepcastError(f"worker process {pid} stopped with status {code} (its log above says why); "
                                 f"rerun the same command to continue study '{self.plan.study_name}'")

    def work(self) -> None:
        """Claim and run trials until none is left to claim."""
        while True:
            with queue_lock(self.plan.storage_url):
                fail_stale(self.study)
                trial = claim_next(self.study, self.storage, self.plan.n_trials, unique_params=self.plan.grid is not None)
            if trial is None:
                return
            self.run_trial(trial)

    def work_until_settled(self) -> None:
        """After the workers exit: wait out a dead worker's heartbeat and run its retried trial."""
        from optuna.trial import TrialState

        settings = self.plan.settings
        deadline = time.monotonic() + settings.grace_period + 2 * settings.heartbeat_interval
        while time.monotonic() < deadline:
            self.work()  # retries queued after this process's loop ended
            if not self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
                return
            time.sleep(settings.heartbeat_interval)

    # -- one trial --

    def run_trial(self, trial: "optuna.Trial") -> None:
        """Run one claimed trial; Ctrl-C at any point after the claim requeues its parameters."""
        plan = self.plan
        try:
            with heartbeat(self.storage, trial._trial_id, plan.settings.heartbeat_interval):
                trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
                try:
                    overrides = self.trial_overrides(trial)
                except Exception as err:  # noqa: BLE001 - a broken custom space fails the trial, not the sweep
                    self.record(trial, "FAIL", None, f"search space: {type(err).__name__}: {err}")
                    return
                trial.set_user_attr("overrides", overrides)
                context = TrialContext(
                    number=trial.number, study_name=plan.study_name, experiment_id=self.experiment_id,
                    parent_run_id=self.parent_id, report=self.reporter(trial) if plan.direction == "minimize" else None,
                    attach_run=lambda run_id: trial.set_user_attr("mlflow_run_id", run_id),
                )
                job = [*overrides, f"hydra.sweep.dir={quote(str(plan.sweep_dir))}",
                       f"hydra.sweep.subdir=trial_{trial.number}"]
                with activate(context):
                    result = self.sweeper.launcher.launch([job], initial_job_idx=trial.number)[0]
                free_memory()
        except KeyboardInterrupt:
            self.requeue_interrupted(trial)
            raise
        self.record(trial, *outcome(result, trial.number))

    def trial_overrides(self, trial: "optuna.Trial") -> list[str]:
        """The trial's overrides: the space's values, then any define-by-run extras."""
        overrides = self.plan.space.overrides(suggest(trial, self.plan.space))
        if self.custom is None:
            return overrides
        extra = self.custom(self.sweeper.config, trial)
        if extra is not None and not isinstance(extra, dict):
            raise TypeError(f"custom_search_space must return a dict of overrides or None, got {type(extra).__name__}")
        return [*overrides, *(f"{key}={value}" for key, value in (extra or {}).items())]

    @staticmethod
    def reporter(trial: "optuna.Trial") -> Any:
        def report(epoch: int, value: float) -> bool:
            try:
                trial.report(value, epoch)
                return trial.should_prune()
            except UpdateFinishedTrialError:  # marked stale elsewhere (missed heartbeats): stop
                log.warning("trial %d was declared dead after missed heartbeats; stopping it", trial.number)
                return True

        return report

    def record(self, trial: "optuna.Trial", state: str, value: float | None, reason: str | None) -> None:
        """Tell Optuna the outcome, then refresh the log line, files and parent run."""
        from optuna.trial import TrialState

        try:
            if reason:
                trial.set_user_attr(FAIL_REASON, reason[:2000])
            if state == "COMPLETE":
                self.study.tell(trial, value)
            else:
                self.study.tell(trial, state=TrialState[state])
        except (UpdateFinishedTrialError, ValueError, RuntimeError) as err:
            log.warning("trial %d was declared dead after missed heartbeats and requeued elsewhere; "
                        "its result is dropped (%s)", trial.number, err)
            return
        if state == "FAIL" and "mlflow_run_id" not in self.storage.get_trial(trial._trial_id).user_attrs:
            tracking.record_failed_run(self.experiment_id, f"trial {trial.number}", reason or "failed",
                                       {"mlflow.parentRunId": self.parent_id, "trial_number": str(trial.number),
                                        "study_name": self.plan.study_name})
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
        best = outputs.best_trial(self.study, trials)
        log.info(outputs.progress_line(len(counted), plan.n_trials, number, state, value, best,
                                       time.monotonic() - self.started, self.eta(counted)))
        summary = outputs.write_best(plan.sweep_dir, self.study, best, plan.space, plan.metric)
        outputs.write_trials(plan.sweep_dir, self.study)
        if self.parent_id:
            tracking.update_sweep_run(self.parent_id, {
                "best_value": best.value if best else None,
                "trials_complete": sum(t.state == TrialState.COMPLETE for t in counted),
                "trials_pruned": sum(t.state == TrialState.PRUNED for t in counted),
                "trials_failed": len(failed),
            }, step=len(counted), tags=self.best_tags(summary))
        recent = [t for t in counted if t.datetime_start and t.datetime_start >= self.launched]
        self.check_failure_rate(recent, [t for t in recent if t.state == TrialState.FAIL])

    def eta(self, counted: list[Any]) -> float | None:
        durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in counted
                     if t.datetime_complete and t.datetime_start]
        remaining = self.plan.n_trials - len(counted)
        if not durations or remaining <= 0:
            return 0.0 if remaining <= 0 else None
        return sum(durations) / len(durations) * remaining / self.plan.settings.n_jobs

    def check_failure_rate(self, counted: list[Any], failed: list[Any]) -> None:
        """Abort when too many of this launch's finished trials failed (earlier failures, maybe
        fixed since, do not count)."""
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
        open_trials = [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
        best = outputs.best_trial(self.study, trials)
        if self.worker != 0:
            return best.value if best else None
        summary = outputs.write_best(plan.sweep_dir, self.study, best, plan.space, plan.metric)
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
        if plan.settings.report:
            self.write_report()
        tracking.end_sweep_run(self.parent_id, "FINISHED")
        log.info("MLflow parent run %s; browse it with: %s", self.parent_id, tracking.ui_hint(str(plan.tracking["uri"])))
        return best.value if best else None

    def write_report(self) -> None:
        """The sweep's report page; a report that fails is a warning, never a failed sweep."""
        from sweepcast.report.sweep_report import write_report

        try:
            write_report(self.plan.sweep_dir, storage=self.plan.storage_url,
                         tracking_uri=tracking.resolve_tracking_uri(str(self.plan.tracking["uri"])))
        except Exception as err:  # noqa: BLE001 - the trials are done and recorded; the page is a bonus
            log.warning("sweep report not written (%s: %s); retry with: python -m sweepcast report %s",
                        type(err).__name__, err, self.plan.sweep_dir)

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


def quote(value: str) -> str:
    """A value safe inside a Hydra override."""
    if PLAIN_VALUE.match(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def free_memory() -> None:
    """Drop the finished trial's graphs so a long sweep does not grow (without importing Keras)."""
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session()  # runs gc.collect() itself
    else:
        gc.collect()


def interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
