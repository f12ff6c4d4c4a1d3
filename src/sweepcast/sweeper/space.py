"""Search spaces from Hydra override syntax, as hydra-optuna-sweeper users write them.

``a=1,2,3`` / ``choice(...)`` / ``range(...)`` are discrete; ``interval(...)``,
``int(interval(...))`` and ``tag(log, interval(...))`` are continuous. A space whose parameters
are all discrete is a **grid** (the cartesian product, each point once) unless sampling is
asked for; otherwise every parameter becomes an Optuna distribution for the sampler.
Differences from hydra-optuna-sweeper: ``range`` keeps Hydra's exclusive end; a comma list is a
grid, not a TPE-sampled categorical.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override, RangeSweep
from hydra.errors import HydraException

from sweepcast import checks
from sweepcast.errors import ConfigError
from sweepcast.redaction import environment_credentials_problem, override_credentials_problem, redact_url_text

PRIMITIVE = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class Param:
    """One searched key: discrete ``choices`` (with their override texts) or an interval."""

    name: str  # Optuna's parameter name: the override key, "+" included (e.g. "model.layers")
    choices: tuple[Any, ...] = ()
    texts: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None  # a numeric range sampled as an ordinal (sampled mode only)
    integer: bool = False
    log: bool = False

    @property
    def discrete(self) -> bool:
        return bool(self.choices)

    def admits(self, value: Any) -> bool:
        """Whether a given value (an enqueued or warm-start point's) can run: one of the choices by
        the rule :meth:`text` applies (the same type: 0.0 is not 0, True is not 1), or a number in
        the interval."""
        if self.discrete:
            return any(choice == value and type(choice) is type(value) for choice in self.choices)
        return isinstance(value, (int, float)) and not isinstance(value, bool) and \
            self.low <= value <= self.high  # type: ignore[operator]

    def text(self, value: Any) -> str:
        """The override text for a value Optuna returned."""
        if self.discrete:
            for choice, text in zip(self.choices, self.texts):
                if choice == value and type(choice) is type(value):
                    return text
            raise ValueError(f"{self.name}: {value!r} is not one of {self.choices}")
        return str(int(value)) if self.integer else repr(float(value))

    def describe(self) -> str:
        """A short human form for logs and MLflow params."""
        if self.discrete:
            return "{" + ", ".join(self.texts) + "}"
        kind = "int" if self.integer else "float"
        return f"{kind}[{self.low}, {self.high}]" + (" log" if self.log else "")


@dataclass
class SearchSpace:
    params: list[Param] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)  # non-sweep overrides, passed to every job

    @property
    def is_discrete(self) -> bool:
        return all(p.discrete for p in self.params)

    def grid(self) -> list[dict[str, Any]]:
        """Every combination, in command-line order (the last key varies fastest)."""
        if not self.params:
            return [{}]
        names = [p.name for p in self.params]
        return [dict(zip(names, combo)) for combo in itertools.product(*(p.choices for p in self.params))]

    def overrides(self, values: Mapping[str, Any]) -> list[str]:
        """``key=value`` overrides for one point (the fixed ones first)."""
        by_name = {p.name: p for p in self.params}
        return [*self.fixed, *(f"{name}={by_name[name].text(value)}" for name, value in values.items())]

    def largest(self, name: str) -> Any:
        """The largest value ``name`` takes in the space (None when it is not searched)."""
        for param in self.params:
            if param.name.lstrip("+") == name:
                return max(param.choices) if param.discrete else bound(param, param.high)
        return None

    def sets(self, name: str) -> bool:
        """Whether ``name`` is searched or given as a fixed override."""
        keys = [p.name for p in self.params] + [line.split("=", 1)[0] for line in self.fixed]
        return any(key.lstrip("+~") == name for key in keys)

    def fingerprint(self) -> str:
        """Six hex digits that change when the space or the fixed overrides change."""
        text = "\n".join(sorted(self.fixed)) + "\n" + "\n".join(f"{p.name}:{p.describe()}" for p in self.params)
        return hashlib.sha256(text.encode()).hexdigest()[:6]

    def points_to_check(self) -> list[dict[str, Any]]:
        """Points whose composed configs are validated before a study exists: every grid point
        (up to 64), else each parameter's extremes, so a bad bound fails before any trial."""
        if self.is_discrete and math.prod(len(p.choices) for p in self.params) <= 64:
            return self.grid()
        low = {p.name: p.choices[0] if p.discrete else bound(p, p.low) for p in self.params}
        high = {p.name: p.choices[-1] if p.discrete else bound(p, p.high) for p in self.params}
        middle = [{**low, p.name: c} for p in self.params if p.discrete for c in p.choices[1:-1]]
        return [low, high, *middle]


def bound(param: Param, value: float | None) -> Any:
    return int(value) if param.integer else float(value)  # type: ignore[arg-type]


def parse_space(arguments: Sequence[str], params: Mapping[str, Any] | None) -> SearchSpace:
    """Merge ``hydra.sweeper.params`` with the command line (the command line wins per key)."""
    parser = OverridesParser.create()
    lines = {}
    for key, value in (params or {}).items():
        lines[str(key)] = (f"hydra.sweeper.params.{key}", f"{key}={value}")
    for argument in arguments:
        key = argument.split("=", 1)[0]
        lines[key] = (argument, argument)
    space = SearchSpace()
    for origin, line in lines.values():
        try:
            override = parser.parse_override(line)
        except HydraException as err:
            raise ConfigError(origin, "a Hydra override such as key=1,2,3, choice(a,b), range(1,4), "
                              "interval(0,0.5), int(interval(1,3)) or tag(log, interval(1e-4,1e-2))",
                              f"{line} ({str(err).splitlines()[0]})") from None
        if override.is_sweep_override():
            space.params.append(to_param(override, origin))
        else:
            space.fixed.append(line)
    return space


def to_param(override: Override, origin: str) -> Param:
    name = override.get_key_element()
    value = override.value()
    if isinstance(value, IntervalSweep):
        low, high = value.start, value.end
        if low is None or high is None or not low < high:
            raise ConfigError(origin, "interval(low, high) with low < high", override.input_line)
        if "log" in value.tags and low <= 0:
            raise ConfigError(origin, "a log interval with low > 0", override.input_line)
        integer = isinstance(low, int) and isinstance(high, int)
        return Param(name, low=low, high=high, integer=integer, log="log" in value.tags)
    if isinstance(value, RangeSweep) and getattr(value, "shuffle", False):
        raise ConfigError(origin, "range(...) without shuffle", override.input_line)
    choices, texts = [], []
    for item, text in zip(override.sweep_iterator(), override.sweep_string_iterator()):
        choices.append(item if isinstance(item, PRIMITIVE) else text)  # lists, quoted strings: their text
        texts.append(text)
    if not choices:
        raise ConfigError(origin, "at least one value", override.input_line)
    if len(set(map(repr, choices))) != len(choices):
        raise ConfigError(origin, "distinct values", override.input_line)
    step = None
    if isinstance(value, RangeSweep) and all(map(checks.is_number, choices)):
        step = value.step
    return Param(name, choices=tuple(choices), texts=tuple(texts), step=step,
                 integer=all(map(checks.is_integer, choices)))


def distribution(param: Param) -> Any:
    """The Optuna distribution a sampler draws this parameter from."""
    # here, not at the top: this module loads at every Hydra plugin scan, and Optuna need not
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if param.discrete:
        if param.step is not None and len(param.choices) > 1:
            if param.integer:
                return IntDistribution(int(param.choices[0]), int(param.choices[-1]), step=int(param.step))
            return FloatDistribution(float(param.choices[0]), float(param.choices[-1]), step=float(param.step))
        return CategoricalDistribution(param.choices)
    if param.integer:
        return IntDistribution(int(param.low), int(param.high), log=param.log)  # type: ignore[arg-type]
    return FloatDistribution(float(param.low), float(param.high), log=param.log)  # type: ignore[arg-type]


def suggest(trial: Any, space: SearchSpace) -> dict[str, Any]:
    """Values for one trial (fixed ones from an enqueued grid point or a retry are reused)."""
    # here, not at the top: this module loads at every Hydra plugin scan, and Optuna need not
    from optuna.distributions import CategoricalDistribution, IntDistribution

    values = {}
    for param in space.params:
        dist = distribution(param)
        if isinstance(dist, CategoricalDistribution):
            value = trial.suggest_categorical(param.name, dist.choices)
        elif isinstance(dist, IntDistribution):
            value = trial.suggest_int(param.name, dist.low, dist.high, step=dist.step, log=dist.log)
        else:
            value = trial.suggest_float(param.name, dist.low, dist.high, step=dist.step, log=dist.log)
        values[param.name] = snap(param, value)
    return values


def snap(param: Param, value: Any) -> Any:
    """A float range's sampled value back onto its exact choice (0.30000000000000004, not 0.3)."""
    if param.discrete and value not in param.choices and isinstance(value, (int, float)):
        return min(param.choices, key=lambda c: abs(c - value))
    return value


def command_line_error(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> str | None:
    """One line for the first override Hydra cannot parse (Hydra's own message spans several
    lines and points at its grammar docs), or that holds a URL with a password (as does
    ``$MLFLOW_TRACKING_URI`` or ``$SWEEPCAST_OPTUNA_STORAGE``), or None. Flags and their values
    are left to Hydra. Runs before Hydra starts, so a refused command writes nothing."""
    modes = mode_flags(argv)
    if len(modes) > 1:  # Hydra's own answer is a ValueError traceback
        return (f"{' and '.join(modes)} cannot be combined: give one of --run, --multirun, --cfg, --info "
                "(e.g. python train.py --cfg job model.layers=2 shows one job's config)")
    parser = OverridesParser.create()
    for argument in argv:
        if argument.startswith("-") or "=" not in argument:
            continue
        try:
            override = parser.parse_override(argument)
        except HydraException as err:
            lines = [line.strip() for line in str(err).splitlines() if line.strip()]
            detail = next((line for line in lines[1:] if not line.startswith("See https")), lines[0] if lines else "")
            return f"override '{redact_url_text(argument)}': {redact_url_text(detail)}"
        problem = override_credentials_problem(override.key_or_group, override.value())
        if problem:
            return problem
    return environment_credentials_problem(environ)


MODE_FLAGS = {"-r": "--run", "--run": "--run", "-m": "--multirun", "--multirun": "--multirun", "-c": "--cfg",
              "--cfg": "--cfg", "-i": "--info", "--info": "--info", "-sc": "--shell-completion",
              "--shell-completion": "--shell-completion"}


def mode_flags(argv: Sequence[str]) -> list[str]:
    """Hydra's mutually exclusive mode flags on a command line, each once, in order."""
    found: list[str] = []
    for argument in argv:
        flag = MODE_FLAGS.get(argument.split("=", 1)[0])
        if flag is not None and flag not in found:
            found.append(flag)
    return found

