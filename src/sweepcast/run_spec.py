"""A job's config, parsed once at the boundary into typed specs that the rest of the run reads.

Every check that needs no data runs here, before TensorFlow is imported or an MLflow run exists:
the sweeper calls :func:`parse_run` on each grid point before a study is created, the job on its
own config. After it, nothing re-reads the raw config: the task, its data settings, the model,
trainer and tracking specs travel down as objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sweepcast import checks
from sweepcast.data.backtest import needs_backtest
from sweepcast.errors import ConfigError
from sweepcast.fitting import TrainerSpec, validate_trainer
from sweepcast.models import is_network, validate_model
from sweepcast.models.spec import POSITIVE_OUTPUTS
from sweepcast.redaction import refuse_credentials
from sweepcast.tasks import task_for
from sweepcast.tasks.base import Task

SECTIONS = ("data", "model", "trainer", "tracking")
PLOTLYJS = ("cdn", "embed")  # a run's pages load plotly.js from its CDN, or carry it (~5 MB, works offline)


@dataclass(frozen=True)
class ModelSpec:
    """``model.*``: the family's name, whether it is a Keras network, and its checked config node
    (each family reads its own keys from it, see :mod:`sweepcast.models`)."""

    name: str
    network: bool
    config: dict[str, Any]


@dataclass(frozen=True)
class TrackingSpec:
    """``tracking.*``: the store, the experiment runs go to, and what is logged."""

    config: dict[str, Any]  # handed to sweepcast.tracking, which resolves the store URI
    experiment: str
    log_model: bool
    plotlyjs: str

    @property
    def uri(self) -> str:
        return str(self.config["uri"])


@dataclass(frozen=True)
class RunSpec:
    """One job, parsed: what the job, the sweeper and the task read instead of the raw config."""

    config: dict[str, Any]  # the resolved config as plain containers (logged as params)
    task: Task
    data: Any  # the task's settings (SeriesSettings, CheckinSettings, ...)
    model: ModelSpec
    trainer: TrainerSpec
    tracking: TrackingSpec
    optimized: str  # optimized_metric: the value the job returns to Hydra


def parse_run(cfg: "DictConfig | Mapping[str, Any]") -> RunSpec:
    """Resolve and check a composed job config; raises :class:`ConfigError` naming the key."""
    config = resolve(cfg)
    refuse_credentials("config key 'tracking.uri'", config["tracking"].get("uri"))  # first: no other line shows it
    trainer = validate_trainer(config["trainer"])
    task = task_for(config["data"])
    data = task.settings(config["data"])
    validate_model(config["model"], data.task)
    check_loss(trainer, config["model"], data)
    optimized = config.get("optimized_metric") or task.default_metric  # null: the task's own
    config["optimized_metric"] = optimized  # what the sweeper reads, as the job will use it
    if optimized not in task.optimizable:
        raise ConfigError("optimized_metric", f"one of {task.optimizable}", optimized)
    needs_backtest(optimized, getattr(data, "backtest", None))
    tracking = config["tracking"]
    model = ModelSpec(str(config["model"]["name"]), is_network(str(config["model"]["name"])), config["model"])
    experiment = str(tracking.get("experiment") or config["data"].get("name") or "sweepcast")
    return RunSpec(
        config=config, task=task, data=data, model=model, trainer=trainer,
        tracking=TrackingSpec(tracking, experiment, bool(tracking.get("log_model", True)),
                              checks.choice("tracking.plotlyjs", tracking.get("plotlyjs", "cdn"), PLOTLYJS)),
        optimized=optimized,
    )


def check_loss(trainer: TrainerSpec, model: Mapping[str, Any], data: Any) -> None:
    """``trainer.loss`` must suit the task and the network: a ranking trains with cross-entropy,
    and Poisson's ``y_pred - y log y_pred`` needs positive outputs and targets."""
    if trainer.loss == "mse":
        return
    if data.task.kind == "next_place":
        raise ConfigError("trainer.loss", "mse (the default) for next_place, whose networks train their ranking "
                          "with cross-entropy", trainer.loss)
    if trainer.loss == "poisson" and is_network(str(model["name"])):
        if model.get("output_activation") not in POSITIVE_OUTPUTS:
            raise ConfigError("trainer.loss", "poisson with a positive output: model.output_activation="
                              f"{'|'.join(POSITIVE_OUTPUTS)} (a family that has one)", trainer.loss)
        if getattr(data, "scaler", "minmax") != "minmax":
            raise ConfigError("trainer.loss", "poisson with data.scaler=minmax (other scalers make targets negative)",
                              trainer.loss)


def resolve(cfg: "DictConfig | Mapping[str, Any]") -> dict[str, Any]:
    """The config as plain containers, every interpolation resolved, sections checked."""
    try:
        config = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True) if isinstance(cfg, DictConfig) \
            else dict(cfg)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", "") or "config"
        raise ConfigError(str(key), "a value", str(err).splitlines()[0]) from None
    for section in SECTIONS:
        if not isinstance(config.get(section), dict):
            raise ConfigError(section, "a config group (mapping)", config.get(section))
    return config
