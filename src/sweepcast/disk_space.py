"""A full disk, recognised wherever it surfaces, and a small reserve freed to close up cleanly.

A disk that fills mid-sweep shows up as ``OSError(ENOSPC)`` from our files, Hydra's or
TensorFlow's, and as "database or disk is full" from SQLite under Optuna and MLflow, wrapped two
or three exceptions deep. Closing up properly (the trial back in the queue, the MLflow runs
FAILED) itself needs a little space: SQLite cannot commit without room for its journal. So a
sweep (or a single run) holds a small reserve file beside its stores and deletes it the moment
the disk is found full, which leaves room for those last writes; then the user gets one line.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

from sweepcast.errors import SweepcastError, first_line

log = logging.getLogger(__name__)

RESERVE_BYTES = 2 * 1024 * 1024  # room for a few SQLite commits with their journals
RESERVE_PREFIX = ".sweepcast-reserve-"
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
FULL_MESSAGES = ("database or disk is full", "no space left on device", "disk quota exceeded",
                 "could not extend file")  # SQLite; PostgreSQL says the last two

_held: list[Path] = []


class DiskFull(SweepcastError):
    """The disk filled up; what was running has been closed or queued again (the message says which)."""


def is_disk_full(err: BaseException | None) -> bool:
    """Whether ``err``, or any exception it was raised from or while handling, says the disk is full."""
    return disk_full_cause(err) is not None


def disk_full_cause(err: BaseException | None) -> BaseException | None:
    """The first exception in ``err``'s cause/context chain that says the disk is full."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, DiskFull):
            return err
        if isinstance(err, OSError) and err.errno in FULL_ERRNOS:
            return err
        if says_disk_full(str(err)):
            return err
        err = err.__cause__ or err.__context__
    return None


def says_disk_full(text: str) -> bool:
    """Whether a message (SQLite's, PostgreSQL's, the OS's) says the disk is full."""
    lowered = text.lower()
    return any(phrase in lowered for phrase in FULL_MESSAGES)


class QuietWhenFull(logging.Filter):
    """Drops a library's multi-line error log about a full disk: our one line replaces it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not says_disk_full(record.getMessage())


def describe(err: BaseException) -> str:
    """One line for the user: the disk-full error itself, not the wrappers around it."""
    cause = disk_full_cause(err) or err
    return first_line(cause) if isinstance(cause, DiskFull) else f"the disk is full ({first_line(cause)})"


@contextmanager
def reserve(folders: Iterable[Path]) -> Iterator[None]:
    """Hold a reserve file in each of ``folders`` (one per file system) while the block runs."""
    made = [path for path in map(_hold_in, _one_per_device(folders)) if path is not None]
    _held.extend(made)
    try:
        yield
    finally:
        for path in made:
            path.unlink(missing_ok=True)
            if path in _held:
                _held.remove(path)


def release() -> None:
    """The disk is full: free the reserve so the closing writes fit."""
    while _held:
        _held.pop().unlink(missing_ok=True)


def quiet_log_files() -> None:
    """A log file on a full disk drops its lines (the console still gets them) instead of
    printing logging's traceback for every one; any other logging error is reported as usual.
    Call it once the job's log handlers exist (Hydra makes new ones for every job)."""
    loggers = [logging.getLogger(), *(lg for lg in logging.Logger.manager.loggerDict.values()
                                      if isinstance(lg, logging.Logger))]
    for handler in {h for lg in loggers for h in lg.handlers}:
        if isinstance(handler, logging.FileHandler) and not getattr(handler, "_quiet_when_full", False):
            handler.handleError = _dropping_when_full(handler.handleError)  # type: ignore[method-assign]
            handler._quiet_when_full = True  # type: ignore[attr-defined]


def _dropping_when_full(report: Callable[[logging.LogRecord], None]) -> Callable[[logging.LogRecord], None]:
    def handle_error(record: logging.LogRecord) -> None:
        if not is_disk_full(sys.exc_info()[1]):
            report(record)
    return handle_error


def _one_per_device(folders: Iterable[Path]) -> list[Path]:
    """Existing folders only: one not made yet is made later by what writes there, after its checks."""
    chosen: dict[int, Path] = {}
    for folder in folders:
        try:
            chosen.setdefault(folder.stat().st_dev, folder)
        except OSError:
            continue
    return list(chosen.values())


def _hold_in(folder: Path) -> Path | None:
    """Write the reserve (real bytes: a sparse file would free nothing) after removing ones that
    processes of this machine no longer alive left behind (kill -9)."""
    host = socket.gethostname()
    for stale in folder.glob(f"{RESERVE_PREFIX}{host}-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)
    path = folder / f"{RESERVE_PREFIX}{host}-{os.getpid()}"
    try:
        with open(path, "wb") as out:
            out.write(b"\0" * RESERVE_BYTES)
        return path
    except OSError as err:
        path.unlink(missing_ok=True)
        log.warning("no room for the %d KiB disk reserve in %s (%s): if the disk fills up, runs may stay RUNNING",
                    RESERVE_BYTES // 1024, folder, first_line(err))
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
