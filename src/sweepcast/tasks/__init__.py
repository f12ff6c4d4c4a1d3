"""Forecasting tasks, chosen once from the data config.

``data.task`` names a module of this package (``series``, ``checkins``); configs and runs from
before that key existed are told apart by ``data.source`` (check-ins or a series). This is the
only place that decision is made: callers hold the :class:`~sweepcast.tasks.base.Task` it returns.
Adding a task is one module here exposing ``TASK`` plus its configs (see the README).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Mapping

from sweepcast.errors import ConfigError
from sweepcast.fitted_state import FittedState
from sweepcast.tasks.base import Task

NOT_TASKS = ("base",)  # modules of this package that are not tasks


def available() -> tuple[str, ...]:
    """Every task module in this package."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in NOT_TASKS))


def task_name(data_cfg: Mapping[str, Any]) -> str:
    """The task a data config (or a run's ``data.*`` params, keys without the prefix) asks for."""
    name = data_cfg.get("task")
    if name is None:  # configs and runs from before data.task: the source says it
        return "checkins" if data_cfg.get("source") == "checkins" else "series"
    return str(name)


def load_task(name: str) -> Task:
    """The task module ``name``'s ``TASK``; an unknown name is a config error."""
    if name not in available():
        raise ConfigError("data.task", f"one of {available()}", name)
    return importlib.import_module(f"{__name__}.{name}").TASK


def task_for(data_cfg: Mapping[str, Any]) -> Task:
    """The task of a data config."""
    return load_task(task_name(data_cfg))


def task_of_params(params: Mapping[str, str]) -> Task:
    """The task of a logged run, from its flattened ``data.*`` params."""
    return task_for({"task": params.get("data.task"), "source": params.get("data.source")})


def prepare(data_cfg: Mapping[str, Any], max_points: int | None = None) -> Any:
    """Parse a data config and prepare its data, whatever the task (tests, benchmarks, explore)."""
    task = task_for(data_cfg)
    return task.prepare(task.settings(data_cfg), max_points)


def forecast_task(data_cfg: Mapping[str, Any]) -> Any:
    """What each window of a data config forecasts (:class:`~sweepcast.data.windows.ForecastTask`)."""
    return task_for(data_cfg).settings(data_cfg).task


def preprocessing_from_json(payload: Mapping[str, Any], data: Mapping[str, Any] | None = None) -> Any:
    """An exported model's (or a run's) fitted state back into its task's preprocessing."""
    state = FittedState.from_json(payload, data)
    return load_task(state.task).preprocessing(state)
