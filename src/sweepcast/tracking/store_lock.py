"""The first creation of a local SQLite MLflow store, under an inter-process file lock; and the
recovery of a store that an interrupted schema migration left with ``_alembic_tmp_*`` tables.

MLflow creates its tables on the first open of an empty SQLite file, then migrates them through
about 70 alembic revisions. That is not atomic: three revisions commit midway, and alembic's batch
mode (``CREATE TABLE _alembic_tmp_<t>``, copy the rows, drop ``<t>``, rename) commits the CREATE
on its own. Two processes doing it at once (two sweeps started at the same instant in a fresh
folder) collide, and can leave the file half-migrated for good. So the first open, whoever makes
it (a single run, every sweep worker, the sweep's parent run, the CLI verbs that write), takes
``<db>.lock`` (``fcntl.flock``) while MLflow creates or verifies the schema, then lets go; a store
already at MLflow's head revision is recognised with one read-only query and never waits.

A leftover ``_alembic_tmp_<t>`` beside an intact ``<t>`` is the copy of a batch step whose
transaction was rolled back: with pysqlite the copy, the DROP of ``<t>`` and the rename share one
transaction, so ``<t>`` still holds every row as of the last commit. Such a store is repaired (temp
tables dropped, the migration finished), rehearsed first on a copy, with one warning.
Anything else (``<t>`` missing, rows only in the temp table, a migration that cannot finish) is
refused in one line naming the file; the file is left unchanged.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import closing, contextmanager
from functools import cache
from pathlib import Path

from sweepcast.errors import SweepcastError

log = logging.getLogger("sweepcast.tracking")

TMP_PREFIX = "_alembic_tmp_"
_ready: set[Path] = set()  # stores this process has seen at the head revision (it checks once)


class StoreError(SweepcastError):
    """A local MLflow store that cannot be opened as it is; one line naming the file."""


def lock_path(db: Path) -> Path:
    """``mlruns/mlflow.db`` -> ``mlruns/mlflow.db.lock`` (``.gitignore`` ignores ``*.db.lock``)."""
    return db.with_name(db.name + ".lock")


@contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock`` (created if missing); released on exit, or by the
    kernel when the process dies."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise StoreError(f"{lock}: cannot create the MLflow store's lock file ({err.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def prepare_store(db: Path, uri: str) -> None:
    """Make sure the SQLite store ``db`` (URI ``uri``) exists at MLflow's schema, creating,
    finishing or repairing it under the lock when it does not."""
    if db in _ready or _state(db) == "ready":
        _ready.add(db)
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(lock_path(db)):
        state = _state(db)  # again: the process that held the lock before may have done it all
        if state == "leftovers":
            _recover(db)
        elif state != "ready":
            _open_with_mlflow(db, uri)
    _ready.add(db)


@cache
def head_revision() -> str:
    """MLflow's latest schema revision. Private API (checked on MLflow 3.17.2): MLflow exposes no
    public way to ask which alembic revision its store should be at."""
    from mlflow.store.db.utils import _get_latest_schema_revision  # mlflow: seconds; only when a store is checked

    return _get_latest_schema_revision()


def _connect_ro(db: Path):
    import sqlite3

    return sqlite3.connect(db.as_uri() + "?mode=ro", uri=True, timeout=10)


def _state(db: Path) -> str:
    """``ready`` (at the head revision, no temp tables), ``leftovers`` (``_alembic_tmp_*``
    tables), or ``new`` (missing, empty, half-created, older, locked or unreadable: MLflow,
    under the lock, creates it or says what is wrong)."""
    import sqlite3

    if not db.is_file() or db.stat().st_size == 0:
        return "new"
    try:
        with closing(_connect_ro(db)) as con:
            names = _tables(con)
            if any(name.startswith(TMP_PREFIX) for name in names):
                return "leftovers"
            if "alembic_version" not in names:
                return "new"
            versions = con.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        return "new"
    return "ready" if versions == [(head_revision(),)] else "new"


def _tables(con) -> set[str]:
    return {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _columns(con, table: str) -> list[str]:
    return [row[1] for row in con.execute(f'PRAGMA table_info("{table}")')]


def _open_with_mlflow(db: Path, uri: str) -> None:
    """Let MLflow create (or verify) the schema: constructing its store does, and one cheap call."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    from sqlalchemy.exc import SQLAlchemyError

    try:
        MlflowClient(uri).search_experiments(max_results=1)
    except (MlflowException, SQLAlchemyError, OSError) as err:
        text = str(getattr(err, "message", None) or err).strip().splitlines()
        raise StoreError(f"{db}: MLflow cannot open this store: {text[0] if text else type(err).__name__}") from None


