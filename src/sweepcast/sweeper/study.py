"""The Optuna study behind a sweep: storage, the trial budget, claiming trials, stale workers.

Budget rule (what makes resume exact): a study is done when ``n_trials`` trials are *counted*:
COMPLETE, PRUNED, or FAIL with a ``fail_reason`` (the job raised or returned a non-finite
value). A trial whose worker died (stale heartbeat) or was interrupted is FAIL without a reason:
it is not counted and its parameters go back in the queue. Work is queued as WAITING trials
(grid points, retries, or empty slots the sampler fills when claimed), so parallel workers and
reruns never run more than ``n_trials``.
"""

from __future__ import annotations

import fcntl
import logging
import sqlite3
import threading
import time
import warnings
from contextlib import closing, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, Sequence

import optuna
import sqlalchemy
import sqlalchemy.exc
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.pool import NullPool

from sweepcast.errors import SweepcastError, first_line
from sweepcast.redaction import redact
from sweepcast.storage_url import with_driver
from sweepcast.sweeper.internals import trial_id, trial_of

log = logging.getLogger(__name__)

FAIL_REASON = "fail_reason"
SQLITE = "sqlite:///"
OPTUNA_TABLES = {"studies", "trials", "version_info"}  # in every Optuna RDB schema (checked on 5.0.0)


@contextmanager
def quiet_experimental() -> Iterator[None]:
    """Heartbeats, their retry callback and ``fail_stale_trials`` are "experimental" in Optuna
    since 2.8/2.9; we rely on them knowingly, so their warnings would only be noise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def fail_stale(study: optuna.Study) -> None:
    """Mark trials whose worker stopped beating FAIL (the storage's callback requeues them)."""
    with quiet_experimental():
        optuna.storages.fail_stale_trials(study)


def sqlite_path(url: str) -> Path | None:
    return Path(url[len(SQLITE):]) if url.startswith(SQLITE) and url != SQLITE + ":memory:" else None


def open_storage(url: str, heartbeat_interval: int, grace_period: int,
                 on_stale: Callable[[optuna.Study, FrozenTrial], None]) -> Any:
    """An RDB storage with heartbeats, or a one-line error naming the (redacted) URL."""
    engine_kwargs: dict[str, Any] = {}
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": 60}}  # several local workers share the file
    elif "://" not in url:
        raise SweepcastError(f"hydra.sweeper.storage: expected an RDB URL such as sqlite:///path/optuna.db or "
                             f"postgresql://user@host/db, got {redact(url)!r}")
    else:  # a server: a pooled connection may have been dropped by a restart or a firewall while a trial ran
        engine_kwargs = {"pool_pre_ping": True}
    try:
        # under the queue lock: workers starting together would race to create the schema
        with quiet_experimental(), queue_lock(url):
            if path is not None and path.exists():  # under the lock: a worker creating it has finished
                check_study_file(path)
            return optuna.storages.RDBStorage(
                with_driver(url), engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_interval,
                grace_period=grace_period, heartbeat_stale_trial_callback=on_stale,
            )
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SweepcastError(f"hydra.sweeper.storage: cannot open {redact(url)}: {first}") from None


def check_study_file(path: Path) -> None:
    """An existing SQLite study file must hold Optuna's schema: opening an empty or foreign file
    would silently start a new study over it (every trial rerun, best.yaml and trials.csv
    overwritten, a second parent run)."""
    problem = ""
    if path.is_dir():
        problem = "is a folder"
    elif path.stat().st_size == 0:
        problem = "is empty (0 bytes)"
    else:
        try:
            with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as err:
            problem = f"is not an SQLite database ({err})"
        else:
            if not OPTUNA_TABLES <= tables:
                problem = "holds no Optuna study tables"
    if problem:
        raise SweepcastError(f"hydra.sweeper.storage: {path} {problem}; move it away to start a new study, or point "
                             "hydra.sweeper.storage at the study's own file")


def load_study(storage: Any, name: str, direction: str, sampler: Any, pruner: Any) -> optuna.Study:
    """Create the study or continue it; refuse a rerun that flips the direction."""
    study = optuna.create_study(storage=storage, study_name=name, direction=direction, sampler=sampler,
                                pruner=pruner, load_if_exists=True)
    check_direction(study, direction)
    return study


def check_direction(study: optuna.Study, direction: str) -> None:
    """A rerun must optimise the same way as the study it continues."""
    if study.direction.name.lower() != direction:
        raise SweepcastError(f"hydra.sweeper.direction: study '{study.study_name}' exists with direction "
                             f"{study.direction.name.lower()}, got {direction}; pick another study_name")


def is_counted(trial: FrozenTrial) -> bool:
    """Finished for the budget: COMPLETE, PRUNED, or FAIL with a reason (see the module's rule)."""
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        trial.state == TrialState.FAIL and FAIL_REASON in trial.user_attrs)


