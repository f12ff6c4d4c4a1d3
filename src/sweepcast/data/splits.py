"""Chronological train / val / test bounds of a series.

Kept apart from windowing and scaling: the bounds are decided once, from the config, and every
later step (scalers fit on ``train``, windows that never cross a boundary) reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from sweepcast import checks
from sweepcast.errors import ConfigError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitFractions:
    """``data.split.{train,val}``: test takes what the two leave."""

    train: float = 0.7
    val: float = 0.15

    @classmethod
    def from_config(cls, cfg: Mapping[str, object] | None, unit: str = "rows") -> "SplitFractions":
        cfg = cfg or {}
        train = checks.number("data.split.train", cfg.get("train", 0.7), 0.0, 1.0, low_open=True, high_open=True,
                              expected="a fraction in (0, 1)")
        val = cfg.get("val", 0.15)
        if not checks.is_number(val) or not 0.0 < val < 1.0 or train + val >= 1.0:
            raise ConfigError("data.split.val", f"a fraction in (0, {1.0 - train:g}) so test keeps {unit} "
                              f"(data.split.train={train:g})", val)
        return cls(train, float(val))


@dataclass(frozen=True)
class SplitBounds:
    """Row ranges ``[start, stop)`` of each split in the cleaned series."""

    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]

    def __getitem__(self, name: str) -> tuple[int, int]:
        return getattr(self, name)

    def length(self, name: str) -> int:
        start, stop = self[name]
        return stop - start


def split_bounds(n_rows: int, fractions: "Mapping[str, float] | SplitFractions") -> SplitBounds:
    """Chronological train/val/test bounds; test takes the rows train and val leave."""
    if not isinstance(fractions, SplitFractions):
        fractions = SplitFractions.from_config(fractions)
    n_train = int(round(n_rows * fractions.train))
    n_val = int(round(n_rows * fractions.val))
    return SplitBounds((0, n_train), (n_train, n_train + n_val), (n_train + n_val, n_rows))
