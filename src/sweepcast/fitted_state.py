"""What a run fits and an exported model replays: one schema, written by training, read by export.

A run logs it as ``preprocessing/scalers.json``; an export copies it to
``artifacts/preprocessing.json``. Both are plain JSON (no pickle): the task it belongs to, the
run's resolved data config, the model's input columns, the fitted scalers' states, the time step
and what the task adds (a series: target, horizon, strategy, time between rows; check-ins: target
names, gap transform, time zone).

:meth:`FittedState.from_json` also reads the two layouts written before this schema existed
(runs and exports made before 2026-12-02), so old runs still export and old exports still load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

CORE = ("kind", "data", "features", "timestep", "input_scaler", "target_scaler")


@dataclass(frozen=True)
class FittedState:
    """The fitted preprocessing of one run."""

    task: str  # the task's name (sweepcast/tasks/): series, checkins, ...
    data: dict[str, Any]  # the training run's resolved data config
    features: list[str]  # model input columns, in training order
    input_scaler: dict[str, Any]  # data.scalers.scaler_state of each fitted scaler
    target_scaler: dict[str, Any]
    timestep: int
    details: dict[str, Any] = field(default_factory=dict)  # the task's own keys, e.g. step, horizon

    def to_json(self) -> dict[str, Any]:
        """One flat JSON object; ``kind`` names the task (the key older check-in states used)."""
        return {"kind": self.task, "data": self.data, "features": self.features, "timestep": self.timestep,
                **self.details, "input_scaler": self.input_scaler, "target_scaler": self.target_scaler}

    @classmethod
    def from_json(cls, payload: Mapping[str, Any], data: Mapping[str, Any] | None = None) -> "FittedState":
        """Read :meth:`to_json` output, or an older run's ``scalers.json`` (no ``data``: pass the run's
        data config) or an older export's ``preprocessing.json`` (no ``timestep``: it is in ``data``)."""
        config = dict(payload.get("data") or data or {})
        if not config:
            raise ValueError("a fitted state needs its run's data config")
        return cls(
            task=str(payload.get("kind") or "series"),  # series states carried no kind before 2026-12-02
            data=config,
            features=list(payload["features"]),
            input_scaler=dict(payload["input_scaler"]),
            target_scaler=dict(payload["target_scaler"]),
            timestep=int(payload.get("timestep", config.get("timestep"))),
            details={k: v for k, v in payload.items() if k not in CORE},
        )
