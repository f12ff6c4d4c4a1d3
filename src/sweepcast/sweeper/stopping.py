"""When a sweep stops claiming before ``n_trials``: a time budget spent, or a plateau.

``hydra.sweeper.timeout`` (seconds, or ``90s``/``30m``/``2h``/``1d``): no trial is claimed once
that much time has passed since worker 0 began this launch; running trials finish, queued ones
stay queued, so a rerun (with a new budget) continues the study. ``hydra.sweeper.patience: N``
(with ``min_delta``): no trial is claimed once the best value has not improved by more than
``min_delta`` over the last ``N`` counted trials. Both are judged by every worker before each
claim, from the shared study, so all machines stop alike.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from sweepcast.clock import clock
from sweepcast.errors import ConfigError

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
UNITS = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
COUNTED = ("COMPLETE", "PRUNED", "FAIL")  # Optuna's TrialState names (no Optuna import at Hydra's plugin scan)
STOPPED = "stopped"  # the study's user attribute: why it stopped claiming (for the parent run and the log)


def duration(key: str, value: Any) -> float | None:
    """Seconds from a number or a duration string; None stays None."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 and math.isfinite(value):
        return float(value)
    found = DURATION.match(value) if isinstance(value, str) else None
    if not found or float(found.group(1)) <= 0:
        raise ConfigError(key, "seconds or a duration such as 90s, 30m, 2h or 1d", value)
    return float(found.group(1)) * UNITS[found.group(2)]


class Stopper:
    """Why this sweep should claim no more trials now, or None."""

    def __init__(self, timeout: float | None, patience: int | None, min_delta: float, direction: str,
                 started: float) -> None:
        self.timeout, self.patience, self.min_delta = timeout, patience, min_delta
        self.sign = 1.0 if direction == "minimize" else -1.0
        self.started = started  # Unix time worker 0 began this launch

    def remaining(self) -> float | None:
        return None if self.timeout is None else max(self.timeout - (time.time() - self.started), 0.0)

    def reason(self, trials: list[Any]) -> str | None:
        if self.timeout is not None and self.remaining() == 0.0:
            return f"time budget {clock(self.timeout)} spent (hydra.sweeper.timeout)"
        if self.patience is not None:
            return self.plateau(trials)
        return None

    def plateau(self, trials: list[Any]) -> str | None:
        counted = sorted((t for t in trials if t.state.name in COUNTED and t.datetime_complete),
                         key=lambda t: t.datetime_complete)
        if len(counted) <= self.patience:
            return None
        before = [self.sign * t.value for t in counted[:-self.patience] if t.state.name == "COMPLETE"]
        recent = [self.sign * t.value for t in counted[-self.patience:] if t.state.name == "COMPLETE"]
        if not before:
            return None
        if recent and min(before) - min(recent) > self.min_delta:
            return None
        return (f"no improvement above min_delta={self.min_delta:g} in the last {self.patience} trials "
                f"(hydra.sweeper.patience)")
