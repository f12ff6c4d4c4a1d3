"""The private (underscore) APIs of Optuna, Hydra and OmegaConf the sweeper relies on, in one place.

Nothing else in :mod:`sweepcast.sweeper` touches these names, so an upgrade that moves one of
them breaks here, in one small module, and each wrapper says which version it was checked on
and why the public API does not do the job. Checked on Optuna 5.0.0, Hydra 1.3.8 (hydra-core)
and OmegaConf 2.3.1.
"""

from __future__ import annotations

from typing import Any

import optuna
from hydra.core.utils import JobReturn
from omegaconf import DictConfig


def trial_id(trial: Any) -> int:
    """The storage's id of a :class:`optuna.Trial` or :class:`optuna.trial.FrozenTrial`.

    Optuna 5.0.0: both keep it as ``_trial_id``. The public ``number`` counts within one study,
    but the storage's methods (``record_heartbeat``, ``get_trial``, ``set_trial_state_values``,
    ``set_trial_user_attr``) take the id, and a job in another process rebuilds its trial from it."""
    return int(trial._trial_id)


def trial_of(study: optuna.Study, storage_id: int) -> optuna.Trial:
    """A live trial for a WAITING trial this worker claimed itself (see ``study.claim_next``).

    Optuna 5.0.0: the ``Trial(study, trial_id)`` constructor is public but documented as "not
    recommended"; ``study.ask()`` would pick the trial to run itself, outside our queue lock and
    budget rule, so claiming a chosen trial needs the constructor."""
    return optuna.trial.Trial(study, storage_id)


def job_return_value(result: JobReturn) -> Any:
    """What the job returned, or the exception that ended it.

    Hydra 1.3.8: ``JobReturn._return_value`` holds either. The public ``return_value`` property
    re-raises a failed job's exception (and writes "Error executing job" to stderr), and the
    sweeper must read the exception to record the trial as PRUNED or FAIL with its reason."""
    return result._return_value


def raw_value(config: DictConfig, key: str) -> Any:
    """``config[key]`` as written, an ``${...}`` interpolation left unresolved (None if absent).

    OmegaConf 2.3.1: ``DictConfig._get_node(key)._value()``. Public access (``config[key]``,
    ``OmegaConf.select``) resolves interpolations, and may fail on an unset environment
    variable; ``OmegaConf.to_container(config, resolve=False)`` would copy the whole node to read
    one key."""
    node = config._get_node(key)
    return node._value() if node is not None else None  # type: ignore[union-attr]
