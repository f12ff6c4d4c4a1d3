"""Where an export may be written, and what ``--force`` may replace.

An export replaces its ``--to`` folder only when that folder is itself an export: it carries the
:data:`MARKER` file every export writes (or, for exports written before the marker existed, the
``MLmodel`` + ``MODEL_CARD.md`` + ``model_code.py`` an export always holds) and nothing that
looks like a store. A ``--to`` that is or holds the current directory, the MLflow store or a sweep
folder, or lies inside the store or a sweep folder, is refused before anything is written, with
or without ``--force``: replacing it would delete runs, studies or the user's own files.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from sweepcast.errors import SweepcastError

MARKER = ".sweepcast-export"  # written into every export folder; --force replaces only such folders
LEGACY = ("MLmodel", "MODEL_CARD.md", "model_code.py")  # what every export held before the marker
STORES = ("optuna.db", "mlflow.db")  # files no export holds: a folder with one is a study or a store


def check_target(to: Path, force: bool, store: Path | None, sweeps: Iterable[Path] = ()) -> None:
    """Refuse a ``--to`` whose replacement could lose anything but an earlier export.

    ``store`` is the local MLflow store's folder (None for a server), ``sweeps`` the sweep folders
    the command reads."""
    target = to.resolve()
    here = Path.cwd().resolve()
    if target == here or target in here.parents:
        raise SweepcastError(f"--to {to}: is the current directory or holds it; give the export a folder of its own, "
                             "e.g. --to exports/best")
    protected = [("the MLflow store", store)] if store is not None else []
    protected += [("the sweep folder", Path(s)) for s in sweeps]
    for what, folder in protected:
        folder = folder.resolve()
        if target == folder or target in folder.parents or folder in target.parents:
            raise SweepcastError(f"--to {to}: is, holds or lies inside {what} ({folder}); give the export a folder "
                                 "of its own, e.g. --to exports/best")
    for parent in target.parents:
        if any((parent / name).is_file() for name in STORES):
            raise SweepcastError(f"--to {to}: lies inside {parent}, which holds a study or an MLflow store; give the "
                                 "export a folder of its own, e.g. --to exports/best")
    occupied = (target.is_dir() and any(target.iterdir())) or (target.exists() and not target.is_dir())
    if not occupied:
        return
    if not force:
        raise SweepcastError(f"--to {to}: already exists; pass --force to replace it")
    if not is_export(target):
        raise SweepcastError(f"--to {to}: exists and is not an export folder (no {MARKER} file); --force replaces only "
                             "exports, so choose another --to or move it away yourself")


def is_export(folder: Path) -> bool:
    """An export folder (marked, or laid out as exports always were) holding no store or study."""
    if not folder.is_dir() or folder.is_symlink():
        return False
    marked = (folder / MARKER).is_file() or all((folder / name).is_file() for name in LEGACY)
    return marked and not any(path.name in STORES for path in folder.rglob("*"))


def write_marker(folder: Path, run_id: str) -> None:
    """Mark ``folder`` as an export (what a later ``--force`` may replace)."""
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    (folder / MARKER).write_text(json.dumps({"run_id": run_id, "exported": stamp}) + "\n", encoding="utf-8")