def holds_slot(trial: FrozenTrial) -> bool:
    """Counted, or queued / running: part of the ``n_trials`` budget."""
    return is_counted(trial) or trial.state in (TrialState.RUNNING, TrialState.WAITING)


def queue_lock(storage_url: str) -> ContextManager[Any]:
    """Serialise opening the study, queueing and claiming among all workers of a study.

    SQLite: pysqlite reads outside the write transaction, so two processes could both see a
    WAITING trial and both claim it; a file lock next to the database closes that gap.
    PostgreSQL: an advisory lock held by one connection, so workers on different machines do not
    both create the MLflow parent run or queue the same free slots (claims are guarded by state
    transitions either way). A worker killed while holding it drops its connection, and with it
    the lock."""
    path = sqlite_path(storage_url)
    if path is not None:
        return file_lock(path.with_name(path.name + ".lock"))
    if with_driver(storage_url).startswith("postgresql"):
        return advisory_lock(with_driver(storage_url))
    return nullcontext()


LOCK_KEY = 0x5C0A57  # the advisory lock's id: one lock for every sweepcast study in a database
LOCK_WAIT_SECONDS = 300  # a worker that held it this long is stuck (a hung MLflow call, a dead link)


@contextmanager
def advisory_lock(url: str) -> Iterator[None]:
    """``pg_try_advisory_lock`` on its own autocommit connection (never idle in a transaction),
    polled up to :data:`LOCK_WAIT_SECONDS`; opened per use, so a worker holds no extra
    connection between claims."""
    engine = sqlalchemy.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            take = sqlalchemy.text("SELECT pg_try_advisory_lock(:key)")
            while not connection.execute(take, {"key": LOCK_KEY}).scalar():
                if time.monotonic() > deadline:
                    raise SweepcastError(f"hydra.sweeper.storage: another worker has held the sweep lock of {redact(url)} "
                                         f"for {LOCK_WAIT_SECONDS} s; check for a hung worker, then rerun")
                time.sleep(0.1)
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
    finally:
        engine.dispose()


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (released when the holder exits, even by ``kill -9``)."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


ENQUEUED = "sweepcast_enqueued"  # user attribute of a trial queued from hydra.sweeper.enqueue: its point
WARM = "sweepcast_warm_start"  # user attribute of a trial queued from hydra.sweeper.warm_start: its point


def top_up(study: optuna.Study, n_trials: int, grid: Sequence[dict[str, Any]] | None,
           distributions: dict[str, Any], first: Sequence[dict[str, Any]] = (),
           warm: Sequence[dict[str, Any]] = ()) -> int:
    """Queue WAITING trials until ``n_trials`` slots exist; return how many were queued.

    A grid queues its missing points in order (points already run or queued are skipped); a
    sampled study queues the ``first`` points, then the ``warm`` ones, that it has not queued
    before (each once per study, whatever its outcome), then empty trials whose parameters the
    sampler draws when claimed. A ``first`` point keeps its family's defaults (the
    custom space draws nothing for it); a ``warm`` point holds every parameter it ran with."""
    trials = study.get_trials(deepcopy=False)
    free = n_trials - sum(holds_slot(t) for t in trials)
    if free <= 0:
        return 0
    if grid is None:
        fresh = []
        for attribute, points in ((ENQUEUED, first), (WARM, warm)):
            queued_before = [t.user_attrs.get(attribute) for t in trials]
            fresh += [(attribute, point) for point in points if point not in queued_before]
        fresh = fresh[:free]
        for attribute, point in fresh:
            study.enqueue_trial(point, user_attrs={attribute: point}, skip_if_exists=False)
        for _ in range(free - len(fresh)):
            study.enqueue_trial({}, skip_if_exists=False)
        return free
    taken = [t.params for t in trials if holds_slot(t)]
    missing = [point for point in grid if point not in taken][:free]
    for point in missing:
        study.add_trial(optuna.create_trial(
            state=TrialState.WAITING, params=point,
            distributions={name: distributions[name] for name in point}))
    return len(missing)


def claim_next(study: optuna.Study, storage: Any, n_trials: int, unique_params: bool = False) -> Any:
    """Take the lowest-numbered WAITING trial within the budget as RUNNING (its first heartbeat
    recorded at once, so a worker killed right after is detected), or return None.

    A WAITING trial beyond the budget (two launches queued at once, or ``n_trials`` was lowered)
    is closed as FAIL with ``surplus``; with ``unique_params`` (grids) one whose parameters a
    lower-numbered trial already holds is closed as ``duplicate``. Closed trials are neither run
    nor counted. Every transition is guarded, so concurrent workers never both take a trial."""
    for _ in range(20):  # a lost race re-reads the study; 20 losses in a row means a stuck storage
        trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
        closed: set[int] = set()
        for trial in (t for t in trials if t.state == TrialState.WAITING):
            below = [t for t in trials if t.number < trial.number and t.number not in closed and holds_slot(t)]
            reason = "surplus" if len(below) >= n_trials else None
            if reason is None and unique_params and trial.params and any(t.params == trial.params for t in below):
                reason = "duplicate"
            storage_id = trial_id(trial)
            if not transition(storage, storage_id, TrialState.RUNNING):
                break  # another worker took or closed it: look again
            if reason is None:
                storage.record_heartbeat(storage_id)
                return trial_of(study, storage_id)
            storage.set_trial_user_attr(storage_id, reason, True)
            storage.set_trial_state_values(storage_id, TrialState.FAIL)
            closed.add(trial.number)
        else:
            return None
    raise SweepcastError("could not claim a trial after 20 attempts: is another process rewriting the study?")


def transition(storage: Any, storage_id: int, state: Any) -> bool:
    """Move a trial to ``state``; False when another process changed it first."""
    try:
        return bool(storage.set_trial_state_values(storage_id, state))
    except UpdateFinishedTrialError:
        return False


@contextmanager
def heartbeat(storage: Any, storage_id: int, interval: float) -> Iterator[None]:
    """Record the trial's heartbeat now and every ``interval`` seconds while the block runs
    (Optuna records heartbeats only inside ``study.optimize``, which ask/tell workers never call)."""
    storage.record_heartbeat(storage_id)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                storage.record_heartbeat(storage_id)
            except Exception as err:  # noqa: BLE001 - a missed beat must not kill the trial
                log.warning("heartbeat of trial %s failed: %s", storage_id, first_line(err))

    thread = threading.Thread(target=beat, name=f"heartbeat-{storage_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class StaleTrialHandler:
    """Heartbeat-stale trials (their worker died): requeue their parameters (``max_retry``
    times), then count them as failed; tell the caller so it can close the trial's MLflow run."""

    def __init__(self, max_retry: int, on_stale: Callable[[FrozenTrial], None]) -> None:
        self.max_retry = max_retry
        with quiet_experimental():
            self.retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
        self.on_stale = on_stale

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        with quiet_experimental():  # the public reader of Optuna's retry record is experimental too
            retries = len(RetryHeartbeatStaleTrialCallback.retry_history(trial)) + 1
        log.warning("trial %d: its worker stopped sending heartbeats (killed?); %s", trial.number,
                    "running it again" if retries <= self.max_retry else "giving up on these parameters")
        if retries <= self.max_retry:
            self.retry(study, trial)
        else:  # a counted failure holding the slot, so a grid does not queue the point forever
            study.add_trial(optuna.create_trial(
                state=TrialState.FAIL, params=trial.params, distributions=trial.distributions,
                user_attrs={**trial.user_attrs, FAIL_REASON: f"its worker died {retries} times"}))
        self.on_stale(trial)
