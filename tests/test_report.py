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
    assert list(figure.data[0].x) == [3.0, 5.0] and list(figure.data[0].y) == ["#1 units=16", "#0 units=8"]
    assert list(figure.data[1].x) == [6.0, 6.0]
    assert json.loads(figure.to_json())["layout"]["shapes"][0]["x0"] == 4.0
    assert figure.data[2].name == "best gbdt (4)"  # the line is named in the legend


def test_long_configuration_labels_sit_beside_horizontal_bars_in_a_margin_that_fits_them() -> None:
    """Issue 16.11: labels of eight swept keys were rotated under vertical bars and cut off on the left."""
    run = RunView("r", "r", "0", "FINISHED", "", params={"data.source": "livestream"}, metrics={"test_rmse": 5.0},
                  tags={"model_family": "lstm"})
    swept = ["data.timestep", "model.layers", "model.units", "model.dropout", "model.activation",
             "trainer.optimizer", "trainer.learning_rate", "trainer.batch_size"]
    params = {"data.timestep": 200, "model.layers": 3, "model.units": 128, "model.dropout": 0.30377242595071923,
              "model.activation": "sigmoid", "trainer.optimizer": "adagrad",
              "trainer.learning_rate": 0.0094695771722228235, "trainer.batch_size": 256}
    trials = [TrialRow(n, "COMPLETE", 1.0, params, "data.timestep=200 ...", 1.0, run) for n in range(3)]
    figure = figures.config_bars(trials, swept, "test_rmse", "t", True, {"gbdt": 4.0})
    layout = figure.to_plotly_json()["layout"]
    assert figure.data[0].orientation == "h"  # labels on the y axis, read horizontally: nothing rotated
    assert layout["yaxis"]["automargin"] is True and "tickangle" not in layout["xaxis"]
    assert layout["yaxis"]["autorange"] == "reversed"  # best on top
    (first, *_) = figure.data[0].y
    lines = first.split("<br>")
    assert len(lines) > 1 and max(map(len, lines)) <= figures.LABEL_WIDTH  # wrapped, so the margin stays narrow
    assert " ".join(lines) == "#0 timestep=200 layers=3 units=128 dropout=0.304 activation=sigmoid optimizer=adagrad " \
                              "learning_rate=0.00947 batch_size=256"
    assert layout["height"] >= 3 * 14 * len(lines)  # every bar has room for its lines
    assert list(figure.data[0].hovertext) == ["data.timestep=200 ..."] * 3  # the full overrides on hover


def test_heatmap_axes_round_sampled_floats_to_significant_digits(tmp_path: Path) -> None:
    """Issue 16.11: the axes showed raw floats like 0.0094695771722228235."""
    rates = [0.0094695771722228235, 0.00015679933916723, 0.0012345678901234, 0.00123449]
    make_study(tmp_path / "s", [(8 + i, rate, "adam", 5.0 + i, TrialState.COMPLETE) for i, rate in enumerate(rates)])
    sweep = load_sweep(tmp_path / "s", tracking_uri="sqlite:///nowhere/mlflow.db")
    heat = figures.pair_heatmap(sweep.complete(), "model.dropout", "model.units", "val_rmse", "minimize").data[0]
    # 3 significant digits, 4 here (on the whole axis) as 0.00123457 and 0.00123449 would share a label
    assert list(heat.x) == ["0.0001568", "0.001234", "0.001235", "0.00947"]
    assert list(heat.y) == ["8", "9", "10", "11"]
    assert figures.value_labels([1, 1.0, True, 0.0, 100.0, 1.5e-05]) == ["1", "1.0", "True", "0.0", "100.0", "1.5e-05"]


def test_the_summary_marks_swept_keys_with_the_best_trials_value(tmp_path: Path) -> None:
    """Issue 16.11: the summary said ``timestep 30`` (one trial's value) although timestep was swept."""
    folder = tmp_path / "s"
    folder.mkdir()
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{folder / 'optuna.db'}")
    space = {"data.timestep": CategoricalDistribution([10, 30, 60]), "model.dropout": FloatDistribution(0.0, 0.5)}
    study.set_user_attr("search_space", {"data.timestep": "{10, 30, 60}", "model.dropout": "float[0.0, 0.5]"})
    for timestep, dropout, value in [(30, 0.1, 5.0), (10, 0.30377242595071923, 4.0), (60, 0.2, None)]:
        study.add_trial(create_trial(params={"data.timestep": timestep, "model.dropout": dropout}, distributions=space,
                                     value=value, state=TrialState.COMPLETE if value else TrialState.FAIL,
                                     user_attrs={"overrides": [f"data.timestep={timestep}", f"model.dropout={dropout}"]}))
    sweep = load_sweep(folder, tracking_uri="sqlite:///nowhere/mlflow.db")
    for trial in sweep.trials:  # the first trial's run is the one an unmarked summary would describe
        trial.run = RunView(str(trial.number), "r", "0", "FINISHED", "", tags={"model_family": "lstm"},
                            params={"data.source": "livestream", "data.target": "WATCH_UCNT", "data.horizon": "1",
                                    "data.timestep": str(trial.params["data.timestep"])})
    assert sweep.search_space() == {"data.timestep": "{10, 30, 60}", "model.dropout": "float[0.0, 0.5]"}
    page = build_report(sweep)
    summary = page[page.index("<h2>Summary</h2>"):page.index("<h2>Parameter pairs</h2>")]
    assert "timestep swept over {10, 30, 60} (best trial: 10)" in summary
    assert "timestep 30" not in summary and "timestep 10," not in summary
    assert "<tr><td>model.dropout</td><td>float[0.0, 0.5]</td><td>0.304</td></tr>" in summary
    assert "<tr><td>data.timestep</td><td>{10, 30, 60}</td><td>10</td></tr>" in summary


def test_the_summary_says_whether_the_winner_beats_the_best_baseline_and_backtests_show_their_spread() -> None:
    """Issue 14.9: a line against the sweep's best baseline trial (or persistence), and cv bars with error bars."""
    from sweepcast.report.sweep_data import TrialRow
    from sweepcast.report.sweep_report import against_baselines
    from sweepcast.tracking.views import RunView

    def row(number: int, family: str, test: float, cv: float | None = None) -> TrialRow:
        metrics = {"test_rmse": test, "baseline_test_rmse": 12.0,
                   **({"cv_val_rmse": cv, "cv_val_rmse_std": 0.5, "cv_folds": 3.0} if cv is not None else {})}
        run = RunView(str(number), None, "0", "FINISHED", "", {"model.name": family}, metrics, {"model_family": family})
        return TrialRow(number, "COMPLETE", test, {"model": family}, f"model={family}", 1.0, run)

    lstm, gbdt, ets = row(3, "lstm", 9.0, 9.5), row(1, "gbdt", 10.0, 9.8), row(2, "ets", 11.0)
    assert against_baselines([lstm, gbdt, ets], lstm) == ("the winner (lstm) has test RMSE 9 against 10 for the best "
                                                          "baseline trial (gbdt, trial 1): 10.0 % better")
    assert against_baselines([lstm], lstm).endswith("persistence on the same windows: 25.0 % better")
    assert "worse" in against_baselines([gbdt, row(4, "lstm", 12.0)], row(4, "lstm", 12.0))
    spread = figures.backtest_spread([ets, gbdt, lstm], ["model"])
    assert list(spread.data[0].x) == [9.5, 9.8] and list(spread.data[0].error_x.array) == [0.5, 0.5]
    assert figures.backtest_spread([ets], ["model"]) is None  # no backtest: no chart
