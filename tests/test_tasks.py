"""The task seam: one place decides the task, one fitted-state schema, and old layouts still read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sweepcast.data.scalers import scaler_state
from sweepcast.errors import ConfigError
from sweepcast.export.checkin_preprocessing import CheckinPreprocessing
from sweepcast.export.preprocessing import Preprocessing
from sweepcast.fitted_state import FittedState
from sweepcast.tasks import available, load_task, prepare, preprocessing_from_json, task_for, task_of_params


def series_cfg(path: Path, **extra) -> dict:
    stamps = pd.date_range("2024-03-01", periods=120, freq="30min")
    pd.DataFrame({"timestamp": stamps, "value": np.arange(120.0)}).to_csv(path, index=False)
    return {"name": "t", "source": "csv_series", "task": "series", "path": str(path), "timestamp_column": "timestamp",
            "value_columns": None, "target": "value", "features": None, "timestep": 4, "horizon": 2,
            "scaler": "minmax", "split": {"train": 0.6, "val": 0.2},
            "clean": {"nan": "interpolate", "freq": "infer", "fill_value": None}, **extra}


def test_every_task_module_is_found_and_meets_the_contract() -> None:
    assert {"series", "checkins"} <= set(available())
    for name in available():
        task = load_task(name)
        assert task.name == name
        assert "val_rmse" in task.optimizable or task.optimizable
        for method in ("settings", "prepare", "evaluate", "fitted_state", "summary", "preprocessing", "card",
                       "best_trial_figures", "explore_page", "describe"):
            assert callable(getattr(task, method)), (name, method)


def test_the_task_comes_from_data_task_else_from_the_source_of_older_configs() -> None:
    assert task_for({"task": "checkins", "source": "checkins"}).name == "checkins"
    assert task_for({"task": "series", "source": "livestream"}).name == "series"
    assert task_for({"source": "checkins"}).name == "checkins"  # a run logged before data.task existed
    assert task_for({"source": "csv_series"}).name == "series"
    assert task_of_params({"data.source": "checkins"}).name == "checkins"
    with pytest.raises(ConfigError, match=r"config key 'data.task': expected one of \("):
        task_for({"task": "weather", "source": "livestream"})


def test_a_fitted_state_round_trips_through_json_and_the_run_writes_one(tmp_path: Path) -> None:
    cfg = series_cfg(tmp_path / "s.csv")
    task = task_for(cfg)
    data = prepare(cfg)
    state = task.fitted_state(data)
    payload = json.loads(json.dumps(state.to_json()))
    assert payload["kind"] == "series" and payload["timestep"] == 4 and payload["horizon"] == 2
    assert payload["step"] == "0 days 00:30:00" and payload["data"]["path"] == cfg["path"]
    assert FittedState.from_json(payload) == state
    served = preprocessing_from_json(payload)
    assert isinstance(served, Preprocessing) and served.task == data.task and served.features == ["value"]


def test_layouts_written_before_the_fitted_state_still_read(tmp_path: Path) -> None:
    """A run's scalers.json of before (no data: it comes from config.yaml) and an export's
    preprocessing.json of before (no timestep, a check-in one marked by kind)."""
    cfg = series_cfg(tmp_path / "s.csv")
    data = prepare(cfg)
    scalers = {"input_scaler": scaler_state(data.input_scaler), "target_scaler": scaler_state(data.target_scaler)}
    old_run = {"target": "value", "features": ["value"], "timestep": 4, "horizon": 2, "strategy": "direct",
               "step": "0 days 00:30:00", **scalers}
    from_run = preprocessing_from_json(old_run, cfg)
    assert isinstance(from_run, Preprocessing) and from_run.step == "0 days 00:30:00" and from_run.data == cfg
    old_export = {"data": cfg, "features": ["value"], **scalers, "step": "0 days 00:30:00"}
    from_export = preprocessing_from_json(old_export)
    assert from_export.state.timestep == 4 and from_export.task.horizon == 2
    checkin_cfg = {"name": "checkins", "source": "checkins", "path": None, "timestep": 3}
    old_checkins = {"data": checkin_cfg, "features": ["dt", "lat", "lon"], **scalers, "kind": "checkins"}
    assert isinstance(preprocessing_from_json(old_checkins), CheckinPreprocessing)
    with pytest.raises(ValueError, match="data config"):
        FittedState.from_json({"features": [], **scalers})


FIXTURE = Path(__file__).parent / "fixtures" / "export_before_tasks"


def test_a_model_exported_before_the_task_seam_forecasts_the_same_numbers_today() -> None:
    """The old ``preprocessing.json`` through today's code and the exported network give the
    forecast the exporting code gave (tests/fixtures/export_before_tasks/README.md)."""
    import mlflow.keras

    served = preprocessing_from_json(json.loads((FIXTURE / "artifacts" / "preprocessing.json").read_text()))
    network = mlflow.keras.load_model(str(FIXTURE / "artifacts" / "network"))
    example = json.loads((FIXTURE / "input_example.json").read_text())["inputs"]
    rows = pd.DataFrame(example["data"], columns=example["columns"])
    forecast = served.forecast(lambda w: network.predict(w, verbose=0), rows, 3)
    expected = pd.read_csv(FIXTURE / "expected_forecast.csv")
    assert forecast["timestamp"].tolist() == expected["timestamp"].tolist()
    assert np.allclose(forecast["WATCH_UCNT"], expected["WATCH_UCNT"], rtol=0, atol=1e-5)
