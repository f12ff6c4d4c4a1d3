"""The plan of a sweep: everything fixed before the first trial, checked once.

:class:`~sweepcast.sweeper.optuna_sweeper.OptunaSweeper` builds it from the command line and the
composed config; :class:`~sweepcast.sweeper.session.SweepSession` and its helpers only read it.
Kept apart from both so neither imports the other (the plugin must stay cheap to import at
Hydra's plugin scan; the session imports Optuna and MLflow).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sweepcast.errors import ConfigError
from sweepcast.sweeper.settings import DEFAULT_SAMPLED_TRIALS, SweepSettings
from sweepcast.sweeper.space import SearchSpace

log = logging.getLogger("sweepcast.sweeper.optuna_sweeper")  # the logger these lines always had

CustomSpace = Callable[[Any, Any], "dict[str, Any] | None"]  # (cfg, trial) -> extra overrides


@dataclass
class Plan:
    """Everything fixed before the first trial: checked once, shared by the loop's helpers."""

    settings: SweepSettings
    space: SearchSpace
    grid: list[dict[str, Any]] | None
    n_trials: int
    metric: str
    direction: str
    study_name: str
    sweep_dir: Path
    storage_url: str
    tracking: dict[str, Any]
    experiment: str
    first: list[dict[str, Any]] = field(default_factory=list)  # hydra.sweeper.enqueue: tried first, once
    warm: list[dict[str, Any]] = field(default_factory=list)  # hydra.sweeper.warm_start's points: next, once


def grid_of(space: SearchSpace, settings: SweepSettings) -> list[dict[str, Any]] | None:
    """The grid points, or None for a sampled study."""
    if settings.mode == "grid" and not space.is_discrete:
        interval = next(p.name for p in space.params if not p.discrete)
        raise ConfigError("hydra.sweeper.mode", f"'sample' or 'auto' ({interval} is an interval)", "grid")
    if settings.mode == "grid" and settings.custom_search_space:
        raise ConfigError("hydra.sweeper.mode", "'sample' or 'auto' with a custom_search_space", "grid")
    sampled = settings.mode == "sample" or not space.is_discrete or settings.custom_search_space
    return None if sampled else space.grid()


def first_points(settings: SweepSettings, space: SearchSpace, grid: list[dict[str, Any]] | None
                 ) -> list[dict[str, Any]]:
    """``hydra.sweeper.enqueue``, checked against the space: each key searched, each value one the
    space can take. A grid runs every point anyway, so it takes none."""
    if not settings.enqueue:
        return []
    if grid is not None:
        raise ConfigError("hydra.sweeper.enqueue", "a sampled study (a grid runs every point anyway)",
                          list(settings.enqueue))
    by_name = {p.name: p for p in space.params}
    for i, point in enumerate(settings.enqueue):
        for name, value in point.items():
            key = f"hydra.sweeper.enqueue[{i}].{name}"
            param = by_name.get(name)
            if param is None:
                raise ConfigError(key, f"a searched key, one of {tuple(by_name)}", value)
            if not param.admits(value):
                raise ConfigError(key, f"one of {param.choices}" if param.discrete else
                                  f"a number in [{param.low}, {param.high}]", value)
    return list(settings.enqueue)


def trial_budget(settings: SweepSettings, grid: list[dict[str, Any]] | None) -> int:
    """``n_trials`` in total across reruns: the grid size at most, else 20 unless given."""
    if grid is None:
        return settings.n_trials or DEFAULT_SAMPLED_TRIALS
    if settings.n_trials is not None and settings.n_trials > len(grid):
        log.warning("n_trials=%d but the grid has %d points: each point runs once", settings.n_trials, len(grid))
    return min(settings.n_trials or len(grid), len(grid))


def custom_search_space(path: str | None) -> CustomSpace | None:
    """``module.function(cfg, trial) -> dict | None`` adding define-by-run parameters."""
    if path is None:
        return None
    module, _, name = path.rpartition(".")
    try:
        function = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise ConfigError("hydra.sweeper.custom_search_space", "an importable module.function", f"{path} ({err})") from None
    if not callable(function):
        raise ConfigError("hydra.sweeper.custom_search_space", "a callable", path)
    return function  # type: ignore[no-any-return]
