"""An exported model's preprocessing on raw rows, without TensorFlow: a stand-in network (numpy)
shows where each value comes from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sweepcast.cli import one_line
from sweepcast.data.pipeline import prepare
from sweepcast.data.scalers import scaler_state
from sweepcast.data.sources import as_text
from sweepcast.errors import DataError, SweepcastError
from sweepcast.export.package import is_better, registered_name
from sweepcast.export.preprocessing import Preprocessing
from sweepcast.export.select import default_direction

VALUES = np.arange(100.0) * 2 + 5  # a line: easy to check forecasts by hand


def data_cfg(path: Path, **extra) -> dict:
    return {"name": "t", "source": "csv_series", "path": str(path), "timestamp_column": "timestamp",
            "value_columns": None, "target": "value", "features": None, "timestep": 4, "scaler": "minmax",
            "split": {"train": 0.6, "val": 0.2}, "clean": {"nan": "interpolate", "freq": "infer", "fill_value": None},
            **extra}


def rows(n: int = 100, start: str = "2024-03-01") -> pd.DataFrame:
    stamps = pd.date_range(start, periods=n, freq="30min").strftime("%Y-%m-%d %H:%M:%S")
    return pd.DataFrame({"timestamp": stamps, "value": [str(v) for v in VALUES[:n]],
                         "other": [str(v % 7) for v in range(n)]})


def preprocessing(tmp_path: Path, **extra) -> Preprocessing:
    path = tmp_path / "series.csv"
    rows().to_csv(path, index=False)
    cfg = data_cfg(path, **extra)
    data = prepare(cfg)
    return Preprocessing.from_run(cfg, {"features": data.features, "input_scaler": scaler_state(data.input_scaler),
                                        "target_scaler": scaler_state(data.target_scaler), "step": "0 days 00:30:00"})


def last_value(window: np.ndarray) -> np.ndarray:
    """A persistence 'network': its scaled output is the window's last scaled target."""
    return window[:, -1, :1]


def test_a_one_step_univariate_model_is_fed_back_to_any_horizon(tmp_path: Path) -> None:
    prep = preprocessing(tmp_path)
    assert prep.max_horizon() is None
    forecast = prep.forecast(last_value, rows(30), horizon=3)
    assert list(forecast.columns) == ["timestamp", "step", "value"]
    assert forecast["value"].tolist() == pytest.approx([VALUES[29]] * 3)
    assert forecast["timestamp"].tolist() == ["2024-03-01 15:00:00", "2024-03-01 15:30:00", "2024-03-01 16:00:00"]
    assert forecast["step"].tolist() == [1, 2, 3]


def test_only_the_last_timestep_rows_matter_and_numbers_are_accepted_as_text(tmp_path: Path) -> None:
    prep = preprocessing(tmp_path)
    numeric = rows(30).assign(value=VALUES[:30])  # a JSON request may carry numbers
    assert prep.forecast(last_value, numeric, 1)["value"].tolist() == pytest.approx([VALUES[29]])
    text = as_text(pd.DataFrame({"a": [1.0, 2.5, None]}))["a"]
    assert text.tolist()[:2] == ["1", "2.5"] and pd.isna(text.iloc[2])  # missing stays missing


def test_a_direct_multivariate_model_gives_at_most_its_horizon(tmp_path: Path) -> None:
    prep = preprocessing(tmp_path, features=["value", "other"], horizon=2)
    assert prep.max_horizon() == 2

    def two_steps(window: np.ndarray) -> np.ndarray:
        return np.repeat(window[:, -1, :1], 2, axis=1)

    assert len(prep.forecast(two_steps, rows(30), 1)) == 1
    assert len(prep.forecast(two_steps, rows(30), 2)) == 2
    with pytest.raises(SweepcastError, match=r"horizon 3: this model forecasts at most 2 step\(s\)"):
        prep.forecast(two_steps, rows(30), 3)


@pytest.mark.parametrize(("broken", "message"), [
    (rows(3), r"3 row\(s\) after cleaning; the model reads the last 4 \(data.timestep\)"),
    (rows(30).drop(columns="value"), "request: target column 'value' \\(data.target\\) not found"),
    (rows(30).assign(value=["x"] + [str(v) for v in VALUES[1:30]]), "column 'value', row 1: expected a number"),
    (rows(30).assign(timestamp="soon"), "column 'timestamp', row 1: expected a timestamp"),
    (rows(0), "expected rows in the training data's layout, got none"),
])
def test_bad_rows_are_named(tmp_path: Path, broken: pd.DataFrame, message: str) -> None:
    with pytest.raises(DataError, match=message):
        preprocessing(tmp_path).forecast(last_value, broken, 1, "request")


@pytest.mark.parametrize("horizon", [0, -1, 1.5, True])
def test_bad_horizons(tmp_path: Path, horizon: object) -> None:
    with pytest.raises(SweepcastError, match="horizon"):
        preprocessing(tmp_path).check_horizon(horizon)


