"""Read, synthesise and write the Douyin livestream minute table the study forecasts.

The study's raw file (one row per broadcast minute) stores its traffic sources as two
columns of Python-dict *strings* with Chinese keys, e.g.
``"{'短视频引流': 0, '直播推荐': 1, ..., '全部自然流量': 7, '关注': 4}"``. Models need plain
numeric columns, so :func:`read_livestream_csv` flattens each key into its own float column
(``natural_<slug>`` / ``paid_<slug>``) next to the ten numeric columns; the real file gives
10 natural + 6 paid + 10 numeric = 26 numeric columns plus the timestamp, the study's 27.

The dict strings come from a file the user hands us, so they are parsed as *data*: a strict
regular-expression fast path for the common ``{'key': number, ...}`` shape and
:func:`ast.literal_eval` (which evaluates literals only, never calls or names) for anything
else, followed by a type check. ``eval``/``exec`` are never used.

:func:`generate_livestream` builds a synthetic stream in exactly the flattened layout (so the
pipeline and tests run without the real data) and :func:`to_raw_layout` renders a flattened
frame back to the raw CSV layout, so a synthetic file exercises the same reader as a real one.

The reader keeps rows in file order and leaves NaN, duplicates and gaps alone: the cleaning
step after it sorts, de-duplicates, reindexes to whole minutes and fills, and counts what it
changed. Doing any of that here would hide those counts.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sweepcast.data.cells import cell_error, numeric_column
from sweepcast.errors import ConfigError, DataError

__all__ = [
    "INDEX_NAME",
    "LIVESTREAM_COLUMNS",
    "NATURAL_COLUMN",
    "NATURAL_SOURCES",
    "NUMERIC_COLUMNS",
    "PAID_COLUMN",
    "PAID_SOURCES",
    "TIME_COLUMN",
    "TIME_FORMAT",
    "TRAFFIC_COLUMNS",
    "generate_livestream",
    "read_livestream_csv",
    "to_raw_layout",
]

#: Raw column holding the natural (organic) traffic-source dict string.
NATURAL_COLUMN = "natural_flow_trend_index"
#: Raw column holding the paid traffic-source dict string.
PAID_COLUMN = "pay_flow_trend_index"
#: Raw column holding the minute timestamp.
TIME_COLUMN = "date_time"
#: ``strftime``/``strptime`` format of :data:`TIME_COLUMN` in the raw file.
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: Name of the DatetimeIndex of every flattened frame.
INDEX_NAME = "timestamp"

#: Natural-traffic dict keys -> column slug, in the real file's key order (which
#: :func:`to_raw_layout` reproduces). ``全部自然流量`` ("all natural traffic") is the total
#: of the other keys, hence ``all``.
NATURAL_SOURCES: dict[str, str] = {
    "短视频引流": "short_video",
    "抖音商城推荐": "mall_recommend",
    "直播推荐": "live_recommend",
    "搜索": "search",
    "个人主页&店铺&橱窗": "profile_shop",
    "其他": "other",
    "头条西瓜": "toutiao_xigua",
    "活动页": "activity_page",
    "全部自然流量": "all",
    "关注": "follow",
}

#: Paid-traffic dict keys -> column slug, in the real file's key order. ``全部付费流量``
#: ("all paid traffic") is the total of the other keys, hence ``all``.
PAID_SOURCES: dict[str, str] = {
    "千川PC版": "qianchuan_pc",
    "其他广告": "other_ads",
    "千川品牌广告": "qianchuan_brand",
    "全部付费流量": "all",
    "品牌广告": "brand_ads",
    "小店随心推": "xiaodian_suixintui",
}

#: The plain numeric columns, in the real file's order.
NUMERIC_COLUMNS: tuple[str, ...] = (
    "UV_VALUE",
    "COMMENT_CNT",
    "INCR_FANS_CNT",
    "LEAVE_UCNT",
    "FANS_CLUB_UCNT",
    "PAY_ORDER_GMV",
    "ONLINE_USER_CNT",
    "WATCH_UCNT",
    "PAY_CNT",
    "PAY_UCNT",
)

_NATURAL_PREFIX = "natural_"
_PAID_PREFIX = "paid_"

#: Flattened traffic columns: natural then paid, each in the real file's key order.
TRAFFIC_COLUMNS: tuple[str, ...] = tuple(
    [_NATURAL_PREFIX + slug for slug in NATURAL_SOURCES.values()]
    + [_PAID_PREFIX + slug for slug in PAID_SOURCES.values()]
)
#: Columns of the flattened real file (and of :func:`generate_livestream`), in order.
LIVESTREAM_COLUMNS: tuple[str, ...] = NUMERIC_COLUMNS + TRAFFIC_COLUMNS

# Raw layout column order of the real file (the leading unnamed index column is written by
# ``DataFrame.to_csv`` from the frame's RangeIndex).
_RAW_ORDER: tuple[str, ...] = (
    NATURAL_COLUMN,
    PAID_COLUMN,
    "UV_VALUE",
    "COMMENT_CNT",
    TIME_COLUMN,
    "INCR_FANS_CNT",
    "LEAVE_UCNT",
    "FANS_CLUB_UCNT",
    "PAY_ORDER_GMV",
    "ONLINE_USER_CNT",
    "WATCH_UCNT",
    "PAY_CNT",
    "PAY_UCNT",
)

_DICT_EXPECTED = "expected a dict literal of {source: number}"

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
        if not isinstance(key, str) or isinstance(value, bool):
            return None
        if not isinstance(value, (int, float)):
            return None
        try:
            out[key] = float(value)
        except OverflowError:
            return None
    return out


def _parse_dict_column(
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
        return cell_error(path, column, row, _DICT_EXPECTED, cells.iloc[row - 1])

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


def _drop_index_column(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop the leading unnamed column ``DataFrame.to_csv`` wrote for its RangeIndex."""
    if len(frame.columns) and re.fullmatch(r"(Unnamed: 0)?", str(frame.columns[0])):
        return frame.iloc[:, 1:]
    return frame


