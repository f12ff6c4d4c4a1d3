"""The data-exploration page: composed from the real configs, cleaned by the real pipeline."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sweepcast.data.calendar import CalendarSpec
from sweepcast.errors import SweepcastError
from sweepcast.report.explore import build_page, compose_data
from sweepcast.report.series_explore import day_kinds
from tests.test_report import page_figures, traces_of


def series_csv(path: Path, days: int = 4) -> Path:
    stamps = pd.date_range("2024-09-27", periods=48 * days, freq="30min")  # Fri 27 Sep .. Mon 30 Sep
    value = np.where(stamps.hour >= 12, 10.0 + np.arange(len(stamps)) * 0.01, 0.0)
    pd.DataFrame({"timestamp": stamps, "value": value, "twin": value * 2 + 1, "flat": 3.0}).to_csv(path, index=False)
    return path


def test_page_from_composed_config_has_every_analysis(tmp_path: Path) -> None:
    cfg = compose_data(["data=csv_series", f"data.path={series_csv(tmp_path / 's.csv')}", "data.calendar.country=CN"])
    assert cfg["name"] == "csv_series" and cfg["calendar"]["country"] == "CN"
    page = build_page(cfg)
    assert re.findall(r"<h2>(.*?)</h2>", page) == ["Summary", "Series", "Daily profile", "Seasonal decomposition",
                                                  "Correlations"]
    assert "50.0 % of rows have value = 0" in page and "one every 0 days 00:30:00" in page
    (bars,) = [t for t in traces_of(page, "bar") if t.get("orientation") == "h"]
    assert bars["y"] == ["twin"] and bars["x"] == pytest.approx([1.0])  # the constant column has no correlation
    day_parts = [t for t in traces_of(page, "bar") if t.get("orientation") != "h"][0]
    assert day_parts["y"][0] == 0 and day_parts["y"][-1] > 10  # night is all zeros, evening is not
    assert len(page_figures(page)) == 5  # series, hour profile, day parts, decomposition, correlations


def test_weekends_and_chinese_holidays_on_known_dates() -> None:
    index = pd.DatetimeIndex(["2024-09-27 10:00", "2024-09-28 10:00", "2024-09-29 10:00", "2024-10-01 10:00"])
    kinds = day_kinds(index, CalendarSpec(True, "CN", ("weekend", "holiday")))
    # Sat 28 Sep is not a weekend but Sun 29 Sep is a make-up working day for the National Day week
    assert kinds.tolist() == ["weekday", "weekend", "weekday", "holiday"]


def test_short_series_says_why_there_is_no_decomposition(tmp_path: Path) -> None:
    page = build_page(compose_data(["data=csv_series", f"data.path={series_csv(tmp_path / 's.csv', days=1)}"]))
    assert "no seasonal decomposition: a one-day period is 48 steps and the series has 48" in page


def test_bad_override_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SweepcastError, match="explore: .*Could not find 'data/nope'"):
        compose_data(["data=nope"])


@pytest.mark.slow
def test_explore_cli_on_the_taxi_series_logs_to_mlflow(tmp_path: Path, taxi_csv: Path) -> None:
    import mlflow

    done = subprocess.run([sys.executable, "-m", "sweepcast", "explore", "data=csv_series", f"data.path={taxi_csv}",
                           "--mlflow"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    page = (tmp_path / "explore" / "csv_series.html").read_text()
    assert "period 48 steps (one day)" in page
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("csv_series").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "explore"
    assert [a.path for a in client.list_artifacts(run.info.run_id, "explore")] == ["explore/csv_series.html"]
    bad = subprocess.run([sys.executable, "-m", "sweepcast", "explore", "data.path=/nope.csv"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: /nope.csv")
