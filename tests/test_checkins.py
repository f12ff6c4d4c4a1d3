"""Check-in loading, the synthetic generator and each cleaning filter on crafted rows."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sweepcast.data.checkin_clean import CheckinCleanSpec, clean_checkins
from sweepcast.data.checkins import generate_checkins, haversine_km, read_snap, write_snap
from sweepcast.errors import ConfigError, DataError


def snap(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def row(user: int, time: str, lat: float, lon: float, location: int = 1) -> str:
    return f"{user}\t{time}\t{lat}\t{lon}\t{location}"


def frame(rows: list[tuple[int, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame({"user": [r[0] for r in rows], "time": pd.to_datetime([r[1] for r in rows]),
                         "lat": [r[2] for r in rows], "lon": [r[3] for r in rows], "location": 1})


def test_haversine_against_known_distances() -> None:
    assert haversine_km(np.array([40.0]), np.array([-74.0]), np.array([41.0]), np.array([-74.0]))[0] == pytest.approx(111.19, abs=0.01)
    nyc_boston = haversine_km(np.array([40.7128]), np.array([-74.0060]), np.array([42.3601]), np.array([-71.0589]))[0]
    assert nyc_boston == pytest.approx(306.1, abs=1.0)


def test_plain_and_gzip_load_the_same(tmp_path: Path) -> None:
    lines = [row(0, "2010-10-12T00:21:28Z", 40.64, -73.78, 23261), row(0, "2010-10-11T20:21:20Z", 40.74, -73.98, 16907)]
    plain = snap(tmp_path / "c.txt", lines)
    zipped = tmp_path / "c.txt.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    a, report = read_snap(plain)
    b, _ = read_snap(zipped)
    pd.testing.assert_frame_equal(a, b)
    assert report.rows_in == 2 and a["time"].iloc[0] == pd.Timestamp("2010-10-12 00:21:28")
    assert a["time"].dtype.kind == "M" and (a[["user", "location"]].dtypes == np.int64).all()
    assert (a[["lat", "lon"]].dtypes == np.float64).all()


def test_real_nyc_slice(tmp_path: Path) -> None:
    from tests.conftest import shared_file

    checkins, report = read_snap(shared_file("gowalla_nyc_dev.txt.gz"))
    assert report.rows_in == 27_083 and checkins["user"].nunique() == 1_357
    cleaned, cleaning = clean_checkins(checkins, CheckinCleanSpec(), "nyc")
    assert cleaning.outside_bbox == 0 and 0 < cleaning.rows_out < 27_083


GOOD = row(0, "2010-10-12T00:21:28Z", 40.64, -73.78)


@pytest.mark.parametrize(("bad", "message"), [
    (GOOD + "\textra", "line 2"),
    ("0\t2010-10-12T00:21:28Z\t40.6\t-73.7", "line 2, location: is missing"),
    (row(0, "yesterday", 40.6, -73.7), "line 2: expected a time like 2010-10-12T00:21:28Z, got 'yesterday'"),
    (row(0, "2010-10-12T00:21:28Z", 95.0, -73.7), "line 2: latitude must be in [-90, 90]"),
    ("x\t2010-10-12T00:21:28Z\t40.6\t-73.7\t1", "line 2, user: expected an integer, got 'x'"),
    (row(0, "2010-10-12T00:21:28Z", 40.6, -200.0), "longitude in [-180, 180]"),
])
def test_bad_lines_are_named(tmp_path: Path, bad: str, message: str) -> None:
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_snap(snap(tmp_path / "c.txt", [GOOD, bad, GOOD]))


def test_bad_coordinates_can_be_dropped_and_counted(tmp_path: Path) -> None:
    path = snap(tmp_path / "c.txt", [GOOD, row(0, "2010-10-12T00:21:28Z", 95.0, -73.7), GOOD])
    checkins, report = read_snap(path, bad_rows="drop")
    assert len(checkins) == 2 and report.bad_coordinates == 1
    with pytest.raises(ConfigError, match="data.bad_rows"):
        read_snap(path, bad_rows="ignore")


SPEC = CheckinCleanSpec(min_checkins=1)


def test_a_teleport_is_removed_and_the_next_sound_checkin_kept() -> None:
    rows = [(7, "2010-01-01 10:00", 40.70, -74.00), (7, "2010-01-01 10:20", 34.05, -118.24),  # LA, 20 min later
            (7, "2010-01-01 13:00", 40.75, -73.98)]
    cleaned, report = clean_checkins(frame(rows), CheckinCleanSpec(bbox=None, min_checkins=1), "t")
    assert report.impossible_speed == 1 and cleaned["lat"].tolist() == [40.70, 40.75]


def test_a_fast_car_trip_is_kept() -> None:
    # 30 km in 20 minutes: 90 km/h, a car on a highway
    rows = [(1, "2010-01-01 10:00", 40.50, -74.10), (1, "2010-01-01 10:20", 40.77, -74.10)]
    cleaned, report = clean_checkins(frame(rows), SPEC, "t")
    assert haversine_km(np.array([40.50]), np.array([-74.10]), np.array([40.77]), np.array([-74.10]))[0] == pytest.approx(30.0, abs=0.1)
    assert report.impossible_speed == 0 and len(cleaned) == 2


def test_a_stay_duplicate_is_removed_but_a_later_visit_kept() -> None:
    rows = [(1, "2010-01-01 10:00", 40.7000, -74.0000), (1, "2010-01-01 10:10", 40.7003, -74.0002),  # ~35 m, 10 min
            (1, "2010-01-01 12:00", 40.7000, -74.0000)]  # same place two hours later: a new visit
    cleaned, report = clean_checkins(frame(rows), SPEC, "t")
    assert report.stay_duplicates == 1 and cleaned["time"].dt.hour.tolist() == [10, 12]


def test_out_of_box_points_duplicates_short_users_and_dense_ids() -> None:
    rows = [(5, "2010-01-01 10:00", 40.70, -74.00), (5, "2010-01-02 10:00", 42.36, -71.06),  # Boston
            (5, "2010-01-03 10:00", 40.71, -74.01), (5, "2010-01-03 10:00", 40.71, -74.01),  # exact duplicate
            (9, "2010-01-01 09:00", 40.72, -73.99), (9, "2010-01-01 08:00", 40.80, -73.95),   # newest first
            (3, "2010-01-01 09:00", 40.72, -73.99)]
    cleaned, report = clean_checkins(frame(rows), CheckinCleanSpec(min_checkins=2), "t")
    assert report.outside_bbox == 1 and report.duplicate_lines == 1 and report.short_users == 1
    assert cleaned["user"].tolist() == [0, 0, 1, 1]  # users 5 and 9 -> 0 and 1; user 3 had one check-in
    assert cleaned.groupby("user")["time"].apply(lambda t: t.is_monotonic_increasing).all()
    assert {"clean_outside_bbox", "clean_stay_duplicates", "clean_users_out"} <= set(report.as_metrics())


@pytest.mark.parametrize(("cfg", "key"), [
    ({"bbox": [1, 2, 3]}, "data.clean.bbox"), ({"bbox": [2, 1, 3, 4]}, "data.clean.bbox"),
    ({"max_speed_kmh": 0}, "data.clean.max_speed_kmh"), ({"min_checkins": 0}, "data.clean.min_checkins"),
    ({"speed": 100}, "data.clean.speed"),
])
def test_bad_cleaning_config(cfg: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        CheckinCleanSpec.from_config(cfg)


def test_a_box_that_leaves_nothing_is_one_line() -> None:
    with pytest.raises(DataError, match=r"no check-in inside data.clean.bbox=\[0.0, 1.0, 0.0, 1.0\]"):
        clean_checkins(frame([(1, "2010-01-01", 40.7, -74.0)]), CheckinCleanSpec(bbox=(0.0, 1.0, 0.0, 1.0)), "t")


def test_synthetic_checkins_are_deterministic_and_give_every_filter_work(tmp_path: Path) -> None:
    first, second = generate_checkins(users=60, seed=3), generate_checkins(users=60, seed=3)
    pd.testing.assert_frame_equal(first, second)
    path = write_snap(first, tmp_path / "synthetic.txt.gz")
    loaded, _ = read_snap(path)
    assert len(loaded) == len(first) and (loaded["user"].to_numpy() == first["user"].to_numpy()).all()
    _, report = clean_checkins(loaded, CheckinCleanSpec(), "synthetic")
    assert min(report.outside_bbox, report.duplicate_lines, report.impossible_speed, report.stay_duplicates) > 0
    assert report.rows_out > 0.6 * report.rows_in  # the noise is a share, not the bulk


def test_user_time_order_puts_exact_duplicates_together_with_any_ids() -> None:
    from sweepcast.data.checkin_clean import user_time_order

    rng = np.random.default_rng(1)
    n = 2_000
    user, seconds = rng.integers(0, 30, n), rng.integers(0, 50, n)  # many (user, time) ties
    lat, lon = rng.integers(0, 3, n).astype(float), rng.integers(0, 3, n).astype(float)
    expected = np.lexsort((lon, lat, seconds, user))
    for offset in (0, 2**40):  # small ids take the one-key path, huge ones the lexsort fallback
        order = user_time_order(user + offset, seconds, lat, lon)
        columns = np.column_stack([user, seconds, lat, lon])
        assert (columns[order] == columns[expected]).all()