def read_livestream_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a raw livestream CSV into the flattened, all-float layout the pipeline uses.

    Returns a frame indexed by a DatetimeIndex named ``timestamp`` (from ``date_time``,
    format ``YYYY-MM-DD HH:MM:SS``) in *file order*: no sorting, de-duplication, reindexing
    or NaN filling, because the cleaning step does that and reports how much it changed.
    Columns, all float64: every other raw column as a number, in file order (for the real
    file: :data:`NUMERIC_COLUMNS`), then ``natural_<slug>`` and ``paid_<slug>`` from the two
    dict columns (see :data:`NATURAL_SOURCES` / :data:`PAID_SOURCES`; an unknown key is kept
    as ``natural_<key>`` / ``paid_<key>``). The leading unnamed index column is dropped.
    Empty cells (or pandas' usual NA markers) become NaN.

    Raises :class:`DataError` (one line naming the file, column and 1-based data row, i.e.
    row 1 is the first line under the header) for: a missing file, a missing
    ``date_time``/dict column, a bad timestamp, a non-numeric or infinite number, or a dict
    cell that is not a literal ``{str: number}`` dict. Dict cells are never executed.
    """
    shown = os.fspath(path)
    file = Path(path)
    if not file.exists():
        raise DataError(f"{shown}: file not found")
    if not file.is_file():
        raise DataError(f"{shown}: expected a CSV file, got a directory or special file")
    try:
        frame = pd.read_csv(file, dtype=str, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{shown}: file is empty, expected a CSV header with "
            f"'{TIME_COLUMN}', '{NATURAL_COLUMN}' and '{PAID_COLUMN}'"
        ) from None
    except pd.errors.ParserError as err:
        detail = " ".join(str(err).split())
        raise DataError(f"{shown}: not a well-formed CSV file ({detail})") from None
    except UnicodeDecodeError as err:
        raise DataError(
            f"{shown}: expected UTF-8 text, got undecodable bytes at byte {err.start}"
        ) from None
    except OSError as err:
        raise DataError(f"{shown}: cannot read file ({err.strerror or err})") from None

    return parse_livestream_frame(frame, shown)


def parse_livestream_frame(frame: pd.DataFrame, shown: str) -> pd.DataFrame:
    """The parsing half of :func:`read_livestream_csv`, for rows already read as text (a CSV
    file, or the rows an exported model receives); ``shown`` names the source in errors."""
    frame = _drop_index_column(frame)
    present = [str(c) for c in frame.columns]
    for required in (TIME_COLUMN, NATURAL_COLUMN, PAID_COLUMN):
        if required not in present:
            raise DataError(
                f"{shown}: missing required column '{required}'; columns present: {present}"
            )
    if len(frame) == 0:
        raise DataError(f"{shown}: no data rows under the header")

    stamps = pd.to_datetime(frame[TIME_COLUMN], format=TIME_FORMAT, errors="coerce")
    bad = np.flatnonzero(stamps.isna().to_numpy())
    if len(bad):
        row = int(bad[0])
        raise cell_error(
            shown,
            TIME_COLUMN,
            row + 1,
            "expected a timestamp like '2019-12-02 08:12:00'",
            frame[TIME_COLUMN].iloc[row],
        )

    data: dict[str, np.ndarray] = {}
    for name in present:
        if name in (TIME_COLUMN, NATURAL_COLUMN, PAID_COLUMN):
            continue
        data[name] = numeric_column(frame[name], path=shown, column=name)

    for column, prefix, known in (
        (NATURAL_COLUMN, _NATURAL_PREFIX, NATURAL_SOURCES),
        (PAID_COLUMN, _PAID_PREFIX, PAID_SOURCES),
    ):
        flattened = _parse_dict_column(
            frame[column], path=shown, column=column, prefix=prefix, known=known
        )
        for name, values in flattened.items():
            if name in data:
                raise DataError(
                    f"{shown}: column '{column}': a key flattens to '{name}', "
                    "which is already a column"
                )
            data[name] = values

    index = pd.DatetimeIndex(stamps, name=INDEX_NAME)
    return pd.DataFrame(data, index=index)


# --- synthetic generator -----------------------------------------------------------------

# Share of each natural sub-source in ``natural_all`` (order of NATURAL_SOURCES without
# ``all``), taken from the real file's means: followers and live recommendation dominate.
_NATURAL_SHARES: dict[str, float] = {
    "short_video": 0.0056,
    "mall_recommend": 0.0002,
    "live_recommend": 0.296,
    "search": 0.052,
    "profile_shop": 0.011,
    "other": 0.064,
    "toutiao_xigua": 0.0029,
    "activity_page": 0.0075,
    "follow": 0.561,
}
# Baseline paid rate per natural viewer, per paid sub-source (the real day averages 0.35 paid
# viewers/min, almost all Qianchuan PC); promotion bursts come on top.
_PAID_BASE: dict[str, float] = {
    "qianchuan_pc": 0.012,
    "other_ads": 0.0008,
    "qianchuan_brand": 0.0004,
    "brand_ads": 0.0004,
    "xiaodian_suixintui": 0.002,
}
# Which paid source a promotion push uses, and how often.
_BURST_SOURCE_P = np.array([0.65, 0.05, 0.03, 0.02, 0.25])
# Day-part multiplier knots (hour of day -> multiplier): quiet morning, noon bump, afternoon
# dip, evening peak, night tail.
_DAYPART_HOURS = np.array([0, 6, 9, 11, 12.5, 14, 16, 18, 20, 21.5, 23, 24], dtype=float)
_DAYPART_MULT = np.array(
    [0.9, 0.7, 0.8, 1.0, 1.05, 0.85, 0.85, 1.15, 1.4, 1.35, 1.1, 1.0], dtype=float
)
# Order prices in the file's GMV units (the real file's single-order GMVs).
_PRICES = np.array([8200, 9500, 12100, 12900, 16400, 25300, 25800, 34700, 35700, 36700.0])
_RETENTION = 0.6  # chance a viewer is still watching a minute later (mean stay 2.5 min)
_KERNEL_LEN = 48  # 0.6**48 ~ 2e-11: the retention kernel is exact to rounding


def _check_days(days: object) -> int:
    """``days`` must be a positive int (a bool or float is a config mistake, not a count)."""
    if isinstance(days, bool) or not isinstance(days, (int, np.integer)) or days < 1:
        raise ConfigError("data.synthetic.days", "an integer >= 1", days)
    return int(days)


def generate_livestream(days: int = 62, seed: int = 0, start: str = "2019-10-01") -> pd.DataFrame:
    """A synthetic livestream in exactly :func:`read_livestream_csv`'s flattened layout.

    Why: the real data is one day and may not be shipped, yet the pipeline (cleaning,
    reindexing, windowing, sweeps) needs a realistic two-month stream to run and be tested.
    The structure mimics the real file so the cleaning step has real work to do:

    * one or two broadcast sessions a day (morning-to-noon, usually; afternoon-to-night,
      always) with jittered start/end, and *no rows* overnight or between sessions;
    * ~0.3% of minutes inside sessions missing (logging dropouts);
    * day level with weekend uplift and a slow trend, day-part multipliers (morning, noon,
      afternoon, evening peak, night), a warm-up at session start and wind-down at the end,
      and a per-session random walk;
    * paid promotion pushes: a few minutes to half an hour of raised paid traffic;
    * 2-4 "dead" days (never more than ``days // 7``, so none in a stream under a week)
      with one short session whose daily ``natural_all + paid_all`` is below 10;
    * Poisson counts per sub-source, summed into ``natural_all`` / ``paid_all``;
      ``WATCH_UCNT`` ~ ``natural_all + paid_all`` plus small noise; ``ONLINE_USER_CNT`` the
      watchers still in the room (geometric stay); ``LEAVE_UCNT`` the expected leavers of
      the previous minute's audience; comments, follows, fan-club joins and orders scale
      with the audience; ``PAY_UCNT <= PAY_CNT``; ``PAY_ORDER_GMV = PAY_CNT * price``;
      ``UV_VALUE = round(GMV / WATCH_UCNT)`` (0 without watchers), whole numbers as in the
      real file.

    The default 62 days give ~38,000 rows (~610 broadcast minutes a day, like the real
    file's 696) spanning ~88,000 minutes once reindexed. Deterministic for a ``seed``
    (``np.random.default_rng``) and vectorised: 62 days take a few tens of milliseconds. Raises ``ConfigError`` for ``days < 1`` or a bad ``start``.
    """
    n_days = _check_days(days)
    try:
        first_day = pd.Timestamp(start).normalize()
    except (ValueError, TypeError):
        raise ConfigError("data.synthetic.start", "a date like '2019-10-01'", start) from None
    if pd.isna(first_day):
        raise ConfigError("data.synthetic.start", "a date like '2019-10-01'", start)
    rng = np.random.default_rng(seed)

    day_numbers = np.arange(n_days)
    weekday = ((first_day.day_of_week + day_numbers) % 7).astype(int)
    weekend = weekday >= 5

    n_dead = min(int(rng.integers(2, 5)), n_days // 7)
    dead = np.zeros(n_days, dtype=bool)
    dead[rng.choice(n_days, size=n_dead, replace=False)] = True

    # --- sessions: (day, start minute, end minute), two slots per day --------------------
    has_morning = (rng.random(n_days) < 0.75) & ~dead
    m_start = np.clip(480 + rng.normal(0, 25, n_days), 390, 600).round()
    m_end = np.clip(720 + rng.normal(0, 20, n_days), m_start + 60, 810).round()
    e_start = np.clip(960 + rng.normal(0, 40, n_days), 840, 1140).round()
    e_start = np.maximum(e_start, np.where(has_morning, m_end + 30, 0))
    e_end = np.clip(1425 + rng.normal(0, 10, n_days), e_start + 120, 1439).round()
    # A dead day: one short session somewhere in the day.
    d_start = rng.integers(600, 1200, n_days).astype(float)
    d_end = d_start + rng.integers(20, 91, n_days)
    e_start = np.where(dead, d_start, e_start)
    e_end = np.where(dead, d_end, e_end)

    s_day = np.concatenate([day_numbers[has_morning], day_numbers])
    s_start = np.concatenate([m_start[has_morning], e_start]).astype(np.int64)
    s_end = np.concatenate([m_end[has_morning], e_end]).astype(np.int64)
    by_time = np.lexsort((s_start, s_day))
    s_day, s_start, s_end = s_day[by_time], s_start[by_time], s_end[by_time]
    s_len = s_end - s_start
    n_sessions = len(s_len)

    # --- one row per session minute ------------------------------------------------------
    n = int(s_len.sum())
    first_row = np.concatenate([[0], np.cumsum(s_len)[:-1]])
    session = np.repeat(np.arange(n_sessions), s_len)
    pos = np.arange(n) - first_row[session]  # minute within session
    left = s_len[session] - pos  # minutes to session end (>= 1)
    day = s_day[session]
    minute_of_day = s_start[session] + pos

    # --- natural traffic rate -------------------------------------------------------------
    level = 12.5 * rng.lognormal(0.0, 0.15, n_days) * np.where(weekend, 1.25, 1.0)
    level *= 1.0 + 0.004 * day_numbers
    level = np.where(dead, 0.01, level)
    daypart = np.interp(minute_of_day / 60.0, _DAYPART_HOURS, _DAYPART_MULT)
    warm = (1.0 - np.exp(-(pos + 0.3) / 6.0)) * (1.0 - 0.5 * np.exp(-(left - 1) / 4.0))
    walk = np.cumsum(rng.normal(0.0, 0.03, n))
    walk = np.clip(walk - walk[first_row][session], -0.6, 0.6)  # restart each session
    rate = level[day] * daypart * warm * np.exp(walk + rng.normal(0.0, 0.08, n))

    shares = np.array(list(_NATURAL_SHARES.values()))
    natural_sub = rng.poisson(rate[:, None] * shares[None, :] / shares.sum())

    # --- paid traffic: baseline plus promotion pushes ------------------------------------
    live_days = np.flatnonzero(~dead)
    pushes = rng.poisson(1.3, len(live_days))
    b_day = np.repeat(live_days, pushes)
    day_first = np.searchsorted(day, np.arange(n_days))
    day_rows = np.searchsorted(day, np.arange(n_days), side="right") - day_first
    b_start = day_first[b_day] + (rng.random(len(b_day)) * day_rows[b_day]).astype(np.int64)
    b_end = np.minimum(
        b_start + rng.integers(5, 31, len(b_day)),
        first_row[session[b_start]] + s_len[session[b_start]],  # stop at the session end
    )
    b_source = rng.choice(len(_PAID_BASE), size=len(b_day), p=_BURST_SOURCE_P)
    b_height = rng.uniform(2.0, 10.0, len(b_day))
    steps = np.zeros((n + 1, len(_PAID_BASE)))
    np.add.at(steps, (b_start, b_source), b_height)
    np.add.at(steps, (b_end, b_source), -b_height)
    boost = np.cumsum(steps, axis=0)[:n].clip(min=0.0) * warm[:, None]
    paid_base = np.array(list(_PAID_BASE.values()))
    paid_sub = rng.poisson(rate[:, None] * paid_base[None, :] + boost)

    # A push also lifts the platform's live recommendation a little.
    natural_sub[:, 2] += rng.poisson(0.3 * boost.sum(axis=1))

    natural_all = natural_sub.sum(axis=1)
    paid_all = paid_sub.sum(axis=1)

    # Dead days must stay dead (< 10 visitors over the day) whatever the draws were.
    day_total = np.bincount(day, weights=natural_all + paid_all, minlength=n_days)
    silence = (dead & (day_total >= 10))[day]
    natural_sub[silence] = 0
    paid_sub[silence] = 0
    natural_all[silence] = 0
    paid_all[silence] = 0

    # --- audience -----------------------------------------------------------------------
    traffic = (natural_all + paid_all).astype(float)
    watch = np.maximum(traffic + np.round(rng.normal(0.0, 0.12 * traffic + 0.3)), 0.0)
    # Viewers still in the room: watchers of the last minutes, geometrically decaying. The
    # convolution runs over sessions padded apart by the kernel length so none leaks into
    # the next session.
    padded_at = np.arange(n) + session * _KERNEL_LEN
    padded = np.zeros(n + n_sessions * _KERNEL_LEN)
    padded[padded_at] = watch
    kernel = _RETENTION ** np.arange(_KERNEL_LEN)
    audience = np.convolve(padded, kernel)[: len(padded)][padded_at]
    online = np.round(audience * rng.lognormal(0.0, 0.05, n))
    previous = np.where(pos > 0, np.roll(audience, 1), 0.0)
    leave = rng.poisson((1.0 - _RETENTION) * previous).astype(float)
    comments = rng.poisson(0.09 * online).astype(float)
    fans = np.minimum(rng.poisson(0.008 * watch), watch)
    club = np.minimum(rng.poisson(0.0127 * watch), watch)
    pay_cnt = np.minimum(rng.poisson(0.0024 * watch * (1.0 + 0.05 * boost.sum(axis=1))), online)
    extra_buyers = rng.binomial(np.maximum(pay_cnt - 1, 0).astype(np.int64), 0.4)
    pay_ucnt = np.where(pay_cnt > 0, 1 + extra_buyers, 0).astype(float)
    gmv = pay_cnt * rng.choice(_PRICES, size=n)
    uv_value = np.round(np.divide(gmv, watch, out=np.zeros(n), where=watch > 0))

    # --- assemble, drop a few logging dropouts ------------------------------------------
    columns: dict[str, np.ndarray] = {
        "UV_VALUE": uv_value,
        "COMMENT_CNT": comments,
        "INCR_FANS_CNT": fans,
        "LEAVE_UCNT": leave,
        "FANS_CLUB_UCNT": club,
        "PAY_ORDER_GMV": gmv,
        "ONLINE_USER_CNT": online,
        "WATCH_UCNT": watch,
        "PAY_CNT": pay_cnt,
        "PAY_UCNT": pay_ucnt,
    }
    natural_slugs = list(_NATURAL_SHARES)
    for name in NATURAL_SOURCES.values():
        column = _NATURAL_PREFIX + name
        columns[column] = (
            natural_all if name == "all" else natural_sub[:, natural_slugs.index(name)]
        )
    paid_slugs = list(_PAID_BASE)
    for name in PAID_SOURCES.values():
        column = _PAID_PREFIX + name
        columns[column] = paid_all if name == "all" else paid_sub[:, paid_slugs.index(name)]

    keep = (rng.random(n) >= 0.003) | (pos == 0)
    minutes = day * 1440 + minute_of_day
    stamps = first_day + pd.to_timedelta(minutes[keep], unit="min")
    index = pd.DatetimeIndex(stamps, name=INDEX_NAME).as_unit(_time_unit())
    frame = pd.DataFrame(
        {name: np.asarray(values, dtype=np.float64)[keep] for name, values in columns.items()},
        index=index,
    )
    return frame[list(LIVESTREAM_COLUMNS)]


def _time_unit() -> str:
    """The resolution ``pd.to_datetime`` gives the raw timestamps, so both sources agree."""
    return pd.to_datetime(pd.Series(["2019-12-02 08:12:00"]), format=TIME_FORMAT).dt.unit


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


def _render_dicts(
    frame: pd.DataFrame, columns: Sequence[str], keys: Sequence[str], raw_column: str
) -> list[object]:
    """One dict string per row from ``columns`` (NaN keys omitted; all-NaN row -> NaN)."""
    pieces: list[list[str | None]] = []
    for column in columns:
        values = frame[column].to_numpy(dtype=np.float64)
        if np.isinf(values).any():
            row = int(np.flatnonzero(np.isinf(values))[0]) + 1
            raise DataError(
                f"to_raw_layout: column '{column}', row {row}: expected a finite number "
                f"for '{raw_column}', got {values[row - 1]!r}"
            )
        pieces.append(_render_numbers(values))
    heads = [repr(k) + ": " for k in keys]
    out: list[object] = []
    for row_values in zip(*pieces) if pieces else [() for _ in range(len(frame))]:
        body = ", ".join(h + v for h, v in zip(heads, row_values) if v is not None)
        out.append("{" + body + "}" if body else np.nan)
    return out


def to_raw_layout(frame: pd.DataFrame) -> pd.DataFrame:
    """Render a flattened frame back to the real CSV layout.

    ``to_raw_layout(df).to_csv(path)`` writes a file that :func:`read_livestream_csv` reads
    back to equal values: the RangeIndex becomes the leading unnamed column, ``natural_*`` /
    ``paid_*`` columns become the two dict-string columns (Chinese keys, real key order,
    unknown keys after them; a NaN value omits its key and an all-NaN row leaves the cell
    empty), the index becomes ``date_time`` strings, and the other columns follow the real
    file's column order (unknown ones last), written as integers where every value is whole.
    Why: tests and users can produce a raw file from :func:`generate_livestream`, and a
    synthetic run then goes through exactly the reader a real run uses.
    """
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise DataError(
            "to_raw_layout: expected a frame indexed by a DatetimeIndex named "
            f"'{INDEX_NAME}', got a {type(frame.index).__name__}"
        )
    natural_keys = {slug: key for key, slug in NATURAL_SOURCES.items()}
    paid_keys = {slug: key for key, slug in PAID_SOURCES.items()}
    natural_cols = [str(c) for c in frame.columns if str(c).startswith(_NATURAL_PREFIX)]
    paid_cols = [str(c) for c in frame.columns if str(c).startswith(_PAID_PREFIX)]
    numeric_cols = [
        str(c) for c in frame.columns if str(c) not in natural_cols and str(c) not in paid_cols
    ]

    def ordered(cols: list[str], prefix: str, keys: dict[str, str]) -> tuple[list[str], list[str]]:
        slugs = [c[len(prefix) :] for c in cols]
        known = [s for s in keys if s in slugs]
        unknown = [s for s in slugs if s not in keys]
        return (
            [prefix + s for s in known + unknown],
            [keys[s] for s in known] + unknown,
        )

    n_cols, n_keys = ordered(natural_cols, _NATURAL_PREFIX, natural_keys)
    p_cols, p_keys = ordered(paid_cols, _PAID_PREFIX, paid_keys)

    raw: dict[str, object] = {
        NATURAL_COLUMN: _render_dicts(frame, n_cols, n_keys, NATURAL_COLUMN),
        PAID_COLUMN: _render_dicts(frame, p_cols, p_keys, PAID_COLUMN),
        TIME_COLUMN: frame.index.strftime(TIME_FORMAT).to_numpy(dtype=object),
    }
    for column in numeric_cols:
        values = pd.Series(frame[column].to_numpy(dtype=np.float64))
        finite = values.dropna()
        if (
            len(finite)
            and np.isfinite(finite).all()
            and (finite == np.round(finite)).all()
            and (finite.abs() < 2.0**53).all()
        ):
            raw[column] = values.astype("Int64")
        else:
            raw[column] = values
    order = [c for c in _RAW_ORDER if c in raw] + [c for c in raw if c not in _RAW_ORDER]
    out = pd.DataFrame({c: raw[c] for c in order})
    out.index = pd.RangeIndex(len(frame))
    return out
