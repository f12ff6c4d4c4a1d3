"""The dict-string cells of the livestream file: ``"{'搜索': 3, '关注': 2}"`` <-> float columns.

The study's raw file stores its traffic sources as columns of Python-dict *strings*
(:func:`parse_dict_column` flattens one such column into ``prefix + slug`` float columns;
:func:`render_dict_column` writes them back). The strings come from a file the user hands us,
so they are parsed as *data*: a strict regular-expression fast path for the common
``{'key': number, ...}`` shape and :func:`ast.literal_eval` (which evaluates literals only,
never calls or names) for anything else, followed by a type check. ``eval``/``exec`` are
never used.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from sweepcast.checks import is_number
from sweepcast.data.cells import cell_error
from sweepcast.errors import DataError

__all__ = ["DICT_EXPECTED", "parse_dict_column", "render_dict_column"]

DICT_EXPECTED = "expected a dict literal of {source: number}"

# --- fast dict-string parser -------------------------------------------------------------
# A number as Python writes it for a count or a float (no leading zeros, ASCII digits only,
# so the fast path never accepts something ``ast.literal_eval`` would reject).
_NUM = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
# ``: <number>`` -> ``:\x00``. Applied to all distinct cells at once (joined by newlines, and
# ``[ \t]`` rather than ``\s`` so no match crosses a cell boundary), it turns each cell into
# its key "template"; cells sharing a template differ only in their numbers.
_VALUE_RE = re.compile(r":[ \t]*(" + _NUM + r")")
# A template the fast path trusts: quoted keys without quote, backslash, colon, newline or NUL
# (so every ``:`` is a key/value separator, every value was a number and no key needs
# unescaping), each followed by exactly one replaced number. Anything else goes to the
# ``literal_eval`` fallback.
_KEY = r"'([^'\\:\n\x00]*)'"
_ENTRY = _KEY + r"[ \t]*:\x00[ \t]*"
_TEMPLATE_RE = re.compile(
    r"\{[ \t]*(?:" + _ENTRY + r"(?:,[ \t]*" + _ENTRY + r")*(?:,[ \t]*)?)?\}"
)
_TEMPLATE_KEY_RE = re.compile(_KEY)


def _checked_literal(text: str) -> dict[str, float] | None:
    """Parse one dict string with ``ast.literal_eval``; ``None`` unless it is {str: number}.

    ``literal_eval`` only builds literals (a call such as ``__import__('os')`` is a
    ``ValueError``), so nothing in the cell is executed. ``bool`` is rejected although it is
    an ``int`` subclass: ``True`` in a count column is a corrupted file, not a count of one.
    """
    try:
        obj = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if type(obj) is not dict:
        return None
    out: dict[str, float] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not is_number(value):
            return None
        try:
            out[key] = float(value)
        except OverflowError:
            return None
    return out


MAX_UNKNOWN_KEYS = 200  # the study's files have 13 known sources and no unknown one


def parse_dict_column(
    cells: pd.Series,
    *,
    path: str,
    column: str,
    prefix: str,
    known: Mapping[str, str],
) -> dict[str, np.ndarray]:
    """Flatten a column of dict strings into ``{prefix + slug: float array}``.

    Why this shape: a two-month file has tens of thousands of cells per column (the
    study's 89,984 minutes if every minute had a row) and nearly all share one key
    template, so the work is done on *distinct* cells (``pd.factorize``) and, per template,
    with one regex pass over all its cells joined together instead of one Python parse per
    cell. Cells the fast path does not recognise are parsed one by one by
    :func:`_checked_literal`. Every known key gets a column (NaN where absent) so the layout
    does not depend on which sources happened to occur; unknown keys are kept as
    ``prefix + key`` in order of first appearance. Empty cells give NaN in every column.
    """
    # Distinct cells, numbered by first appearance; a missing cell gets code -1, which picks
    # the all-NaN last row of ``table`` below.
    codes, uniques_index = pd.factorize(cells)
    uniques: list[str] = [str(u).strip() for u in uniques_index]
    n_unique = len(uniques)

    parsed_keys: dict[int, list[str]] = {}  # first unique id of a key list -> its keys
    fast_done = np.zeros(n_unique, dtype=bool)
    fast_groups: list[tuple[np.ndarray, list[str], np.ndarray]] = []  # (ids, keys, values)

    big = "\n".join(uniques)
    if n_unique and big.count("\n") == n_unique - 1 and "\x00" not in big:
        templates = _VALUE_RE.sub(":\x00", big).split("\n")
        t_codes, t_uniques = pd.factorize(np.array(templates, dtype=object))
        order = np.argsort(t_codes, kind="stable")
        bounds = np.searchsorted(t_codes[order], np.arange(len(t_uniques) + 1))
        for t, template in enumerate(t_uniques):
            ids = order[bounds[t] : bounds[t + 1]]
            if template == "" or _TEMPLATE_RE.fullmatch(template) is None:
                continue
            keys = _TEMPLATE_KEY_RE.findall(template)
            if len(set(keys)) != len(keys):  # duplicate keys: let literal_eval decide
                continue
            if keys:
                numbers = _VALUE_RE.findall("\n".join(uniques[i] for i in ids))
                if len(numbers) != len(ids) * len(keys):  # cannot happen; be safe
                    continue
                values = np.array(numbers, dtype=np.float64).reshape(len(ids), len(keys))
            else:
                values = np.empty((len(ids), 0))
            fast_groups.append((ids, keys, values))
            fast_done[ids] = True
            parsed_keys[int(ids[0])] = keys

    slow: dict[int, dict[str, float]] = {}
    first_bad: int | None = None
    for i in np.flatnonzero(~fast_done).tolist():
        if uniques[i] == "":
            continue
        result = _checked_literal(uniques[i])
        if result is None:
            first_bad = i if first_bad is None else min(first_bad, i)
            continue
        slow[i] = result
        parsed_keys[i] = list(result)

    def fail(unique_id: int) -> DataError:
        row = int(np.flatnonzero(codes == unique_id)[0]) + 1
        return cell_error(path, column, row, DICT_EXPECTED, cells.iloc[row - 1])

    if first_bad is not None:
        # ``factorize`` numbers distinct cells by first appearance, so the smallest id is
        # the earliest bad row.
        raise fail(first_bad)

    names: dict[str, int] = {}
    for key in known:
        names[key] = len(names)
    for i in sorted(parsed_keys):
        for key in parsed_keys[i]:
            if key not in names:
                names[key] = len(names)
                if len(names) - len(known) > MAX_UNKNOWN_KEYS:  # each becomes a column: bound the memory
                    row = int(np.flatnonzero(codes == i)[0]) + 1
                    raise DataError(f"{path}: column '{column}', row {row}: more than {MAX_UNKNOWN_KEYS} distinct "
                                    "unknown traffic sources (each would become a column); expected the study's "
                                    "sources and a few more")

    table = np.full((n_unique + 1, len(names)), np.nan)
    for ids, keys, values in fast_groups:
        if keys:
            table[np.ix_(ids, [names[k] for k in keys])] = values
    for i, result in slow.items():
        table[i, [names[k] for k in result]] = list(result.values())

    infinite = np.isinf(table).any(axis=1)
    if infinite.any():
        raise fail(int(np.flatnonzero(infinite)[0]))

    flat = table[codes]
    out: dict[str, np.ndarray] = {}
    source_of: dict[str, str] = {}
    for key, j in names.items():
        name = prefix + known.get(key, key)
        if name in out:  # e.g. an unknown key 'all' beside 全部自然流量
            raise DataError(
                f"{path}: column '{column}': keys {source_of[name]!r} and {key!r} both "
                f"flatten to '{name}'; expected distinct sources"
            )
        out[name] = flat[:, j]
        source_of[name] = key
    return out


# --- writer ------------------------------------------------------------------------------


def _render_numbers(values: np.ndarray) -> list[str | None]:
    """Numbers as Python literals: ``7`` for whole numbers (as the real file), else ``repr``."""
    out: list[str | None] = [None] * len(values)
    whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2.0**53)
    ints = values[whole].astype(np.int64).astype(str)
    for i, text in zip(np.flatnonzero(whole).tolist(), ints.tolist()):
        out[i] = text
    for i in np.flatnonzero(~whole & ~np.isnan(values)).tolist():
        out[i] = repr(float(values[i]))
    return out


def render_dict_column(
    frame: pd.DataFrame, columns: Sequence[str], keys: Sequence[str], *, name: str, raw_column: str
) -> list[object]:
    """One dict string per row from ``columns``, ``keys`` naming them in the string (NaN keys
    omitted; an all-NaN row gives NaN, an empty cell); ``name`` names the caller in errors."""
    pieces: list[list[str | None]] = []
    for column in columns:
        values = frame[column].to_numpy(dtype=np.float64)
        if np.isinf(values).any():
            row = int(np.flatnonzero(np.isinf(values))[0]) + 1
            raise DataError(
                f"{name}: column '{column}', row {row}: expected a finite number "
                f"for '{raw_column}', got {values[row - 1]!r}"
            )
        pieces.append(_render_numbers(values))
    heads = [repr(k) + ": " for k in keys]
    out: list[object] = []
    for row_values in zip(*pieces) if pieces else [() for _ in range(len(frame))]:
        body = ", ".join(h + v for h, v in zip(heads, row_values) if v is not None)
        out.append("{" + body + "}" if body else np.nan)
    return out

