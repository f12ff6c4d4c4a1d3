"""Taking the winner out: pick the best run, package it as a raw-input MLflow pyfunc with its
preprocessing, register it under the ``champion`` alias, and forecast from raw files."""
