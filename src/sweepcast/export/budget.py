"""Whether an exported run was trained on a smoke budget: the export's warning, its model card and
the champion rule read it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sweepcast.models import FAMILIES, is_network

if TYPE_CHECKING:
    from sweepcast.export.package import RunArtifacts

SMOKE_EPOCHS = 2  # trainer=smoke trains 1 epoch: a check that the pipeline runs, not a model to ship


def smoke_warning(run: RunArtifacts) -> str | None:
    """A network trained for at most ``SMOKE_EPOCHS`` epochs is a smoke test's: say so where the
    user looks (the export's log line and the card), since its metrics will disappoint."""
    trainer = run.config.get("trainer", {}) or {}
    epochs = trainer.get("epochs")
    family = str((run.config.get("model", {}) or {}).get("name", ""))
    if family not in FAMILIES or not is_network(family) or not isinstance(epochs, int):
        return None
    if epochs > SMOKE_EPOCHS:
        return None
    return (f"this model was trained for only {epochs} epoch(s) (a smoke budget, e.g. trainer=smoke); "
            "retrain it with trainer=default before shipping it")
