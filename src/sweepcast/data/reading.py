"""Opening a data file: every loader and ``predict --input`` names the same problems in one line.

A path that does not exist, is a folder, cannot be read (permissions), is too long for the OS,
or a file whose bytes are not what its name promises (a truncated or corrupt ``.gz``, undecodable
text, a malformed CSV) all become one :class:`~sweepcast.errors.DataError` naming the file.
"""

from __future__ import annotations

import errno
import os
import zlib
from pathlib import Path
from typing import Any, Callable, TypeVar

import pandas as pd

from sweepcast.errors import DataError, first_line

T = TypeVar("T")


def readable_file(path: str | os.PathLike[str], kind: str = "file") -> Path:
    """``path`` as a Path once it is a readable regular file; else one line saying what it is."""
    shown, file = os.fspath(path), Path(path)
    try:
        exists, is_file = file.exists(), file.is_file()
    except OSError as err:  # pathlib lets ENAMETOOLONG and EACCES through
        raise DataError(f"{shown}: cannot open ({reason(err)})") from None
    if not exists:
        hint = "; the README's 'Real data' section says where the example files come from" \
            if "shared/data" in Path(shown).as_posix() else ""
        raise DataError(f"{shown}: file not found{hint}")
    if not is_file:
        raise DataError(f"{shown}: expected a {kind}, got a {'folder' if file.is_dir() else 'special file'}")
    if not os.access(file, os.R_OK):
        raise DataError(f"{shown}: cannot open (permission denied)")
    return file


def read_text_table(path: Path, describe: str, reader: Callable[[], T]) -> T:
    """Run ``reader`` (a pandas read of ``path``), turning what a bad file raises into one line;
    ``describe`` says what the file should be (``a CSV file``, ``a SNAP check-in file``)."""
    shown = os.fspath(path)
    try:
        return reader()
    except pd.errors.EmptyDataError:
        raise DataError(f"{shown}: file is empty, expected {describe}") from None
    except pd.errors.ParserError as err:
        raise DataError(f"{shown}: not {describe} ({' '.join(first_line(err).split())})") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{shown}: expected UTF-8 text, got undecodable bytes at byte {err.start}") from None
    except (EOFError, zlib.error) as err:  # a truncated or corrupt .gz
        raise DataError(f"{shown}: the compressed file is truncated or corrupt ({first_line(err)})") from None
    except OSError as err:  # BadGzipFile (not gzip at all) is an OSError too
        raise DataError(f"{shown}: cannot read ({reason(err)})") from None


def reason(err: OSError) -> str:
    """An OS error as words (``name too long``, ``permission denied``)."""
    if err.errno == errno.ENAMETOOLONG:
        return "the path is too long for this system"
    return (err.strerror or first_line(err)).lower() if err.strerror else first_line(err)


def read_csv(path: str | os.PathLike[str], describe: str = "a readable CSV file", **options: Any) -> pd.DataFrame:
    """A CSV (plain or compressed, by its name) with one-line errors for everything above."""
    file = readable_file(path, "CSV file")
    return read_text_table(file, describe, lambda: pd.read_csv(file, **options))
