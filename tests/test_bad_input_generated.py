"""The bad-input generator (issue 20): malformed CSV series and SNAP check-in files, and random
bad overrides, drawn by hypothesis instead of listed by hand (``tests/test_bad_input.py``).

What each example must give is what ``train.py`` promises before any MLflow run exists: either
the file is usable (a mutation may leave it sound) or one :class:`SweepcastError` line naming
the file, a column, a row or a config key. Any other exception is a bug; hypothesis shrinks it
to the smallest file that shows it. The in-process tests call the very code ``job.run`` calls
first (``parse_run`` then ``task.prepare``); a few drawn files also go through ``train.py``
itself, checked for exit status 2, one ``[ERROR]`` line, no traceback and no MLflow run.

Bounded and seeded for CI (``derandomize``: the same examples every run, about a minute in
all). ``SWEEPCAST_FUZZ_EXAMPLES=2000`` draws more, and random ones, for a longer hunt.
"""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path
from typing import Any, Callable

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sweepcast.errors import SweepcastError
from sweepcast.run_spec import parse_run
from tests.test_train_e2e import runs, train

CONF = Path(__file__).resolve().parents[1] / "conf"
FUZZ = int(os.environ.get("SWEEPCAST_FUZZ_EXAMPLES", "0"))
FILE_EXAMPLES = FUZZ or 150
OVERRIDE_EXAMPLES = FUZZ or 120
THROUGH_TRAIN = 4 if not FUZZ else max(4, FUZZ // 100)
FUZZ_SETTINGS = settings(max_examples=FILE_EXAMPLES, deadline=None, derandomize=not FUZZ, database=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# -- sound files the mutations start from --


def sound_series(rows: int = 120) -> list[list[str]]:
    """A header and ``rows`` half-hourly rows of timestamp, value, extra."""
    body = [[f"2024-01-{1 + i // 48:02d} {(i % 48) // 2:02d}:{30 * (i % 2):02d}:00", f"{100 + (i * 7) % 53}",
             f"{(i * 3) % 11}"] for i in range(rows)]
    return [["timestamp", "value", "extra"], *body]


def sound_checkins(users: int = 3, per_user: int = 16) -> list[list[str]]:
    """SNAP's five tab-separated fields, a few hours apart per user, inside New York."""
    return [[f"{u}", f"2010-10-{1 + i // 4:02d}T{(i % 4) * 5:02d}:{u:02d}:00Z", f"{40.70 + 0.002 * i:.5f}",
             f"{-73.95 - 0.002 * u:.5f}", f"{100 * u + i % 5}"] for u in range(users) for i in range(per_user)]


# -- mutations: each takes the rows and a hypothesis draw, returns rows or bytes --

BAD_CELLS = ["", "nan", "NaN", "inf", "-inf", "1e308", "-1e308", "1e400", "-5", "abc", "None", "{'a': 1}",
             "0x1F", "1,5", " ", "\"", "99999999999999999999999"]


def replace_cells(rows: list[list[str]], draw: Callable) -> list[list[str]]:
    rows = [list(r) for r in rows]
    for _ in range(draw(st.integers(1, 8))):
        r = draw(st.integers(0, len(rows) - 1))
        if rows[r]:
            c = draw(st.integers(0, len(rows[r]) - 1))
            rows[r][c] = draw(st.sampled_from(BAD_CELLS) | st.text(max_size=6))
    return rows


def reorder(rows: list[list[str]], draw: Callable) -> list[list[str]]:
    head, body = rows[:1], rows[1:]
    if len(body) < 2:
        return rows
    how = draw(st.sampled_from(["reverse", "swap", "duplicate", "duplicate_time"]))
    if how == "reverse":
        body = body[::-1]
    elif how == "swap":
        i, j = draw(st.integers(0, len(body) - 1)), draw(st.integers(0, len(body) - 1))
        body[i], body[j] = body[j], body[i]
    elif how == "duplicate":
        i = draw(st.integers(0, len(body) - 1))
        body = body[:i] + [body[i]] * draw(st.integers(2, 50)) + body[i:]
    else:
        body = [[body[0][0], *r[1:]] if n % 3 == 0 else r for n, r in enumerate(body)]
    return head + body


def reshape(rows: list[list[str]], draw: Callable) -> list[list[str]]:
    how = draw(st.sampled_from(["drop_column", "extra_column", "ragged", "rename", "no_rows", "one_row"]))
    if how == "drop_column":
        c = draw(st.integers(0, len(rows[0]) - 1))
        return [r[:c] + r[c + 1:] for r in rows]
    if how == "extra_column":
        return [r + [draw(st.sampled_from(["x", "1", "", "nan"]))] for r in rows]
    if how == "ragged":
        return [r[: draw(st.integers(0, len(r) + 1))] if n % 7 == 3 else r for n, r in enumerate(rows)]
    if how == "rename":
        return [[draw(st.sampled_from(["Timestamp", "time", "", "value", "valeur", "\ufeffvalue"])), *rows[0][1:]],
                *rows[1:]]
    return rows[:1] if how == "no_rows" else rows[:2]


def offsets(rows: list[list[str]], draw: Callable) -> list[list[str]]:
    """Timestamps in mixed or odd forms: offsets, dates only, epoch seconds, words."""
    form = draw(st.sampled_from(["+05:00", "Z", "-11:00", " ", "T"]))
    return [[r[0] + form if n % draw(st.integers(1, 5)) == 0 else r[0], *r[1:]] if r else r
            for n, r in enumerate(rows)]


def to_text(rows: list[list[str]], delimiter: str, draw: Callable) -> str:
    line_end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    delimiter = draw(st.sampled_from([delimiter, delimiter, ";", "\t", " ", "|"]))
    return line_end.join(delimiter.join(r) for r in rows) + line_end


def to_bytes(text: str, draw: Callable) -> bytes:
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]))
    data = text.encode(encoding, errors="replace")
    how = draw(st.sampled_from(["none", "none", "truncate", "random_bytes", "nul"]))
    if how == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif how == "random_bytes":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]
    elif how == "nul":
        data = data.replace(b"\n", b"\x00\n", 3)
    return data


