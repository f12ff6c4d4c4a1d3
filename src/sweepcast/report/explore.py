"""``python -m sweepcast explore data=...``: the studies' pre-modelling analyses for any data config.

The config is composed as ``train.py`` composes it; its task draws the page from data loaded and
cleaned by the training code (so what the page shows is what models see): a series in
:mod:`~sweepcast.report.series_explore`, check-ins in :mod:`~sweepcast.report.checkin_explore`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf

from sweepcast import tracking
from sweepcast.errors import SweepcastError
from sweepcast.report.page import write
from sweepcast.tasks import task_for

log = logging.getLogger(__name__)


def compose_data(overrides: Sequence[str]) -> dict[str, Any]:
    """The ``data`` section of ``conf/train.yaml`` with the given overrides, as ``train.py`` composes it."""
    conf = Path(__file__).resolve().parents[3] / "conf"
    if not (conf / "train.yaml").is_file():
        raise SweepcastError(f"explore: the config folder {conf} is missing (run from a sweepcast checkout)")
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            cfg = compose(config_name="train", overrides=list(overrides))
    except HydraException as err:
        raise SweepcastError(f"explore: {' '.join(str(err).split())}") from None
    return OmegaConf.to_container(cfg.data, resolve=True)


def build_page(data_cfg: Mapping[str, Any]) -> str:
    """The exploration page of the config's task (a series' profiles, check-ins' places, ...)."""
    return task_for(data_cfg).explore_page(data_cfg)


def write_explore(overrides: Sequence[str], out: Path | None, log_to_mlflow: bool, tracking_uri: str | None) -> Path:
    data_cfg = compose_data(overrides)
    path = write(out or Path("explore") / f"{data_cfg.get('name', 'data')}.html", build_page(data_cfg))
    log.info("data exploration page: %s", path)
    if log_to_mlflow:
        experiment = tracking.open_experiment({"uri": tracking_uri or tracking.default_store()}, str(data_cfg.get("name")))
        with tracking.start_run(experiment, "explore", {"sweepcast_page": "explore"}):
            tracking.log_file(path, "explore")
        log.info("logged to MLflow experiment '%s'", data_cfg.get("name"))
    return path

