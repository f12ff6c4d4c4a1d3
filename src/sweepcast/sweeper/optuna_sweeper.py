"""Our Hydra sweeper on Optuna 5: grids and sampled studies, pruning, exact resume, workers.

Each process runs trials one at a time, in-process (Hydra's basic launcher), so TensorFlow is
imported once per worker and the job can reach its trial (:mod:`sweepcast.sweeper.context`).
``n_jobs=N`` starts N-1 more processes of the same command; they, and the same command on other
machines pointed at the same storage, coordinate only through the Optuna storage (see
:mod:`sweepcast.sweeper.study` for the budget rule). One MLflow parent run per study holds the
search space and the best result so far; each trial's job run is its child.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from hydra.core.plugins import Plugins
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from sweepcast.errors import SweepcastError
from sweepcast.sweeper.context import WORKER_ENV
from sweepcast.sweeper.plan import Plan, custom_search_space, first_points, grid_of, trial_budget
from sweepcast.sweeper.settings import build, check_settings, direction_for
from sweepcast.sweeper.space import SearchSpace, parse_space

log = logging.getLogger(__name__)


class OptunaSweeper(Sweeper):
    """Keys as in hydra-optuna-sweeper (``sampler``, ``direction``, ``storage``, ``study_name``,
    ``n_trials``, ``n_jobs``, ``max_failure_rate``, ``params``, ``custom_search_space``, ``pruner``)
    plus ``mode``, ``heartbeat_interval``, ``grace_period``, ``max_retry``."""

    def __init__(self, **raw: Any) -> None:
        self.raw = raw
        self.worker = int(os.environ.get(WORKER_ENV, "0"))

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        """Run the study; user errors end it with one line and exit status 2."""
        try:
            return self.run(arguments)
        except SweepcastError as err:
            log.error("%s", err)
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            sys.exit(2)

    # -- planning: everything that can be wrong is found before a study or MLflow run exists --

    def run(self, arguments: list[str]) -> Any:
        if type(self.launcher).__name__ != "BasicLauncher":
            raise SweepcastError("hydra/launcher: our sweeper runs each worker's trials in-process with Hydra's "
                                 f"basic launcher, got {type(self.launcher).__name__}; use hydra.sweeper.n_jobs")
        plan = self.plan(arguments)
        # here, not at the top: the session imports Optuna and MLflow, and this module is
        # imported at every Hydra plugin scan (any train.py run, with or without -m)
        from sweepcast.sweeper.session import SweepSession

        return SweepSession(plan, self.worker, self.config, self.launcher).run()

    def plan(self, arguments: list[str]) -> Plan:
        """Check the settings, the space and the composed job configs; fix the study's name,
        folder, storage and budget."""
        settings = check_settings(self.raw)
        space = parse_space(arguments, settings.params)
        grid = grid_of(space, settings)
        first, *others = space.points_to_check()
        config = self.job_config(space.overrides(first))
        if fair_history(space, config):
            config = self.job_config(space.overrides(first))
            if self.worker == 0:
                log.info("data.timestep is swept: every trial is scored on the same windows, those with at least "
                         "%s earlier check-ins (%s)", space.largest("data.timestep"), space.fixed[-1])
        metric = str(config["optimized_metric"])  # parse_run fills in the task's default
        if self.worker == 0:  # the extra workers run the command already checked
            for point in others:
                self.job_config(space.overrides(point))
            build(settings.sampler, "sampler", _optuna("samplers.BaseSampler"))
            build(settings.pruner, "pruner", _optuna("pruners.BasePruner"))
            custom_search_space(settings.custom_search_space)
        n_trials = trial_budget(settings, grid)
        study_name = settings.study_name or self.default_study_name(space)
        sweep_dir = self.sweep_dir(study_name)
        storage = settings.storage or f"sqlite:///{(sweep_dir / 'optuna.db').resolve()}"
        experiment = str(config["tracking"].get("experiment") or config["data"].get("name") or "sweepcast")
        warm: list[dict[str, Any]] = []
        if self.worker == 0 and settings.warm_start is not None:  # only worker 0 queues
            from sweepcast.sweeper.warm_start import warm_points  # Optuna: not at Hydra's plugin scan

            warm = warm_points(settings.warm_start, settings.warm_start_top, space, grid, storage, study_name)
        return Plan(settings, space, grid, n_trials, metric, direction_for(metric, settings.direction),
                    study_name, sweep_dir, storage, config["tracking"], experiment, first_points(settings, space, grid),
                    warm)

    def job_config(self, overrides: Sequence[str]) -> dict[str, Any]:
        """Compose one job's config as the launcher will, and run the job's own config checks."""
        from sweepcast.run_spec import parse_run  # pandas/sklearn: not at Hydra's plugin scan

        try:
            composed = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        except HydraException as err:
            lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
            raise SweepcastError(f"cannot compose a job with {' '.join(overrides) or 'no overrides'}: "
                                 f"{' '.join(lines[:2])}") from None
        with open_dict(composed):
            del composed["hydra"]
        return parse_run(composed).config

    def default_study_name(self, space: SearchSpace) -> str:
        """``<search>`` or ``<data>-<model>``, the swept keys, and a hash of the whole command."""
        choices = OmegaConf.select(self.config, "hydra.runtime.choices") or {}
        if choices.get("search"):  # its file names the space; the hash keeps smoke runs apart
            return f"{choices['search']}-{space.fingerprint()}"
        base = f"{choices.get('data', 'data')}-{choices.get('model', 'model')}"
        keys = "_".join(p.name.lstrip("+").split(".")[-1] for p in space.params[:3])
        return "-".join(part for part in (base, keys, space.fingerprint()) if part)

    def sweep_dir(self, study_name: str) -> Path:
        """``sweeps/<study_name>`` unless ``hydra.sweep.dir`` was given on the command line."""
        given = any(str(o).startswith("hydra.sweep.dir=") for o in self.config.hydra.overrides.hydra)
        folder = Path(str(self.config.hydra.sweep.dir)) if given else Path("sweeps") / study_name
        with open_dict(self.config):
            self.config.hydra.sweep.dir = str(folder)
        return folder


def fair_history(space: SearchSpace, config: Mapping[str, Any]) -> bool:
    """A sweep over ``data.timestep`` on a task whose windows cannot read history from before a
    sequence (check-ins: a user's first check-in) scores every trial on the windows the largest
    timestep can reach: ``data.min_history`` is fixed to it (unless given). Series need nothing:
    their validation and test windows read history from the split before. True when added."""
    largest = space.largest("data.timestep")
    if largest is None or "min_history" not in config["data"] or space.sets("data.min_history"):
        return False
    space.fixed.append(f"data.min_history={int(largest)}")
    return True


def _optuna(path: str) -> type:
    """An Optuna class by dotted path, imported only when a plan is checked: this module loads
    at every Hydra plugin scan, and Optuna need not."""
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(f"optuna.{module}"), name)
