"""The exported model's definition, saved as code ("models from code"): loading the model runs this
file instead of unpickling an object, so an exported folder holds no pickle at all."""

from mlflow.models import set_model

from sweepcast.tracking.exported_model import RawForecaster

set_model(RawForecaster())