def test_registry_helpers() -> None:
    assert default_direction("test_r2") == "maximize" and default_direction("skill") == "maximize"
    assert default_direction("val_rmse") == "minimize"
    assert is_better(1.0, 2.0, "minimize") and is_better(2.0, 1.0, "maximize") and not is_better(2.0, 2.0, "minimize")
    fake = type("Run", (), {"preprocessing": type("P", (), {"target": "WATCH UCNT/min"})()})()
    assert registered_name(fake, "live stream") == "live_stream-WATCH_UCNT_min-forecaster"
    assert one_line("Failed to predict data 'x\ny'. \nError: Model is missing inputs ['a'].") == "Model is missing inputs ['a']."


def test_an_inferred_training_frequency_is_pinned_for_requests(tmp_path: Path) -> None:
    """Every other row sent: the gaps are filled on the 30-minute training grid (interpolated),
    not re-gridded to hours."""
    prep = preprocessing(tmp_path)
    assert prep.serving_config()["clean"]["freq"] == "30min"
    forecast = prep.forecast(last_value, rows(31).iloc[::2], 1)
    assert forecast["timestamp"].tolist() == ["2024-03-01 15:30:00"]  # row 30 + 30 min
    assert forecast["value"].tolist() == pytest.approx([VALUES[30]])


def test_a_window_with_missing_values_is_refused(tmp_path: Path) -> None:
    prep = preprocessing(tmp_path)
    blank = rows(30).assign(value="")
    with pytest.raises(DataError, match="column 'value' has missing values in the last 4 rows"):
        prep.forecast(last_value, blank, 1)


def test_champion_is_judged_on_its_own_metric() -> None:
    from types import SimpleNamespace

    from sweepcast.export.package import champion_verdict
    from sweepcast.export.select import Candidate

    champion = SimpleNamespace(version="1", tags={"metric": "val_rmse", "metric_value": "1.0", "direction": "minimize"})
    run = lambda metrics: SimpleNamespace(metrics=metrics, tags={}, config={})  # noqa: E731
    by_mae = Candidate("b", "b", "0", "test_mae", "minimize", 0.1, "m", "s")
    assert champion_verdict(champion, by_mae, run({"val_rmse": 2.0}))[1] is False  # worse on val_rmse: stays
    assert champion_verdict(champion, by_mae, run({"val_rmse": 0.5}))[1] is True
    assert champion_verdict(champion, by_mae, run({}))[1] is False  # nothing to compare
    by_hand = SimpleNamespace(version="3", tags={})
    verdict, moves = champion_verdict(by_hand, by_mae, run({"val_rmse": 0.1}))
    assert not moves and "set by hand" in verdict
    assert champion_verdict(None, by_mae, run({}))[1] is True


def test_sweep_direction_follows_the_metric(tmp_path: Path) -> None:
    import mlflow

    from sweepcast.export.select import quote, sweep_scope

    folder = tmp_path / "sweeps" / "s"
    folder.mkdir(parents=True)
    (folder / "best.yaml").write_text("study_name: s\nmetric: val_r2\ndirection: maximize\n")
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert sweep_scope(client, folder, None, None).direction == "maximize"
    assert sweep_scope(client, folder, "test_rmse", None).direction == "minimize"
    assert sweep_scope(client, folder, "test_rmse", "maximize").direction == "maximize"
    assert quote("it's") == '"it\'s"' and quote("a\\b") == "'a\\b'"
    with pytest.raises(SweepcastError, match="both quote"):
        quote("'\"")


def test_heatmap_bins_keep_distinct_values_apart_and_labels_unique() -> None:
    from sweepcast.report.sweep_figures import bins

    labels, order = bins([1, 1.0, 2])
    assert order == ["1", "1.0", "2"] and labels == ["1", "1.0", "2"]
    narrow = [0.001 + i * 1e-7 for i in range(40)]
    labels, order = bins(narrow)
    assert len(order) == len(set(order)) == 6 and order[0].startswith("0.001–")
    assert float(order[0].split("–")[0]) == pytest.approx(min(narrow))


def test_a_fed_back_forecast_is_bounded(tmp_path: Path) -> None:
    """Issue 20.7: --horizon 10000 on a fed-back model ran ~40 minutes; now one line."""
    from sweepcast.export.preprocessing import MAX_FED_BACK_STEPS

    prep = preprocessing(tmp_path)
    assert prep.check_horizon(MAX_FED_BACK_STEPS) == MAX_FED_BACK_STEPS
    with pytest.raises(SweepcastError, match=r"horizon 10000: a fed-back forecast is limited to 1000 steps"):
        prep.forecast(last_value, rows(30), horizon=10_000)


def test_an_exported_log1p_model_forecasts_in_original_units(tmp_path: Path) -> None:
    """Issue 14.4: the window gets log1p before scaling and forecasts expm1 after unscaling, fed back too;
    a persistence 'network' must give the last raw value back, whatever the transform."""
    prep = preprocessing(tmp_path, transform="log1p")
    forecast = prep.forecast(last_value, rows(30), horizon=3)
    assert forecast["value"].tolist() == pytest.approx([VALUES[29]] * 3, rel=1e-6)  # float32 windows
    negative = rows(30).assign(value=[str(-v) for v in VALUES[:30]])
    with pytest.raises(DataError, match=r"column 'value'.*data.transform=log1p needs values >= 0"):
        prep.forecast(last_value, negative, horizon=1)
