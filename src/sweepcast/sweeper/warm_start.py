"""Warm starts: the best parameter sets of an earlier study, queued first in a new one.

``hydra.sweeper.warm_start`` names the earlier study: a sweep folder (``sweeps/<study_name>``, its
``optuna.db``) or a study name in this sweep's own storage (a shared PostgreSQL or SQLite
``hydra.sweeper.storage``). Its ``warm_start_top`` best finished trials are queued after
``hydra.sweeper.enqueue``'s points and before any sampled trial, once per study. So a study over
a changed space, a widened interval or another key, does not start from scratch. A point is
kept when every value it has for a key of the new space lies in that key's new range or
choices. Keys the old study did not search are drawn by the sampler. Keys the new space no
longer searches take the new command's value. Points that do not fit are named in one warning.
A cross-family study's own keys (``lstm.units``, ``gbdt.learning_rate``: the
``custom_search_space``) travel with the point, so each family is rerun as it was.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from sweepcast.errors import ConfigError
from sweepcast.redaction import redact
from sweepcast.sweeper.space import SearchSpace
from sweepcast.sweeper.study import sqlite_path

log = logging.getLogger("sweepcast.sweeper.optuna_sweeper")
KEY = "hydra.sweeper.warm_start"


def locate(source: str, storage_url: str) -> tuple[str, str]:
    """(storage URL, study name) of ``source``: a sweep folder, else a study name in ``storage_url``."""
    folder = Path(source)
    if folder.is_dir():
        database = folder / "optuna.db"
        if not database.is_file():
            raise ConfigError(KEY, "a sweep folder holding optuna.db, or the name of a study in this sweep's "
                              "storage (hydra.sweeper.storage)", source)
        best = folder / "best.yaml"
        summary = yaml.safe_load(best.read_text(encoding="utf-8")) if best.is_file() else None
        name = str((summary or {}).get("study_name") or folder.name)
        return f"sqlite:///{database.resolve()}", name
    path = sqlite_path(storage_url)
    if path is not None and not path.is_file():  # never create a database to look for a study in it
        raise ConfigError(KEY, f"a sweep folder, or a study in {redact(storage_url)} (which does not exist yet)",
                          source)
    return storage_url, source


def earlier_trials(storage_url: str, name: str) -> tuple[list[FrozenTrial], bool]:
    """The study's finished single-objective trials, best first, and whether it maximised."""
    try:
        study = optuna.load_study(study_name=name, storage=storage_url)
    except KeyError:
        raise ConfigError(KEY, f"a sweep folder, or a study in {redact(storage_url)}", name) from None
    if len(study.directions) > 1:
        raise ConfigError(KEY, "a single-objective study", f"{name} ({len(study.directions)} objectives)")
    maximise = study.direction == optuna.study.StudyDirection.MAXIMIZE
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and math.isfinite(t.value)]
    return sorted(done, key=lambda t: t.value, reverse=maximise), maximise  # type: ignore[arg-type, return-value]


def misfit(params: dict[str, Any], space: SearchSpace) -> str | None:
    """Why a point cannot run in ``space`` (a value outside a key's new range or choices), or None."""
    for param in space.params:
        if param.name in params and not param.admits(params[param.name]):
            allowed = param.choices if param.discrete else f"[{param.low}, {param.high}]"
            return f"{param.name}={params[param.name]!r} not in {allowed}"
    return None


def warm_points(source: str | None, top: int, space: SearchSpace, grid: list[dict[str, Any]] | None,
                storage_url: str, study_name: str) -> list[dict[str, Any]]:
    """The earlier study's ``top`` best points that fit ``space``, best first (checked before any
    study of this sweep exists, so a bad source leaves nothing behind)."""
    if source is None:
        return []
    if grid is not None:
        raise ConfigError(KEY, "a sampled study (a grid runs every point anyway)", source)
    storage, name = locate(source, storage_url)
    if name == study_name and storage == storage_url:
        raise ConfigError(KEY, "another study than this sweep's own", source)
    ranked, _ = earlier_trials(storage, name)
    points: list[dict[str, Any]] = []
    refused: list[str] = []
    for trial in ranked:
        if len(points) == top:
            break
        problem = misfit(dict(trial.params), space)
        if problem is not None:
            refused.append(f"#{trial.number} ({problem})")
        elif dict(trial.params) not in points:
            points.append(dict(trial.params))
    if refused:
        log.warning("warm start from study '%s': %d of its best trials do not fit this space and are left out: %s",
                    name, len(refused), "; ".join(refused))
    if points:
        log.info("warm start: the %d best fitting trial(s) of study '%s' are queued first", len(points), name)
    else:
        log.warning("warm start from study '%s': no finished trial fits this space; the study starts cold", name)
    return points
