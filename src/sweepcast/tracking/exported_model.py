"""The exported model: an MLflow pyfunc that takes raw rows and returns forecasts in original units.

Loaded by ``mlflow.pyfunc.load_model``, ``mlflow models serve`` and ``python -m sweepcast predict``
alike, so all three give the same numbers. Its artifacts are the trained Keras network (an
``mlflow.keras`` model directory) or a GBDT's trees (a skops file, never a pickle) and
``preprocessing.json``; the ``sweepcast`` package travels
in the model's ``code`` folder, so the directory is self-contained apart from its pinned pip
requirements. The model is saved as code (``model_code.py``), never as a pickled object. The
forecasting itself is the task's preprocessing's (:mod:`sweepcast.export.preprocessing`,
:mod:`sweepcast.export.checkin_preprocessing`).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

import sweepcast
from sweepcast.errors import SweepcastError
from sweepcast.export.combine import combine
from sweepcast.export.intervals import add_columns
from sweepcast.tasks import preprocessing_from_json
from sweepcast.tracking.store import TrackingError

NETWORK, PREPROCESSING, ENSEMBLE, INTERVALS = "network", "preprocessing", "ensemble", "intervals"
MODEL_CODE = Path(__file__).with_name("model_code.py")


class RawForecaster(mlflow.pyfunc.PythonModel):
    """``predict(rows, params={"horizon": H})`` -> ``timestamp``, ``step``, ``<target>`` for the H
    steps after the last row (a check-in model: ``user, time, step, gap_hours, lat, lon``, each
    user's next check-in; a next-place model, ``params={"top": K}``: each user's K likeliest places). A user error (missing column, too few rows, a horizon the model
    cannot give) raises an ``MlflowException`` with a one-line message, which the scoring server
    answers with HTTP 400."""

    def load_context(self, context: Any) -> None:
        artifacts = context.artifacts
        weights = [1.0]
        if ENSEMBLE in artifacts:  # an ensemble: network_<i> and preprocessing_<i> per member, and the weights
            with open(artifacts[ENSEMBLE], encoding="utf-8") as handle:
                weights = [float(w) for w in json.load(handle)["weights"]]
        keys = [(NETWORK, PREPROCESSING)] if ENSEMBLE not in artifacts else \
            [(f"{NETWORK}_{i}", f"{PREPROCESSING}_{i}") for i in range(len(weights))]
        self.members = []
        for network, preprocessing in keys:
            with open(artifacts[preprocessing], encoding="utf-8") as handle:
                serving = preprocessing_from_json(json.load(handle))
            self.members.append((serving, load_member(artifacts[network])))
        self.weights = weights
        self.preprocessing = self.members[0][0]
        self.radii = {}
        if INTERVALS in artifacts:  # export --intervals: conformal radii per level and step
            with open(artifacts[INTERVALS], encoding="utf-8") as handle:
                self.radii = json.load(handle)["radii"]

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        defaults = self.preprocessing.params()  # horizon, and e.g. a next-place model's "top"
        given = {key: value for key, value in (params or {}).items() if value is not None}
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise MlflowException(f"params: this model takes {sorted(defaults)}, not {unknown[0]!r}",
                                  error_code=INVALID_PARAMETER_VALUE)
        extra = {**defaults, **given}
        horizon = extra.pop("horizon")
        try:
            forecasts = [serving.forecast(predict, model_input, horizon, **extra) for serving, predict in self.members]
            answer = forecasts[0] if len(forecasts) == 1 else combine(forecasts, self.weights, self.preprocessing.target)
            return add_columns(answer, self.preprocessing.target, self.radii) if self.radii else answer
        except SweepcastError as err:
            raise MlflowException(str(err), error_code=INVALID_PARAMETER_VALUE) from None


def load_member(path: str) -> Any:
    """A member's scaled windows -> scaled forecasts: a GBDT's skops file (``.skops``) or a Keras network."""
    if str(path).endswith(".skops"):
        from sweepcast.models.gbdt import load_trees  # scikit-learn and skops, no TensorFlow

        return load_trees(path)
    import mlflow.keras  # here, not at the top: mlflow.keras imports TensorFlow

    network = mlflow.keras.load_model(path)
    return lambda window: network.predict(window, verbose=0)


def save_forecaster(folder: Path, network: str | list[str], preprocessing_file: Path | list[Path], example: pd.DataFrame,
                    output: pd.DataFrame, params: dict[str, Any], requirements: list[str],
                    weights_file: Path | None = None, intervals_file: Path | None = None) -> None:
    """Write the pyfunc into ``folder`` (must not exist): the network folder and preprocessing file
    as its artifacts (lists of them, and ``weights_file``, for an ensemble), ``example`` and its
    forecast ``output`` as its signature and input example, ``params`` (``horizon``, and e.g.
    ``top``) with their defaults."""
    if isinstance(network, list):
        artifacts = {**{f"{NETWORK}_{i}": n for i, n in enumerate(network)},
                     **{f"{PREPROCESSING}_{i}": str(p) for i, p in enumerate(preprocessing_file)},  # type: ignore[arg-type]
                     ENSEMBLE: str(weights_file)}
    else:
        artifacts = {NETWORK: network, PREPROCESSING: str(preprocessing_file)}
    if intervals_file is not None:
        artifacts[INTERVALS] = str(intervals_file)
    with warnings.catch_warnings():  # MLflow's hint about the integer `step` column of the output
        warnings.simplefilter("ignore", UserWarning)
        signature = infer_signature(example, output, params=params)
    mlflow.pyfunc.save_model(
        path=str(folder),
        python_model=str(MODEL_CODE),  # code, not a pickled object
        artifacts=artifacts,
        code_paths=[str(Path(sweepcast.__file__).parent)],
        signature=signature,
        input_example=(example, params),
        pip_requirements=requirements,
    )


class LoadedForecaster:
    """An exported folder loaded as MLflow serves it (``python -m sweepcast predict``)."""

    def __init__(self, folder: Path) -> None:
        self.model = mlflow.pyfunc.load_model(str(folder))

    def predict(self, rows: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """The forecast; TrackingError with MLflow's message for a request the model refuses."""
        try:
            return self.model.predict(rows, params=params)
        except MlflowException as err:
            raise TrackingError(err.message) from None
