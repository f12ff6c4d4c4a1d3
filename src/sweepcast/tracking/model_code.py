"""The exported model's definition, saved as code ("models from code"): loading the model runs this
file instead of unpickling an object, so an exported folder holds no pickle at all."""

from sweepcast.console import quiet

quiet()  # in `mlflow models serve` too: TensorFlow's start-up lines off unless SWEEPCAST_VERBOSE=1

from mlflow.models import set_model  # noqa: E402

from sweepcast.tracking.exported_model import RawForecaster  # noqa: E402

set_model(RawForecaster())
