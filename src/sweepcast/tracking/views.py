"""Plain, typed views of what the store holds, for the code outside :mod:`sweepcast.tracking`
(export, report): no MLflow object leaves this package."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunView:
    """One MLflow run as plain data: its params, latest metrics and tags as dicts."""

    run_id: str
    name: str | None  # the run name, None when it has none
    experiment_id: str
    status: str  # RUNNING | FINISHED | FAILED | KILLED | SCHEDULED
    artifact_uri: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelVersionView:
    """One version of a registered model: its number and tags."""

    version: str
    tags: dict[str, str] = field(default_factory=dict)
