"""sweepcast: hyperparameter sweeps for sequence-forecasting networks.

Hydra composes a run from ``data``, ``model`` and ``trainer`` configs; the pipeline runs
source -> clean -> split -> scale -> window -> model -> metrics -> tracking.
"""

__version__ = "0.1.0"