@st.composite
def malformed(draw: Callable, kind: str) -> tuple[str, bytes]:
    """A file name and its bytes: a sound table of ``kind`` put through one to three mutations."""
    rows, delimiter = (sound_series(), ",") if kind == "series" else (sound_checkins(), "\t")
    for mutation in draw(st.lists(st.sampled_from([replace_cells, reorder, reshape, offsets]), min_size=1, max_size=3)):
        rows = mutation(rows, draw)
    data = to_bytes(to_text(rows, delimiter, draw), draw)
    if draw(st.booleans()) and draw(st.booleans()):  # a quarter are gzipped, some of those cut short
        data = gzip.compress(data)
        if draw(st.booleans()):
            data = data[: draw(st.integers(0, len(data)))]
        return "drawn.csv.gz" if delimiter == "," else "drawn.txt.gz", data
    return "drawn.csv" if delimiter == "," else "drawn.txt", data


# -- the check --


@functools.cache
def base_configs() -> dict[str, Any]:
    """The composed configs the examples edit, once per module (composing costs ~0.1 s); not a
    fixture, so hypothesis does not print them with every failing example."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        made = {name: compose("train", overrides=[f"data={name}", "trainer=smoke", "tracking.log_model=false",
                                                  *extra])
                for name, extra in (("csv_series", ["data.timestep=12"]), ("checkins", ["data.timestep=4"]))}
    GlobalHydra.instance().clear()
    return made


def prepare_or_error(cfg: Any) -> str | None:
    """What ``job.run`` does before it opens a run: None when the data is usable, else the one
    error line. Anything but a SweepcastError propagates, and fails the example."""
    try:
        spec = parse_run(cfg)
        spec.task.prepare(spec.data, spec.trainer.max_points)
    except SweepcastError as err:
        return str(err)
    return None


def with_data(base: Any, path: Path, **more: Any) -> Any:
    cfg = base.copy()
    cfg.data.path = str(path)
    for key, value in more.items():
        cfg.data[key] = value
    return cfg


def assert_one_line_naming(message: str, name: str) -> None:
    assert message.strip() and "\n" not in message.strip(), message
    assert "Traceback" not in message
    named = (name in message or "column" in message or "config key" in message or "data." in message
             or "row" in message or "line" in message)
    assert named, f"the error names neither the file, a column, a row nor a key: {message}"


def check_drawn_file(drawn: tuple[str, bytes], folder: Path, config: str, **more: Any) -> None:
    """Write the drawn file and prepare it as ``config``'s data: it loads, or one line names it."""
    name, data = drawn
    (folder / name).write_bytes(data)
    message = prepare_or_error(with_data(base_configs()[config], folder / name, **more))
    if message is not None:
        assert_one_line_naming(message, name)


