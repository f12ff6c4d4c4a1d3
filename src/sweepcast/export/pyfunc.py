"""Where exported models made before the exported model moved to :mod:`sweepcast.tracking` find
their class: their ``model_code.py`` runs ``from sweepcast.export.pyfunc import RawForecaster``.

Such a folder normally imports its own copy of the code (its ``code`` folder), but a process that
already imported ``sweepcast`` (``python -m sweepcast predict``) resolves the name here. The
class itself is :class:`sweepcast.tracking.exported_model.RawForecaster` (only the tracking
layer imports MLflow); it loads here on first use, so importing this module costs nothing.
"""

from __future__ import annotations

from typing import Any

MOVED = ("NETWORK", "PREPROCESSING", "RawForecaster")


def __getattr__(name: str) -> Any:
    if name in MOVED:
        from sweepcast.tracking import exported_model  # here, not at the top: MLflow (~1.4 s) loads on first use

        return getattr(exported_model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
