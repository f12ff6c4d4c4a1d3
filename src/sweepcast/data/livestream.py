"""The Douyin livestream minute table the study forecasts: its CSV layout, read and written.

The study's raw file (one row per broadcast minute) stores its traffic sources as two
columns of Python-dict *strings* with Chinese keys, e.g.
``"{'短视频引流': 0, '直播推荐': 1, ..., '全部自然流量': 7, '关注': 4}"``. Models need plain
numeric columns, so :func:`read_livestream_csv` flattens each key into its own float column
(``natural_<slug>`` / ``paid_<slug>``) next to the ten numeric columns; the real file gives
10 natural + 6 paid + 10 numeric = 26 numeric columns plus the timestamp, the study's 27.
The dict strings are parsed as data, never executed (:mod:`sweepcast.data.dict_cells`).

:func:`to_raw_layout` renders a flattened frame back to the raw CSV layout, so a synthetic
stream (:mod:`sweepcast.data.livestream_synthetic`) exercises the same reader as a real file.

The reader keeps rows in file order and leaves NaN, duplicates and gaps alone: the cleaning
step after it sorts, de-duplicates, reindexes to whole minutes and fills, and counts what it
changed. Doing any of that here would hide those counts.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd

from sweepcast.data.cells import cell_error, numeric_column
from sweepcast.data.dict_cells import parse_dict_column, render_dict_column
from sweepcast.data.reading import read_csv
from sweepcast.errors import DataError

__all__ = [
    "INDEX_NAME",
    "LIVESTREAM_COLUMNS",
    "NATURAL_COLUMN",
    "NATURAL_PREFIX",
    "NATURAL_SOURCES",
    "NUMERIC_COLUMNS",
    "PAID_COLUMN",
    "PAID_PREFIX",
    "PAID_SOURCES",
    "TIME_COLUMN",
    "TIME_FORMAT",
    "TRAFFIC_COLUMNS",
    "parse_livestream_frame",
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

#: Prefixes of the flattened natural / paid traffic columns (``natural_<slug>``, ``paid_<slug>``).
NATURAL_PREFIX = "natural_"
PAID_PREFIX = "paid_"

#: Flattened traffic columns: natural then paid, each in the real file's key order.
TRAFFIC_COLUMNS: tuple[str, ...] = tuple(
    [NATURAL_PREFIX + slug for slug in NATURAL_SOURCES.values()]
    + [PAID_PREFIX + slug for slug in PAID_SOURCES.values()]
)
#: Columns of the flattened real file (and of the synthetic stream), in order.
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
    layout = f"a CSV file with a header holding '{TIME_COLUMN}', '{NATURAL_COLUMN}' and '{PAID_COLUMN}'"
    frame = read_csv(path, layout, dtype=str, encoding="utf-8-sig")
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
        (NATURAL_COLUMN, NATURAL_PREFIX, NATURAL_SOURCES),
        (PAID_COLUMN, PAID_PREFIX, PAID_SOURCES),
    ):
        flattened = parse_dict_column(
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


# --- writer ------------------------------------------------------------------------------


def to_raw_layout(frame: pd.DataFrame) -> pd.DataFrame:
    """Render a flattened frame back to the real CSV layout.

    ``to_raw_layout(df).to_csv(path)`` writes a file that :func:`read_livestream_csv` reads
    back to equal values: the RangeIndex becomes the leading unnamed column, ``natural_*`` /
    ``paid_*`` columns become the two dict-string columns (Chinese keys, real key order,
    unknown keys after them; a NaN value omits its key and an all-NaN row leaves the cell
    empty), the index becomes ``date_time`` strings, and the other columns follow the real
    file's column order (unknown ones last), written as integers where every value is whole.
    Why: tests and users can produce a raw file from
    :func:`~sweepcast.data.livestream_synthetic.generate_livestream`, and a synthetic run then
    goes through exactly the reader a real run uses.
    """
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise DataError(
            "to_raw_layout: expected a frame indexed by a DatetimeIndex named "
            f"'{INDEX_NAME}', got a {type(frame.index).__name__}"
        )
    natural_keys = {slug: key for key, slug in NATURAL_SOURCES.items()}
    paid_keys = {slug: key for key, slug in PAID_SOURCES.items()}
    natural_cols = [str(c) for c in frame.columns if str(c).startswith(NATURAL_PREFIX)]
    paid_cols = [str(c) for c in frame.columns if str(c).startswith(PAID_PREFIX)]
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

    n_cols, n_keys = ordered(natural_cols, NATURAL_PREFIX, natural_keys)
    p_cols, p_keys = ordered(paid_cols, PAID_PREFIX, paid_keys)

    raw: dict[str, object] = {
        NATURAL_COLUMN: render_dict_column(
            frame, n_cols, n_keys, name="to_raw_layout", raw_column=NATURAL_COLUMN
        ),
        PAID_COLUMN: render_dict_column(
            frame, p_cols, p_keys, name="to_raw_layout", raw_column=PAID_COLUMN
        ),
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
