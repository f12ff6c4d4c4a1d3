"""Tests for sweepcast.data.livestream: the raw reader, the synthetic generator, the writer."""

from __future__ import annotations

import ast
import csv
import inspect
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sweepcast.data import dict_cells as livestream  # the dict-cell parser the no-eval and fast-path tests inspect
from sweepcast.data.livestream import (
    INDEX_NAME,
    LIVESTREAM_COLUMNS,
    NATURAL_COLUMN,
    NATURAL_SOURCES,
    NUMERIC_COLUMNS,
    PAID_COLUMN,
    PAID_SOURCES,
    TIME_COLUMN,
    TRAFFIC_COLUMNS,
    read_livestream_csv,
    to_raw_layout,
)
from sweepcast.data.livestream_synthetic import generate_livestream
from sweepcast.errors import ConfigError, DataError

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL_FILE = DATA_DIR / "douyin_livestream_2019-12-02.csv"


@pytest.fixture(scope="module")
def real_path() -> Path:
    if not REAL_FILE.is_file():
        pytest.skip(f"real data not available at {REAL_FILE} (it is not shipped with the repo)")
    return REAL_FILE


@pytest.fixture(scope="module")
def real(real_path: Path) -> pd.DataFrame:
    return read_livestream_csv(real_path)


@pytest.fixture(scope="module")
def week() -> pd.DataFrame:
    return generate_livestream(days=14, seed=3)


@pytest.fixture(scope="module")
def default_stream() -> pd.DataFrame:
    return generate_livestream()


def _small_raw() -> pd.DataFrame:
    """Five minutes of synthetic data in the raw layout, with object columns to overwrite."""
    raw = to_raw_layout(generate_livestream(days=1, seed=7).iloc[:5])
    return raw.astype({NATURAL_COLUMN: object, PAID_COLUMN: object, "WATCH_UCNT": object})


def _write(tmp_path: Path, raw: pd.DataFrame, name: str = "douyin.csv") -> Path:
    path = tmp_path / name
    raw.to_csv(path)
    return path


def _natural_of(frame: pd.DataFrame, row: int) -> dict[str, float]:
    values = frame.iloc[row]
    return {
        c: float(values[c]) for c in frame.columns if c.startswith("natural_") and values[c] == values[c]
    }


# --- real file ------------------------------------------------------------------------------


def test_real_file_layout(real: pd.DataFrame) -> None:
    assert len(real) == 696
    assert list(real.columns) == list(LIVESTREAM_COLUMNS)
    assert len(real.columns) == 26  # + the timestamp = the study's 27
    traffic = [c for c in real.columns if c.startswith(("natural_", "paid_"))]
    assert len(traffic) == 16 and {"natural_all", "paid_all"} <= set(traffic)
    assert (real.dtypes == np.float64).all()
    assert isinstance(real.index, pd.DatetimeIndex) and real.index.name == INDEX_NAME


def test_real_file_time_span_and_midday_gap(real: pd.DataFrame) -> None:
    assert real.index[0] == pd.Timestamp("2019-12-02 08:12:00")
    assert real.index[-1] == pd.Timestamp("2019-12-02 23:48:00")
    inside = (real.index > pd.Timestamp("2019-12-02 12:00")) & (
        real.index < pd.Timestamp("2019-12-02 16:00")
    )
    assert not inside.any()
    assert real.index.to_series().diff().max() == pd.Timedelta(hours=4)


def test_real_file_values_match_an_independent_parse(real: pd.DataFrame, real_path: Path) -> None:
    second = real.iloc[1]  # the second data row, 08:13
    assert second["natural_all"] == 7
    assert second["natural_follow"] == 4
    assert second["natural_live_recommend"] == 1
    assert second["paid_all"] == 0
    assert second["WATCH_UCNT"] == 19

    with real_path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    natural = pd.DataFrame([ast.literal_eval(r[NATURAL_COLUMN]) for r in rows])
    paid = pd.DataFrame([ast.literal_eval(r[PAID_COLUMN]) for r in rows])
    for key, slug in NATURAL_SOURCES.items():
        np.testing.assert_array_equal(real[f"natural_{slug}"], natural[key].astype(float))
    for key, slug in PAID_SOURCES.items():
        np.testing.assert_array_equal(real[f"paid_{slug}"], paid[key].astype(float))
    np.testing.assert_array_equal(real["WATCH_UCNT"], [float(r["WATCH_UCNT"]) for r in rows])


def test_real_file_round_trips_through_raw_layout(
    real: pd.DataFrame, real_path: Path, tmp_path: Path
) -> None:
    path = _write(tmp_path, to_raw_layout(real))
    assert path.read_text(encoding="utf-8").splitlines()[0] == real_path.read_text(
        encoding="utf-8"
    ).splitlines()[0]
    pd.testing.assert_frame_equal(read_livestream_csv(path), real, check_exact=True)


