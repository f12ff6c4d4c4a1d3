"""``hydra.sweeper.*``: the keys of hydra-optuna-sweeper plus ours, checked in one place.

Differences from hydra-optuna-sweeper (also in the README): ``direction`` defaults to what the
optimized metric needs; ``n_trials`` defaults to the grid size (or 20 when sampling);
``max_failure_rate`` defaults to 0.5 and is judged once 4 trials have ended (theirs aborts on the
first failure); ``n_jobs`` means worker processes; ``mode``, ``heartbeat_interval``,
``grace_period`` and ``max_retry`` are new.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from typing import Any, Mapping

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from sweepcast import checks
from sweepcast.errors import ConfigError, SweepcastError
from sweepcast.metrics import higher_is_better
from sweepcast.redaction import refuse_credentials
from sweepcast.sweeper.stopping import duration

MODES = ("auto", "grid", "sample")
DIRECTIONS = ("minimize", "maximize")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,119}$")
DEFAULT_SAMPLED_TRIALS = 20


@dataclass(frozen=True)
class SweepSettings:
    sampler: Mapping[str, Any] | None
    pruner: Mapping[str, Any] | None
    direction: str | None
    storage: str | None
    study_name: str | None
    n_trials: int | None
    n_jobs: int
    max_failure_rate: float
    params: Mapping[str, Any]
    custom_search_space: str | None
    mode: str
    heartbeat_interval: int
    grace_period: int
    max_retry: int
    report: bool = True
    enqueue: tuple[dict[str, Any], ...] = ()  # points tried first, once per study (checked in plan.first_points)
    timeout: float | None = None  # seconds of this launch after which no trial is claimed (sweeper.stopping)
    patience: int | None = None  # stop claiming after this many counted trials without improvement ...
    min_delta: float = 0.0  # ... larger than this
    warm_start: str | None = None  # an earlier study (sweep folder or study name) whose best points run first
    warm_start_top: int = 5  # ... how many of them (sweeper.warm_start)


def plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def check_settings(raw: Mapping[str, Any]) -> SweepSettings:
    """Parse the sweeper's config, naming ``hydra.sweeper.<key>`` for any bad value."""
    def key(name: str) -> str:
        return f"hydra.sweeper.{name}"

    def integer(name: str, minimum: int, optional: bool = False) -> int | None:
        return checks.integer(key(name), raw.get(name), minimum, optional=optional)

    def choice(name: str, options: tuple[str | None, ...]) -> Any:
        return checks.choice(key(name), raw.get(name), options)

    def target(name: str) -> Mapping[str, Any] | None:
        spec = plain(raw.get(name))
        if spec is not None and not (isinstance(spec, Mapping) and isinstance(spec.get("_target_"), str)):
            raise ConfigError(key(name), "a mapping with _target_ (e.g. optuna.samplers.TPESampler) or null", spec)
        return spec

    def text(name: str, pattern: re.Pattern[str] | None = None) -> str | None:
        value = raw.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
            raise ConfigError(key(name), "letters, digits, '_', '.', '-' (max 120)" if pattern else "a string", value)
        return value

    rate = checks.number(key("max_failure_rate"), raw.get("max_failure_rate", 0.5), 0, 1)
    params = plain(raw.get("params")) or {}
    if not isinstance(params, Mapping):
        raise ConfigError(key("params"), "a mapping of config key -> search expression", params)
    params = flatten_params(params)
    def flag(name: str, default: bool) -> bool:
        return checks.boolean(key(name), raw.get(name, default))

    storage = text("storage")
    refuse_credentials(f"config key '{key('storage')}'", storage)  # e.g. from a cluster/*.yaml: never on disk
    heartbeat = integer("heartbeat_interval", 1)
    grace = integer("grace_period", 1)
    if grace <= heartbeat:  # type: ignore[operator]
        raise ConfigError(key("grace_period"), f"more seconds than heartbeat_interval ({heartbeat})", grace)
    return SweepSettings(
        sampler=target("sampler"), pruner=target("pruner"), direction=choice("direction", (None, *DIRECTIONS)),
        storage=storage, study_name=text("study_name", NAME), n_trials=integer("n_trials", 1, optional=True),
        n_jobs=integer("n_jobs", 1), max_failure_rate=float(rate), params=params,  # type: ignore[arg-type]
        custom_search_space=text("custom_search_space"), mode=choice("mode", MODES),
        heartbeat_interval=heartbeat, grace_period=grace, max_retry=integer("max_retry", 0),  # type: ignore[arg-type]
        report=flag("report", True), enqueue=enqueue_points(plain(raw.get("enqueue"))),
        timeout=duration(key("timeout"), raw.get("timeout")), patience=integer("patience", 1, optional=True),
        min_delta=checks.number(key("min_delta"), raw.get("min_delta", 0.0), 0),
        warm_start=text("warm_start"), warm_start_top=checks.integer(key("warm_start_top"),
                                                                     raw.get("warm_start_top", 5), 1),
    )


def enqueue_points(value: Any) -> tuple[dict[str, Any], ...]:
    """``hydra.sweeper.enqueue``: a list of ``{key: value}`` points (their keys checked against the
    space once it is parsed)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(point, Mapping) and point for point in value):
        raise ConfigError("hydra.sweeper.enqueue", "a list of mappings {searched key: value}", value)
    return tuple(dict(point) for point in value)


def direction_for(metric: str, configured: str | None) -> str:
    return configured or ("maximize" if higher_is_better(metric) else "minimize")


def build(spec: Mapping[str, Any] | None, name: str, base: type, **overrides: Any) -> Any:
    """Instantiate ``spec`` (a ``_target_`` mapping) once its target is known to be an Optuna ``base``
    class: building first would run any callable a config names (``os.makedirs`` made a folder)."""
    if spec is None:
        return None
    check_target(spec, name, base)
    try:  # the target is a subclass of base (checked above), so what it builds is one too
        return instantiate({**spec, **overrides})
    except InstantiationException as err:  # the class's own arguments were wrong
        cause: BaseException = err
        while cause.__cause__ is not None:  # Hydra wraps the real reason two levels deep
            cause = cause.__cause__
        reason = f"{type(cause).__name__}: {str(cause).strip().splitlines()[0] if str(cause).strip() else ''}"
        raise SweepcastError(f"config key 'hydra.sweeper.{name}': cannot build {spec['_target_']}: {reason}") from None


def check_target(spec: Mapping[str, Any], name: str, base: type) -> None:
    """Import ``spec["_target_"]`` without calling it and check it is a subclass of ``base``."""
    target = spec.get("_target_")
    expected = f"an Optuna {base.__name__} class (e.g. optuna.{base.__module__.split('.')[1]}.*)"
    if not isinstance(target, str):
        raise ConfigError(f"hydra.sweeper.{name}._target_", expected, target)
    module, _, attribute = target.rpartition(".")
    try:  # importlib, not hydra.utils.get_class: that one logs its own error lines on a miss
        found = getattr(importlib.import_module(module), attribute, None) if module else None
    except ImportError:
        found = None
    if not (inspect.isclass(found) and issubclass(found, base)):
        raise ConfigError(f"hydra.sweeper.{name}._target_", expected, target)


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{model: {layers: ...}}`` (from ``hydra.sweeper.params.model.layers=...`` on the command
    line) is the same as the YAML form ``{"model.layers": ...}``."""
    flat: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat
