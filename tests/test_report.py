"""The sweep report on studies built here (complete, pruned and failed trials; categorical, integer
and float parameters), without MLflow: figures' data checked against hand-computed values."""

from __future__ import annotations

import json
import re
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from sweepcast.errors import SweepcastError
from sweepcast.report import sweep_figures as figures
from sweepcast.report.sweep_data import TrialRow, load_sweep
from sweepcast.report.sweep_report import build_report, parse_pairs, write_report
from sweepcast.tracking.views import RunView


def plain(value):
    """Plotly writes numeric arrays as ``{"dtype": "f8", "bdata": base64}``: back to lists."""
    if isinstance(value, dict) and "bdata" in value and "dtype" in value:
        import base64

        import numpy as np

        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = [int(n) for n in str(value.get("shape", len(array))).split(",")]
        return array.reshape(shape).tolist()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def page_figures(page: str) -> dict[str, list[dict]]:
    """Each figure's traces, read back from the ``Plotly.newPlot("figure-n", [traces], ...)`` calls."""
    decoder, found = json.JSONDecoder(), {}
    for match in re.finditer(r'Plotly\.newPlot\(\s*"(figure-\d+)",\s*', page):
        traces, _ = decoder.raw_decode(page, match.end())
        found[match.group(1)] = plain(traces)
    return found


def traces_of(page: str, kind: str) -> list[dict]:
    return [t for traces in page_figures(page).values() for t in traces if t.get("type") == kind]


DISTRIBUTIONS = {"model.units": IntDistribution(8, 64), "model.dropout": FloatDistribution(0.0, 0.5),
                 "trainer.optimizer": CategoricalDistribution(["adam", "adagrad"])}


def make_study(folder: Path, values: list[tuple[int, float, str, float | None, TrialState]]) -> optuna.Study:
    folder.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=folder.name, storage=f"sqlite:///{folder / 'optuna.db'}")
    study.set_user_attr("metric", "val_rmse")
    for units, dropout, optimizer, value, state in values:
        params = {"model.units": units, "model.dropout": dropout, "trainer.optimizer": optimizer}
        study.add_trial(create_trial(
            params=params, distributions=DISTRIBUTIONS, value=value if state == TrialState.COMPLETE else None,
            state=state, intermediate_values={1: value + 1, 2: value} if value is not None else {},
            user_attrs={"overrides": [f"{k}={v}" for k, v in params.items()]},
        ))
    return study


TRIALS = [
    (8, 0.0, "adam", 5.0, TrialState.COMPLETE),
    (8, 0.0, "adam", 4.0, TrialState.COMPLETE),     # the best of cell (8, 0.0)
    (16, 0.2, "adagrad", 6.0, TrialState.COMPLETE),
    (16, 0.2, "adam", 7.0, TrialState.COMPLETE),
    (8, 0.2, "adagrad", 9.0, TrialState.PRUNED),
    (16, 0.0, "adam", None, TrialState.FAIL),        # cell (16, 0.0) stays blank
]


def test_heatmap_cells_hold_the_best_and_mean_of_their_trials(tmp_path: Path) -> None:
    make_study(tmp_path / "s", TRIALS)
    sweep = load_sweep(tmp_path / "s", tracking_uri="sqlite:///nowhere/mlflow.db")
    assert sweep.tracking_uri is None and sweep.direction == "minimize"
    assert [t.value for t in sweep.complete()] == [5.0, 4.0, 6.0, 7.0]
    figure = figures.pair_heatmap(sweep.complete(), "model.dropout", "model.units", "val_rmse", "minimize")
    heat = figure.data[0]
    assert list(heat.x) == ["0.0", "0.2"] and list(heat.y) == ["8", "16"]
    assert [list(row) for row in heat.z] == [[4.0, None], [None, 6.0]]  # pruned and failed trials do not count
    mean = figure.layout.updatemenus[0].buttons[1].args[0]["z"][0]
    assert mean == [[4.5, None], [None, 6.5]]


def test_many_numeric_values_are_binned_into_quantiles() -> None:
    labels, order = figures.bins([i / 100 for i in range(40)])
    assert len(order) == figures.BINS and len(set(labels)) == figures.BINS
    assert order[0].startswith("-0.001") or order[0].startswith("0")
    few, few_order = figures.bins([1, 2, 2, 3])
    assert few_order == ["1", "2", "3"] and few == ["1", "2", "2", "3"]


def test_report_page_is_offline_and_has_every_section(tmp_path: Path) -> None:
    make_study(tmp_path / "s", TRIALS)
    page = build_report(load_sweep(tmp_path / "s", tracking_uri="sqlite:///nowhere/mlflow.db"))
    assert re.findall(r"<h2>(.*?)</h2>", page) == ["Summary", "Parameter pairs", "Configurations", "Optuna"]
    assert "<script src=" not in page and "cdn.plot.ly/plotly" not in page  # plotly.js is embedded, not fetched
    assert page.count("<script type='text/javascript'>") == 1
    assert "4 complete, 1 pruned, 1 fail" in page
    assert "python train.py model.units=8 model.dropout=0.0 trainer.optimizer=adam" in page
    shown = page_figures(page)
    heatmaps = traces_of(page, "heatmap")
    assert len(heatmaps) == 3  # three swept parameters -> three pairs
    assert len(shown) >= 3 + 3  # + optimization history, importances, intermediate values ...
    assert sorted(v for v in traces_of(page, "scatter")[0]["y"] if v is not None)[:1] == [4.0]  # history
    assert "store not found" in page  # no MLflow store: said, not crashed


def test_a_study_without_finished_trials_gives_a_page_that_says_so(tmp_path: Path) -> None:
    make_study(tmp_path / "s", [(8, 0.0, "adam", None, TrialState.FAIL)])
    page = build_report(load_sweep(tmp_path / "s", tracking_uri="sqlite:///nowhere/mlflow.db"))
    assert "No trial has finished yet" in page and "Fewer than two parameters were swept" in page


def test_user_chosen_pairs_and_their_errors(tmp_path: Path) -> None:
    make_study(tmp_path / "s", TRIALS)
    path = write_report(tmp_path / "s", pairs="model.units:trainer.optimizer", tracking_uri="sqlite:///nowhere/x.db")
    page = path.read_text()
    (heatmap,) = traces_of(page, "heatmap")
    assert heatmap["x"] == ["8", "16"] and heatmap["y"] == ["adagrad", "adam"]
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)  # readable by whoever reads the folder
    with pytest.raises(SweepcastError, match=r"'data.timestep' was not swept in this study \(swept: model.units"):
        write_report(tmp_path / "s", pairs="model.units:data.timestep", tracking_uri="sqlite:///nowhere/x.db")
    with pytest.raises(SweepcastError, match="expected name:name pairs"):
        parse_pairs("model.units")


@pytest.mark.parametrize(("setup", "message"), [
    (lambda p: None, "no such sweep folder"),
    (lambda p: p.mkdir(), "holds no study"),
])
def test_bad_sweep_folders(tmp_path: Path, setup, message: str) -> None:
    setup(tmp_path / "s")
    with pytest.raises(SweepcastError, match=message):
        load_sweep(tmp_path / "s")


def test_bars_sort_best_first_and_mark_persistence() -> None:
    run = lambda rmse, base: RunView("r", "r", "0", "FINISHED", "", params={"data.source": "livestream"},  # noqa: E731
                                     metrics={"test_rmse": rmse, "baseline_test_rmse": base},
                                     tags={"model_family": "lstm"})
    trials = [TrialRow(0, "COMPLETE", 1.0, {"model.units": 8}, "", 1.0, run(5.0, 6.0)),
              TrialRow(1, "COMPLETE", 2.0, {"model.units": 16}, "", 1.0, run(3.0, 6.0)),
              TrialRow(2, "FAIL", None, {"model.units": 32}, "", 1.0, None)]
    figure = figures.config_bars(trials, ["model.units"], "test_rmse", "t", True, {"gbdt": 4.0})
    assert list(figure.data[0].y) == [3.0, 5.0] and list(figure.data[0].x) == ["#1 units=16", "#0 units=8"]
    assert list(figure.data[1].y) == [6.0, 6.0]
    assert json.loads(figure.to_json())["layout"]["shapes"][0]["y0"] == 4.0