def test_generator_columns_equal_real_file_columns(real: pd.DataFrame, week: pd.DataFrame) -> None:
    assert list(week.columns) == list(real.columns)
    assert week.index.name == real.index.name
    assert week.index.dtype == real.index.dtype


# --- crafted files: refusals ----------------------------------------------------------------


def test_malicious_cell_is_refused_and_never_executed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    raw = _small_raw()
    raw.loc[2, NATURAL_COLUMN] = "__import__('os').system('touch PWNED')"
    path = _write(tmp_path, raw)
    with pytest.raises(DataError) as info:
        read_livestream_csv(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert f"column '{NATURAL_COLUMN}'" in message and "row 3" in message
    assert "__import__" in message
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    "cell",
    [
        "{'搜索': 1",  # unbalanced brace
        "{'搜索': 1}}",
        "[1, 2, 3]",  # a list
        "{'搜索': {'a': 1}}",  # nested dict
        "{'搜索': 'many'}",  # a non-number value
        "{'搜索': True}",  # a bool is not a count
        "{'搜索': None}",
        "{'搜索': 1+2j}",
        "{'搜索': [1]}",
        "{1: 2}",  # a non-string key
        "{'搜索': x}",  # a name
        "{'搜索': len('ab')}",  # a call
        "{'搜索': 10**400}",  # an expression
        "{'搜索': 1e999}",  # infinite
        "{'搜索': 007}",  # not a Python literal
        "{'搜索': 1,, '关注': 2}",
        "{'搜索' 1}",
        "dict(a=1)",
        "(1, 2)",
        "7",
    ],
)
def test_malformed_dict_cells_are_refused(tmp_path: Path, cell: str) -> None:
    raw = _small_raw()
    raw.loc[3, PAID_COLUMN] = cell
    with pytest.raises(DataError, match=rf"column '{PAID_COLUMN}', row 4: expected a dict"):
        read_livestream_csv(_write(tmp_path, raw))


def test_first_bad_row_is_reported(tmp_path: Path) -> None:
    raw = _small_raw()
    raw.loc[4, NATURAL_COLUMN] = "[4]"
    raw.loc[1, NATURAL_COLUMN] = "[1]"
    with pytest.raises(DataError, match=r"row 2: .*got '\[1\]'"):
        read_livestream_csv(_write(tmp_path, raw))


def test_long_bad_value_is_truncated(tmp_path: Path) -> None:
    raw = _small_raw()
    raw.loc[0, NATURAL_COLUMN] = "{'搜索': " + "9" * 500 + "x}"
    with pytest.raises(DataError) as info:
        read_livestream_csv(_write(tmp_path, raw))
    assert len(str(info.value)) < 250 and "..." in str(info.value)


def test_non_numeric_value_names_column_and_row(tmp_path: Path) -> None:
    raw = _small_raw()
    raw.loc[1, "WATCH_UCNT"] = "twelve"
    with pytest.raises(DataError) as info:
        read_livestream_csv(_write(tmp_path, raw))
    assert str(info.value) == (
        f"{tmp_path / 'douyin.csv'}: column 'WATCH_UCNT', row 2: "
        "expected a number, got 'twelve'"
    )


def test_bad_timestamp_names_row(tmp_path: Path) -> None:
    raw = _small_raw().astype({TIME_COLUMN: object})
    raw.loc[4, TIME_COLUMN] = "2019-13-45 99:00:00"
    with pytest.raises(DataError, match=rf"column '{TIME_COLUMN}', row 5: expected a timestamp"):
        read_livestream_csv(_write(tmp_path, raw))


