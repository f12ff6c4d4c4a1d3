"""Search spaces: hydra-optuna-sweeper syntax to grids and Optuna distributions."""

from __future__ import annotations

import optuna
import pytest
from hydra import compose, initialize_config_dir
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from sweepcast.errors import ConfigError
from sweepcast.sweeper.settings import check_settings
from sweepcast.sweeper.space import command_line_error, distribution, parse_space, suggest
from tests.conftest import ROOT


def test_comma_lists_form_the_cartesian_grid_in_command_line_order() -> None:
    space = parse_space(["trainer=smoke", "model.layers=1,2,3", "trainer.optimizer=adam,adagrad"], None)
    assert space.fixed == ["trainer=smoke"] and space.is_discrete
    grid = space.grid()
    assert len(grid) == 6 and len({tuple(p.items()) for p in grid}) == 6
    assert grid[0] == {"model.layers": 1, "trainer.optimizer": "adam"}
    assert grid[1] == {"model.layers": 1, "trainer.optimizer": "adagrad"}
    assert space.overrides(grid[-1]) == ["trainer=smoke", "model.layers=3", "trainer.optimizer=adagrad"]


def test_range_keeps_hydra_exclusive_end() -> None:
    (param,) = parse_space(["model.layers=range(1,4)"], None).params
    assert param.choices == (1, 2, 3)
    assert distribution(param) == IntDistribution(1, 3, step=1)


def test_intervals_are_float_int_or_log() -> None:
    space = parse_space(["model.dropout=interval(0, 0.5)", "model.layers=int(interval(1, 3))",
                         "trainer.learning_rate=tag(log, interval(1e-4, 1e-2))"], None)
    dropout, layers, rate = (distribution(p) for p in space.params)
    assert dropout == FloatDistribution(0.0, 0.5) and layers == IntDistribution(1, 3)
    assert rate == FloatDistribution(1e-4, 1e-2, log=True)
    assert not space.is_discrete


def test_list_values_and_quoted_strings_travel_as_override_text() -> None:
    (units,) = parse_space(["model.units=[64,32],[16]"], None).params
    assert units.choices == ("[64,32]", "[16]") and distribution(units) == CategoricalDistribution(("[64,32]", "[16]"))
    assert units.text("[16]") == "[16]"


def test_config_params_merge_with_the_command_line_which_wins() -> None:
    space = parse_space(["model.layers=1,2"], {"model.layers": "choice(1,2,3)", "model.dropout": "interval(0,0.2)"})
    by_name = {p.name: p for p in space.params}
    assert by_name["model.layers"].choices == (1, 2) and not by_name["model.dropout"].discrete


@pytest.mark.parametrize("expression, key", [
    ("interval(0.5, 0.1)", "model.dropout"),
    ("tag(log, interval(0, 1))", "model.dropout"),
    ("choice(1,1)", "model.dropout"),
    ("choice(1,", "model.dropout"),
])
def test_bad_expressions_name_their_key(expression: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f"hydra.sweeper.params.{key}"):
        parse_space([], {key: expression})


def test_fingerprint_follows_space_and_fixed_overrides() -> None:
    one = parse_space(["trainer=smoke", "model.layers=1,2"], None).fingerprint()
    assert one == parse_space(["trainer=smoke", "model.layers=1,2"], None).fingerprint()
    assert one != parse_space(["model.layers=1,2"], None).fingerprint()
    assert one != parse_space(["trainer=smoke", "model.layers=1,2,3"], None).fingerprint()


def test_points_to_check_cover_every_grid_point_or_the_extremes() -> None:
    grid = parse_space(["model.layers=1,2", "model.dropout=0.0,0.2"], None)
    assert len(grid.points_to_check()) == 4
    sampled = parse_space(["model.dropout=interval(0, 0.5)", "model.layers=1,2,3"], None)
    points = sampled.points_to_check()
    assert {"model.dropout": 0.0, "model.layers": 1} in points and {"model.dropout": 0.5, "model.layers": 3} in points
    assert {"model.dropout": 0.0, "model.layers": 2} in points


def test_suggest_reuses_queued_points_and_samples_the_rest() -> None:
    space = parse_space(["model.layers=1,2", "data.timestep=range(10,40,10)"], None)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial({"model.layers": 2, "data.timestep": 30})
    assert suggest(study.ask(), space) == {"model.layers": 2, "data.timestep": 30}
    sampled = parse_space(["model.dropout=interval(0, 0.5)", "x=range(0.1,0.5,0.1)"], None)
    values = suggest(study.ask(), sampled)
    assert 0 <= values["model.dropout"] <= 0.5 and values["x"] in (0.1, 0.2, 0.30000000000000004, 0.4)


def test_command_line_error_is_one_line_for_a_broken_expression() -> None:
    assert command_line_error(["-m", "trainer=smoke", "model.layers=1,2"]) is None
    assert command_line_error(["--config-name", "train", "model.layers=choice(1,2"]).startswith(
        "override 'model.layers=choice(1,2': ")


def test_search_livestream_lstm_composes_to_the_issue_space() -> None:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["search=livestream_lstm"], return_hydra_config=True)
    settings = check_settings(cfg.hydra.sweeper)
    space = parse_space([], settings.params)
    by_name = {p.name: p for p in space.params}
    assert by_name["data.timestep"].choices == (10, 30, 60, 100, 200)
    assert by_name["model.layers"].choices == (1, 2, 3) and by_name["model.units"].choices == (32, 64, 128)
    assert (by_name["model.dropout"].low, by_name["model.dropout"].high) == (0.0, 0.5)
    assert set(by_name["model.activation"].choices) == {"tanh", "sigmoid", "relu", "elu"}
    assert by_name["trainer.optimizer"].choices == ("adam", "adagrad") and by_name["trainer.learning_rate"].log
    assert "trainer.batch_size" in by_name and not space.is_discrete
    assert settings.pruner["_target_"] == "optuna.pruners.SuccessiveHalvingPruner" and settings.study_name is None


def test_two_hydra_modes_are_one_line_not_a_traceback() -> None:
    assert command_line_error(["--cfg", "job", "-m", "model.layers=1,2"]).startswith(
        "--cfg and --multirun cannot be combined")
    assert command_line_error(["-c", "job", "model.layers=2"]) is None
    assert command_line_error(["-m", "--multirun", "model.layers=1,2"]) is None  # the same mode twice is Hydra's


def test_train_py_refuses_two_modes_with_status_2(tmp_path) -> None:
    import subprocess
    import sys
    from pathlib import Path

    train = Path(__file__).resolve().parents[1] / "train.py"
    done = subprocess.run([sys.executable, str(train), "--cfg", "job", "-m", "model.layers=1,2"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: --cfg and --multirun cannot be combined")
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_warm_start_point_fits_by_the_rule_trials_run_with() -> None:
    """0.0 is not the choice 0 and True is not 1 (Param.text would refuse them mid-sweep)."""
    from sweepcast.sweeper.warm_start import misfit

    space = parse_space(["model.layers=choice(0,1,2)", "model.dropout=interval(0.1,0.5)"], None)
    assert misfit({"model.layers": 1, "model.dropout": 0.2}, space) is None
    assert misfit({"model.layers": 1}, space) is None  # a key the earlier study did not search: sampled
    assert "model.layers=0.0" in misfit({"model.layers": 0.0}, space)
    assert "model.layers=True" in misfit({"model.layers": True}, space)
    assert "model.dropout=0.6" in misfit({"model.layers": 2, "model.dropout": 0.6}, space)
