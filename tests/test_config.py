"""Compose the real configs the way Hydra does and check they are valid as shipped."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from sweepcast.fitting import validate_trainer
from sweepcast.models import validate_model
from sweepcast.run_spec import parse_run, resolve
from sweepcast.tasks import load_task
from tests.conftest import ROOT

CONF = str(ROOT / "conf")


def composed(*overrides: str) -> dict:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return resolve(compose(config_name="train", overrides=list(overrides)))


def test_defaults() -> None:
    cfg = composed()
    assert cfg["data"]["source"] == "livestream" and cfg["data"]["path"] is None
    assert cfg["data"]["target"] == "WATCH_UCNT"
    assert cfg["model"]["name"] == "lstm"
    assert cfg["optimized_metric"] is None  # the task's own: val_rmse for a series
    assert parse_run(cfg).optimized == "val_rmse" == load_task("series").default_metric
    assert cfg["tracking"]["experiment"] == "livestream"
    validate_model(cfg["model"])
    spec = validate_trainer(cfg["trainer"])
    assert spec.early_stopping_patience is not None and spec.max_points is None


def test_smoke_trainer_extends_default() -> None:
    spec = validate_trainer(composed("trainer=smoke")["trainer"])
    assert spec.epochs == 1 and spec.max_points == 2000 and spec.optimizer == "adam"


def test_csv_series_experiment_follows_data_name() -> None:
    cfg = composed("data=csv_series", "data.path=x.csv")
    assert cfg["tracking"]["experiment"] == "csv_series"
    assert cfg["data"]["clean"]["freq"] == "infer"


def test_tracking_uri_follows_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert composed()["tracking"]["uri"] == "http://127.0.0.1:5999"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert composed()["tracking"]["uri"] == "sqlite:///mlruns/mlflow.db"


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_layer_sweep_values_are_valid_with_default_units(layers: int) -> None:
    validate_model(composed(f"model.layers={layers}")["model"])


def test_every_shipped_group_option_composes() -> None:
    for group in ("data", "model", "trainer"):
        for option in sorted((ROOT / "conf" / group).glob("*.yaml")):
            cfg = composed(f"{group}={option.stem}")
            assert OmegaConf.create(cfg)[group] is not None


@pytest.mark.parametrize("model", ["lstm", "seq2seq", "transformer", "dlinear", "nhits", "persistence",
                                   "moving_average", "ets", "gbdt"])
def test_every_family_composes_and_validates_at_horizon_ten(model: str) -> None:
    """What the error messages tell users to override exists in the shipped configs."""
    from sweepcast.tasks import forecast_task

    cfg = composed(f"model={model}", "data.horizon=10", "data.strategy=recursive")
    validate_model(cfg["model"], forecast_task(cfg["data"]))
    if model == "gbdt":
        cfg = composed("model=gbdt", "data.horizon=30", "model.max_horizon=30")
        validate_model(cfg["model"], forecast_task(cfg["data"]))


@pytest.mark.parametrize("model", ["lstm", "seq2seq", "transformer", "dlinear", "gbdt", "last_checkin"])
def test_every_checkin_family_passes_the_whole_config_check(model: str) -> None:
    """``data=checkins`` with each family it supports passes what train.py checks before data loads."""
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        spec = parse_run(compose(config_name="train", overrides=["data=checkins", f"model={model}"]))
    config, optimized = spec.config, spec.optimized
    assert config["data"]["source"] == "checkins" and optimized == "val_rmse"


def test_every_named_search_composes_and_passes_the_config_check() -> None:
    for search in sorted((ROOT / "conf" / "search").glob("*.yaml")):
        with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
            cfg = compose(config_name="train", overrides=[f"search={search.stem}"], return_hydra_config=True)
        assert cfg.hydra.sweeper.params, search.stem
        job = OmegaConf.create({k: v for k, v in OmegaConf.to_container(cfg).items() if k != "hydra"})
        parse_run(job)


@pytest.mark.parametrize(("overrides", "expected"), [
    (["trainer.loss=poisson"], "model.output_activation=softplus"),
    (["trainer.loss=poisson", "model=dlinear"], "model.output_activation=softplus"),
    (["trainer.loss=poisson", "model.output_activation=softplus", "data.scaler=standard"], "data.scaler=minmax"),
    (["trainer.loss=mae", "data=checkin_places"], "cross-entropy"),
])
def test_a_loss_the_task_or_network_cannot_train_is_refused_before_data(overrides: list, expected: str) -> None:
    from sweepcast.errors import ConfigError

    with pytest.raises(ConfigError, match="trainer.loss") as refused:
        parse_run(composed(*overrides))
    assert expected in str(refused.value)
    parse_run(composed("trainer.loss=poisson", "model.output_activation=softplus"))
    parse_run(composed("trainer.loss=huber", "model=nhits"))
    parse_run(composed("trainer.loss=poisson", "model=gbdt"))  # baselines fit their own loss
