"""Writing files so that a reader never sees half of one.

The sweep folder's ``best.yaml`` and ``trials.csv`` are rewritten after every trial while other
workers, the report or a user may read them, and report pages are replaced the same way: write
a temporary file next to the target, then rename it over the target (atomic on one file system).
A write that fails (a full disk) removes its temporary file and leaves the target as it was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) in one step, creating its folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; these files are for everyone who may read the folder
        os.replace(tmp, path)
    except BaseException:  # a full disk, Ctrl-C: the target is untouched and no half-written temp file stays
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process's umask (the only way to read it is to set it and put it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