@FUZZ_SETTINGS
@given(drawn=malformed("series"))
def test_malformed_csv_series_give_one_line_or_load(drawn: tuple[str, bytes],
                                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    check_drawn_file(drawn, tmp_path_factory.mktemp("csv"), "csv_series")


@FUZZ_SETTINGS
@given(drawn=malformed("checkins"))
def test_malformed_snap_checkins_give_one_line_or_load(drawn: tuple[str, bytes],
                                                       tmp_path_factory: pytest.TempPathFactory) -> None:
    check_drawn_file(drawn, tmp_path_factory.mktemp("snap"), "checkins", bad_rows="fail")


# -- random overrides: a known key given a value of the wrong kind or range --

KEYS = ["model.d_model", "model.heads", "model.ff_units", "data.timestep", "data.horizon", "data.split.train", "data.split.val", "data.scaler", "data.strategy",
        "data.clean.nan", "data.clean.duplicates", "data.clean.freq", "data.features", "data.target",
        "model.layers", "model.units", "model.dropout", "model.activation", "trainer.epochs",
        "trainer.batch_size", "trainer.learning_rate", "trainer.optimizer", "trainer.patience",
        "trainer.max_points", "trainer.seed", "optimized_metric"]
VALUES = st.one_of(st.sampled_from([-1, 0, 1.5, 1e308, -1e308, float("nan"), float("inf"), True, "abc", "", None,
                                    [], [1, 2], {"a": 1}, 10**12, "1e-3", "relu", "adam"]),
                   st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))


@settings(max_examples=OVERRIDE_EXAMPLES, deadline=None, derandomize=not FUZZ, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(changes=st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1, max_size=3))
def test_random_overrides_are_refused_naming_the_key_or_accepted(changes: dict[str, Any]) -> None:
    """Each drawn value goes where a user's override would land; the checks must name one of
    the drawn keys (or accept the values). Data here is the synthetic default, so a value
    that passes the checks runs the real preparation on it."""
    from omegaconf import OmegaConf

    cfg = base_configs()["csv_series"].copy()
    cfg.data.path = None
    cfg = OmegaConf.merge(cfg, {"data": {"source": "livestream", "task": "series", "name": "livestream"}})
    cfg = OmegaConf.create(OmegaConf.to_container(cfg))
    for key, value in changes.items():
        OmegaConf.update(cfg, key, value, merge=False, force_add=True)
    try:
        parse_run(cfg)
    except SweepcastError as err:
        message = str(err)
        assert "\n" not in message.strip() and message.strip(), message
        assert any(key in message or key.rsplit(".", 1)[-1] in message for key in changes), (changes, message)


# -- a few drawn files through train.py itself --


@pytest.mark.slow
@settings(max_examples=THROUGH_TRAIN, deadline=None, derandomize=not FUZZ, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
@given(drawn=malformed("series"))
def test_drawn_bad_files_through_train_exit_2_with_one_line(drawn: tuple[str, bytes],
                                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    name, data = drawn
    folder = tmp_path_factory.mktemp("train")
    (folder / name).write_bytes(data)
    assume(prepare_or_error(with_data(base_configs()["csv_series"], folder / name)) is not None)  # bad ones only
    done = train(folder, "data=csv_series", f"data.path={name}", "data.timestep=12", "trainer=smoke",
                 "tracking.log_model=false")
    output = done.stdout + done.stderr
    errors = [line for line in output.splitlines() if "[ERROR]" in line or line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1, output[-3000:]
    assert "Traceback" not in output
    assert runs(folder) == []
