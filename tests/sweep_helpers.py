"""A define-by-run search space for the custom_search_space end-to-end test."""

from __future__ import annotations

from typing import Any


def units_and_batch(cfg: Any, trial: Any) -> dict[str, Any]:
    """Two extra parameters chosen inside the trial, as hydra-optuna-sweeper users write them."""
    units = trial.suggest_categorical("model.units", [8, 12])
    return {"model.units": units, "trainer.batch_size": 16 if units == 8 else 32}
