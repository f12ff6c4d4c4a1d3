"""The exported model: an MLflow pyfunc that takes raw rows and returns forecasts in original units.

Loaded by ``mlflow.pyfunc.load_model``, ``mlflow models serve`` and ``python -m sweepcast predict``
alike, so all three give the same numbers. Its artifacts are the trained Keras network (an
``mlflow.keras`` model directory) and ``preprocessing.json``; the ``sweepcast`` package travels
in the model's ``code`` folder, so the directory is self-contained apart from its pinned pip
requirements.
"""

from __future__ import annotations

import json
from typing import Any

import mlflow.pyfunc
import pandas as pd

NETWORK, PREPROCESSING = "network", "preprocessing"


class RawForecaster(mlflow.pyfunc.PythonModel):
    """``predict(rows, params={"horizon": H})`` -> ``timestamp``, ``step``, ``<target>`` for the H
    steps after the last row (a check-in model: ``user, time, step, gap_hours, lat, lon``, each
    user's next check-in). A user error (missing column, too few rows, a horizon the model
    cannot give) raises an ``MlflowException`` with a one-line message, which the scoring server
    answers with HTTP 400."""

    def load_context(self, context: Any) -> None:
        import mlflow.keras

        from sweepcast.export.preprocessing import preprocessing_from_json

        with open(context.artifacts[PREPROCESSING], encoding="utf-8") as handle:
            self.preprocessing = preprocessing_from_json(json.load(handle))
        self.network = mlflow.keras.load_model(context.artifacts[NETWORK])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        from sweepcast.errors import SweepcastError

        horizon = (params or {}).get("horizon")
        horizon = self.preprocessing.task.horizon if horizon is None else horizon
        try:
            return self.preprocessing.forecast(lambda window: self.network.predict(window, verbose=0), model_input,
                                               horizon)
        except SweepcastError as err:
            raise MlflowException(str(err), error_code=INVALID_PARAMETER_VALUE) from None