@pytest.mark.parametrize("column", [TIME_COLUMN, NATURAL_COLUMN, PAID_COLUMN])
def test_missing_required_column(tmp_path: Path, column: str) -> None:
    raw = _small_raw().drop(columns=[column])
    with pytest.raises(DataError) as info:
        read_livestream_csv(_write(tmp_path, raw))
    message = str(info.value)
    assert f"missing required column '{column}'" in message
    assert "WATCH_UCNT" in message  # lists what is there


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=r"nope\.csv: file not found$"):
        read_livestream_csv(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        read_livestream_csv(path)


def test_flattened_name_collision_is_refused(tmp_path: Path) -> None:
    raw = _small_raw()
    raw.loc[0, NATURAL_COLUMN] = "{'全部自然流量': 3, 'all': 4}"
    with pytest.raises(DataError, match="both flatten to 'natural_all'"):
        read_livestream_csv(_write(tmp_path, raw))


def test_no_eval_or_exec_in_the_module() -> None:
    tree = ast.parse(inspect.getsource(livestream))
    called = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not called & {"eval", "exec", "compile", "__import__"}


# --- crafted files: what is accepted -------------------------------------------------------


def test_empty_dict_cell_gives_nan(tmp_path: Path) -> None:
    raw = _small_raw()
    raw.loc[2, NATURAL_COLUMN] = np.nan
    raw.loc[3, NATURAL_COLUMN] = "   "
    frame = read_livestream_csv(_write(tmp_path, raw))
    natural = [c for c in frame.columns if c.startswith("natural_")]
    assert len(natural) == 10
    assert frame.iloc[2:4][natural].isna().all().all()
    assert frame.iloc[[0, 1, 4]][natural].notna().all().all()
    assert frame.iloc[2:4][["paid_all", "WATCH_UCNT"]].notna().all().all()


def test_empty_numeric_cell_gives_nan(tmp_path: Path) -> None:
    raw = _small_raw()
    raw.loc[1, "WATCH_UCNT"] = ""
    frame = read_livestream_csv(_write(tmp_path, raw))
    assert np.isnan(frame["WATCH_UCNT"].iloc[1])
    assert frame["WATCH_UCNT"].drop(frame.index[1]).notna().all()


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ('{"搜索": 3}', {"natural_search": 3.0}),
        ("{'搜索': 3,}", {"natural_search": 3.0}),
        ("{ '搜索' : 3 , '关注':2 }", {"natural_search": 3.0, "natural_follow": 2.0}),
        ("{'搜索': 1.5, '关注': -2}", {"natural_search": 1.5, "natural_follow": -2.0}),
        ("{}", {}),
    ],
)
def test_dict_spellings_python_accepts(tmp_path: Path, cell: str, expected: dict) -> None:
    raw = _small_raw()
    raw.loc[2, NATURAL_COLUMN] = cell
    frame = read_livestream_csv(_write(tmp_path, raw))
    assert _natural_of(frame, 2) == expected


def test_unknown_key_is_kept(tmp_path: Path) -> None:
    raw = _small_raw()
    raw.loc[1, NATURAL_COLUMN] = "{'搜索': 2, '新来源': 5}"
    frame = read_livestream_csv(_write(tmp_path, raw))
    # Unknown natural keys follow the known natural columns, before the paid ones.
    expected = list(NUMERIC_COLUMNS + TRAFFIC_COLUMNS)
    expected.insert(expected.index("paid_qianchuan_pc"), "natural_新来源")
    assert list(frame.columns) == expected
    assert frame["natural_新来源"].iloc[1] == 5
    assert frame["natural_新来源"].drop(frame.index[1]).isna().all()


def test_file_order_duplicates_and_index_column_kept(tmp_path: Path) -> None:
    raw = _small_raw().iloc[[3, 1, 1, 0]]
    path = tmp_path / "x.csv"
    raw.to_csv(path, index=False)  # also: a file without the leading index column
    frame = read_livestream_csv(path)
    assert list(frame.index) == list(pd.DatetimeIndex(raw[TIME_COLUMN]))
    assert frame.index.has_duplicates


def test_ordinary_file_never_needs_the_literal_eval_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, week: pd.DataFrame
) -> None:
    def refuse(text: str) -> None:
        raise AssertionError(f"slow path used for {text!r}")

    monkeypatch.setattr(livestream, "_checked_literal", refuse)
    path = _write(tmp_path, to_raw_layout(week))
    pd.testing.assert_frame_equal(read_livestream_csv(path), week, check_exact=True)


# --- generator ----------------------------------------------------------------------------


