"""The sweep folder's files: ``multirun.yaml`` at the start, ``best.yaml`` and ``trials.csv``
after every trial and at the end (what they hold: :mod:`sweepcast.sweeper.outputs`)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf, open_dict

from sweepcast.redaction import redact, redact_override
from sweepcast.sweeper import outputs
from sweepcast.sweeper.events import StudyView, SweepFinished, TrialFinished
from sweepcast.sweeper.internals import raw_value
from sweepcast.sweeper.plan import Plan


class SweepFiles:
    """Rewrites ``best.yaml`` and ``trials.csv`` whenever a trial finishes, in every worker, so
    the folder is current whichever process or machine finished last."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def trial_finished(self, event: TrialFinished) -> None:
        self.write(event.view)

    def sweep_finished(self, event: SweepFinished) -> None:
        self.write(event.view)

    def write(self, view: StudyView) -> None:
        outputs.write_best(self.plan.sweep_dir, view.study, view.best, self.plan.space, self.plan.metric)
        outputs.write_trials(self.plan.sweep_dir, view.study)


def write_multirun(folder: Path, config: Any) -> None:
    """``multirun.yaml``: the sweep's config, as Hydra's own sweepers leave it, without secrets."""
    folder.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(redacted_config(config), folder / "multirun.yaml")


def redacted_config(config: Any) -> Any:
    """The sweep's config for ``multirun.yaml`` with any literal storage password masked
    (an ``${oc.env:...}`` interpolation is kept as written: it holds no secret)."""
    safe = copy.deepcopy(config)
    with open_dict(safe):
        raw = raw_value(safe.hydra.sweeper, "storage")
        if isinstance(raw, str) and "${" not in raw:
            safe.hydra.sweeper.storage = redact(raw)
        safe.hydra.overrides.hydra = [
            redact_override(str(o)) for o in safe.hydra.overrides.hydra]
    return safe
