"""What every exported model's preprocessing shares: its :class:`~sweepcast.fitted_state.FittedState`.

Each task's preprocessing (``preprocessing.py`` for a series, ``checkin_preprocessing.py`` for
check-ins) subclasses :class:`Serving`: the state is read once, its data config parsed once into
the task's settings, and the scalers rebuilt once, not on every request.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Mapping

from sweepcast.data.scalers import Scaler, scaler_from_state
from sweepcast.data.windows import ForecastTask
from sweepcast.fitted_state import FittedState


class Serving:
    """Base of an exported model's preprocessing: the fitted state and what follows from it."""

    def __init__(self, state: FittedState) -> None:
        self.state = state

    @classmethod
    def from_run(cls, data_cfg: Mapping[str, Any], scalers: Mapping[str, Any]) -> "Serving":
        """From a run's ``config.yaml`` data section and ``preprocessing/scalers.json``."""
        return cls(FittedState.from_json(scalers, data_cfg))

    def params(self) -> dict[str, Any]:
        """The request parameters the model takes, with their defaults (its signature's params)."""
        return {"horizon": self.task.horizon}

    def as_json(self) -> dict[str, Any]:
        """What ``artifacts/preprocessing.json`` holds."""
        return self.state.to_json()

    @property
    def data(self) -> dict[str, Any]:
        return self.state.data

    @property
    def features(self) -> list[str]:
        return self.state.features

    @property
    def task(self) -> ForecastTask:
        return self.settings.task

    @property
    def settings(self) -> Any:  # the task's parsed data settings (SeriesSettings, CheckinSettings)
        raise NotImplementedError

    @cached_property
    def input_scaler(self) -> Scaler:
        return scaler_from_state(self.state.input_scaler)

    @cached_property
    def target_scaler(self) -> Scaler:
        return scaler_from_state(self.state.target_scaler)
