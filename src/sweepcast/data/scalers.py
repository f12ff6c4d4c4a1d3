"""Scalers by config name, and their fitted state as plain JSON.

A fitted scaler travels from training to an exported model as JSON (kind, params, fitted
arrays), never as a pickle: loading an export must not run code from a file.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from sweepcast import checks

SCALERS = {"minmax": MinMaxScaler, "standard": StandardScaler, "robust": RobustScaler}
Scaler = MinMaxScaler | StandardScaler | RobustScaler


def check_scaler(name: object) -> str:
    """``data.scaler`` is one of :data:`SCALERS` (checked before any file is read)."""
    return checks.choice("data.scaler", name, tuple(SCALERS))


def make_scaler(name: str) -> Scaler:
    """A fresh scikit-learn scaler by config name."""
    return SCALERS[check_scaler(name)]()


def fit_scaled(name: str, values: np.ndarray, train: tuple[int, int]) -> tuple[Scaler, np.ndarray]:
    """A ``name`` scaler fit on the rows ``train`` of ``values`` ``[n, k]`` only (no leak from later
    rows), and all of ``values`` through it as float32."""
    scaler = make_scaler(name)
    scaler.fit(values[train[0]:train[1]])
    return scaler, scaler.transform(values).astype(np.float32)


def scaler_state(scaler: Scaler) -> dict:
    """A fitted scaler as plain JSON (kind, params, fitted arrays): portable, and loading it
    never unpickles anything."""
    kind = next(name for name, cls in SCALERS.items() if isinstance(scaler, cls))
    fitted = {
        key: value.tolist() if isinstance(value, np.ndarray) else value
        for key, value in vars(scaler).items()
        if key.endswith("_") and not key.startswith("_") and isinstance(value, (np.ndarray, int, float))
    }
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in scaler.get_params().items()}
    return {"kind": kind, "params": params, "fitted": fitted}


def scaler_from_state(state: Mapping) -> Scaler:
    """Rebuild a fitted scaler from :func:`scaler_state` output."""
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in state["params"].items()}
    scaler = SCALERS[state["kind"]](**params)
    for key, value in state["fitted"].items():
        setattr(scaler, key, np.asarray(value) if isinstance(value, list) else value)
    return scaler