def test_generator_is_deterministic_by_seed(week: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(generate_livestream(days=14, seed=3), week, check_exact=True)
    other = generate_livestream(days=14, seed=4)
    assert not (other.shape == week.shape and other.equals(week))


def test_generator_layout(week: pd.DataFrame) -> None:
    assert list(week.columns) == list(NUMERIC_COLUMNS + TRAFFIC_COLUMNS)
    assert (week.dtypes == np.float64).all()
    assert week.index.name == INDEX_NAME
    assert week.index.is_monotonic_increasing and week.index.is_unique
    assert week.notna().all().all()


def test_generator_accounting(default_stream: pd.DataFrame) -> None:
    g = default_stream
    assert (g >= 0).all().all()
    assert (g == np.round(g)).all().all()  # counts, money and UV value are whole numbers
    natural = [f"natural_{s}" for s in NATURAL_SOURCES.values() if s != "all"]
    paid = [f"paid_{s}" for s in PAID_SOURCES.values() if s != "all"]
    np.testing.assert_array_equal(g[natural].sum(axis=1), g["natural_all"])
    np.testing.assert_array_equal(g[paid].sum(axis=1), g["paid_all"])
    assert (g["PAY_UCNT"] <= g["PAY_CNT"]).all()
    gap = g["WATCH_UCNT"] - g["natural_all"] - g["paid_all"]
    assert abs(gap.mean()) < 1 and gap.abs().quantile(0.9) < 0.5 * g["WATCH_UCNT"].mean()
    assert g["WATCH_UCNT"].between(5, 40, inclusive="neither").mean() > 0.5
    assert g["paid_all"].max() >= 5  # promotion pushes happen


def test_generator_has_dead_days_and_overnight_gaps(default_stream: pd.DataFrame) -> None:
    g = default_stream
    days = g.index.normalize()
    daily = (g["natural_all"] + g["paid_all"]).groupby(days).sum()
    assert len(daily) == 62  # every day has rows, dead ones included
    assert 2 <= (daily < 10).sum() <= 4
    assert g.index.min() >= pd.Timestamp("2019-10-01")
    assert (g.index.hour < 6).sum() == 0  # nobody broadcasts overnight
    steps = g.index.to_series().diff().dropna()
    assert (steps >= pd.Timedelta(hours=6)).sum() >= 61  # one overnight pause per night
    assert (steps == pd.Timedelta(minutes=2)).any()  # a dropped minute inside a session
    span_minutes = (g.index[-1] - g.index[0]) / pd.Timedelta(minutes=1) + 1
    assert 80_000 < span_minutes < 90_000 and len(g) < span_minutes


@pytest.mark.parametrize("days", [0, -1, True, 1.5, "3"])
def test_generator_rejects_bad_days(days: object) -> None:
    with pytest.raises(ConfigError, match="data.synthetic.days"):
        generate_livestream(days=days)  # type: ignore[arg-type]


def test_generator_one_day() -> None:
    frame = generate_livestream(days=1, start="2020-01-04")
    assert len(frame) > 100 and frame.index.normalize().nunique() == 1


def test_round_trip_through_raw_layout(tmp_path: Path, week: pd.DataFrame) -> None:
    raw = to_raw_layout(week)
    assert list(raw.columns[:2]) == [NATURAL_COLUMN, PAID_COLUMN]
    assert raw[NATURAL_COLUMN].iloc[0].startswith("{'短视频引流': ")
    path = _write(tmp_path, raw)
    assert path.read_text(encoding="utf-8").startswith(",natural_flow_trend_index,")
    pd.testing.assert_frame_equal(read_livestream_csv(path), week, check_exact=True)


def test_round_trip_keeps_nan_fractions_and_unknown_keys(tmp_path: Path) -> None:
    frame = generate_livestream(days=1, seed=2).iloc[:6].copy()
    frame.iloc[0, frame.columns.get_loc("natural_search")] = np.nan
    frame.iloc[1, frame.columns.get_indexer([c for c in frame if c.startswith("paid_")])] = np.nan
    frame.iloc[2, frame.columns.get_loc("UV_VALUE")] = 12.345
    frame.iloc[3, frame.columns.get_loc("WATCH_UCNT")] = np.nan
    frame.insert(
        frame.columns.get_loc("paid_qianchuan_pc"), "natural_新来源", [1.0, 2.5, np.nan, 0, 3, 4]
    )
    back = read_livestream_csv(_write(tmp_path, to_raw_layout(frame)))
    pd.testing.assert_frame_equal(back, frame, check_exact=True)


def test_timing_sanity(tmp_path: Path, record_property: pytest.RecordProperty) -> None:
    """Runs the 62-day path end to end once and records (never asserts) how long it took."""
    started = time.perf_counter()
    frame = generate_livestream()
    generated = time.perf_counter()
    path = _write(tmp_path, to_raw_layout(frame))
    written = time.perf_counter()
    back = read_livestream_csv(path)
    parsed = time.perf_counter()
    record_property("generate_s", round(generated - started, 3))
    record_property("write_s", round(written - generated, 3))
    record_property("parse_s", round(parsed - written, 3))
    assert back.shape == frame.shape


def test_a_dict_cell_with_too_many_unknown_sources_is_refused(tmp_path: Path) -> None:
    """Issue 20.7: one cell with 200,000 unknown keys became 200,000 columns (2.5 GB)."""
    from sweepcast.data.dict_cells import MAX_UNKNOWN_KEYS, parse_dict_column

    cell = "{" + ", ".join(f"'source{i}': 1" for i in range(200_000)) + "}"
    with pytest.raises(DataError, match=rf"row 2: more than {MAX_UNKNOWN_KEYS} distinct unknown traffic sources"):
        parse_dict_column(pd.Series(["{'搜索': 1}", cell]), path="day.csv", column="natural_flow_trend_index",
                          prefix="natural_", known={"搜索": "search"})
