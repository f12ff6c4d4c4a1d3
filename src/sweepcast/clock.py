"""Durations as people read them on a clock: ``4m10s``, ``1h01m40s``.

Shared by the sweep's progress lines and the sweep report, so both show times the same way.
"""

from __future__ import annotations


def clock(seconds: float) -> str:
    """``seconds`` rounded to whole seconds, as ``MmSSs`` or ``HhMMmSSs`` (never negative)."""
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s" if hours else f"{rest // 60}m{rest % 60:02d}s"
