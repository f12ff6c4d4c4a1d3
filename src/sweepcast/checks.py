"""Value checks for config keys, shared by every spec parser.

A YAML/Hydra value arrives untyped: ``true`` is a ``bool`` (which Python also counts as an
``int``), ``1`` may stand where ``1.0`` was meant, and a typo is a string. Each helper here
accepts exactly what its name says and otherwise raises :class:`~sweepcast.errors.ConfigError`
naming the key, so every parser gives the same one-line message for the same mistake.
"""

from __future__ import annotations

from typing import Any, Collection, Mapping

import numpy as np

from sweepcast.errors import ConfigError


def is_integer(value: Any) -> bool:
    """An integer that is not a bool (NumPy integers count: data code hands them over too)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value: Any) -> bool:
    """An int or float that is not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def integer(key: str, value: Any, minimum: int | None = None, *, optional: bool = False, hint: str = "",
            maximum: int | None = None) -> int | None:
    """``value`` as an int in ``[minimum, maximum]``; ``None`` passes when ``optional``."""
    if optional and value is None:
        return None
    if not is_integer(value) or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            expected = "an integer" + (f" >= {minimum}" if minimum is not None else "") + hint
        else:
            expected = (f"an integer in [{minimum}, {maximum}]" if minimum is not None else f"an integer <= {maximum}") + hint
        raise ConfigError(key, expected + (" or null" if optional else ""), value)
    return int(value)


def number(key: str, value: Any, low: float | None = None, high: float | None = None, *,
           low_open: bool = False, high_open: bool = False, expected: str | None = None,
           allow_nan: bool = False) -> float:
    """``value`` as a float inside the given bounds (closed unless ``*_open``).

    ``allow_nan`` lets NaN past the bounds, as the checks written ``if value < low: raise`` always
    did (NaN fails every comparison); kept for those keys so that moving them here changes nothing.
    """
    ok = is_number(value)
    if ok and allow_nan and value != value:
        return float(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise ConfigError(key, expected or describe_range(low, high, low_open, high_open), value)
    return float(value)


def boolean(key: str, value: Any) -> bool:
    """``true`` or ``false``, nothing that merely looks like one."""
    if not isinstance(value, bool):
        raise ConfigError(key, "true or false", value)
    return value


def choice(key: str, value: Any, options: Collection[Any]) -> Any:
    """One of ``options`` (a list or mapping given where a name was expected is refused too, though
    a set or dict of options cannot even look it up)."""
    try:
        known = value in options
    except TypeError:  # unhashable
        known = False
    if not known:
        raise ConfigError(key, f"one of {tuple(options)}", value)
    return value


def known_keys(prefix: str, mapping: Mapping[str, Any], allowed: Collection[str]) -> None:
    """Refuse a key of ``mapping`` outside ``allowed``, naming the first one as ``<prefix>.<key>``."""
    unknown = [k for k in mapping if k not in allowed]
    if unknown:
        raise ConfigError(f"{prefix}.{unknown[0]}", f"one of the keys {tuple(allowed)}", unknown[0])


def describe_range(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    """``a number in (0, 1]``-style wording for :func:`number`'s bounds."""
    if low is not None and high is not None:
        return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"a number {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"a number {'<' if high_open else '<='} {high:g}"
    return "a number"