def find_leftovers(con) -> tuple[list[str], str | None]:
    """The ``_alembic_tmp_*`` tables, and why dropping them would lose data (None: it would not:
    each one's original table exists and holds every row the temp table holds)."""
    names = _tables(con)
    leftovers = sorted(name for name in names if name.startswith(TMP_PREFIX))
    for tmp in leftovers:
        original = tmp[len(TMP_PREFIX):]
        if original not in names:
            return leftovers, f"table '{original}' is missing, so its rows may be only in '{tmp}'"
        shared = [c for c in _columns(con, tmp) if c in set(_columns(con, original))]
        if not shared:
            return leftovers, f"'{tmp}' shares no column with '{original}'"
        cols = ", ".join(f'"{c}"' for c in shared)
        (extra,) = con.execute(f'SELECT COUNT(*) FROM (SELECT {cols} FROM "{tmp}" EXCEPT '
                               f'SELECT {cols} FROM "{original}")').fetchone()
        if extra:
            return leftovers, f"'{tmp}' holds {extra} row(s) that '{original}' lacks"
    return leftovers, None


def _recover(db: Path) -> None:
    """Drop the leftover temp tables and finish the migration, rehearsed first on a copy: the
    file changes only once that worked (in place, so processes that hold it open see the
    change); otherwise refuse, leaving ``db`` as it is."""
    import sqlite3

    with closing(_connect_ro(db)) as con:
        leftovers, problem = find_leftovers(con)
    if problem:
        _refuse(db, leftovers, problem)
    work = db.with_name(db.name + ".recovering")
    work.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(db, timeout=10)) as src, closing(sqlite3.connect(work)) as dst:
            src.backup(dst)  # a consistent copy (a hot journal is rolled back first)
        _repair(work, leftovers)
        failure = None
    except Exception as err:  # noqa: BLE001 - whatever failed, the original stays untouched
        text = str(err).strip().splitlines()
        failure = f"finishing the migration failed ({text[0] if text else type(err).__name__})"
    finally:
        for leftover in (work, work.with_name(work.name + "-journal")):
            leftover.unlink(missing_ok=True)
    if failure:
        _refuse(db, leftovers, failure)
    _repair(db, leftovers)
    log.warning("%s: removed %s left by an interrupted MLflow schema migration (the original tables hold every "
                "row) and finished the migration", db, ", ".join(leftovers))


def _repair(db: Path, leftovers: list[str]) -> None:
    import sqlite3

    with closing(sqlite3.connect(db, timeout=10)) as con:
        for tmp in leftovers:
            con.execute(f'DROP TABLE "{tmp}"')
        con.commit()
    _finish_migration(db)


def _finish_migration(db: Path) -> None:
    """Run MLflow's own migration to the head revision. Private API (checked on MLflow 3.17.2):
    ``_upgrade_db`` is what ``mlflow db upgrade`` calls; there is no public function for it."""
    import sqlalchemy  # with mlflow below: only when a broken store is repaired
    from mlflow.store.db.utils import _upgrade_db, _verify_schema
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(f"sqlite:///{db}", poolclass=NullPool)
    try:
        _upgrade_db(engine)  # what `mlflow db upgrade` runs; a no-op when already at the head revision
        _verify_schema(engine)
    finally:
        engine.dispose()


def _refuse(db: Path, leftovers: list[str], problem: str) -> None:
    import sqlite3

    try:
        with closing(_connect_ro(db)) as con:
            (runs,) = con.execute("SELECT COUNT(*) FROM runs").fetchone()
    except sqlite3.Error:
        runs = None
    if runs == 0:
        advice = f"it holds no runs: move it away (mv {db} {db}.broken) and rerun to start a new store"
    else:
        held = f"it holds {runs} run(s)" if runs is not None else "it may hold runs"
        advice = (f"{held}: restore it from a backup, or repair it with sqlite3 and run "
                  f"'mlflow db upgrade sqlite:///{db}'")
    raise StoreError(f"{db}: an interrupted MLflow schema migration left {', '.join(leftovers)} and {problem}; "
                     f"the file is unchanged; {advice}")
