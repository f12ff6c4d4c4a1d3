"""A quiet console by default: our lines and the warnings that need the user's action.

Every entry point (``train.py``, ``python -m sweepcast``) calls :func:`quiet` first, before Hydra,
MLflow or TensorFlow are imported. What it hides is library chatter a user can do nothing about:

- TensorFlow's C++ start-up lines (``All log messages before absl::InitializeLog()`` and
  ``oneDNN custom operations are on``, printed twice while ``tensorflow`` is imported).
  ``TF_CPP_MIN_LOG_LEVEL`` no longer reaches them since TensorFlow logs through absl before absl
  is initialised, so the first ``import tensorflow`` runs with its stderr captured and replayed
  without those lines (anything else it prints, an error included, still reaches the console).
- MLflow's INFO lines (``Creating initial MLflow database tables...``); its warnings stay.
- Keras' ``tf.function retracing`` warning: predicting the train, validation and test splits
  (different batch counts) retraces by design.
- Hydra's basic launcher's ``Launching 1 jobs locally`` and ``#0 : ...`` before every trial (the
  sweep's own progress line says which trial runs), MLflow's ``View run ... at`` links per run on
  a tracking server, and its "Successfully registered model" lines on export.

``SWEEPCAST_VERBOSE=1`` keeps all of it. Standard library only: this runs before the heavy imports.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
from types import ModuleType
from typing import Any, Sequence

VERBOSE_ENV = "SWEEPCAST_VERBOSE"
TF_NOISE = re.compile(r"All log messages before absl::InitializeLog\(\)|oneDNN custom operations are on")
RETRACING = "triggered tf.function retracing"
HYDRA_LAUNCHER = "hydra._internal.core_plugins.basic_launcher"  # our sweeper launches one job per trial


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def quiet() -> None:
    """Hide the library noise above for this process and the worker processes it starts."""
    if verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per file is noise here
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # "View run at" per run on a server
    logging.getLogger(HYDRA_LAUNCHER).setLevel(logging.WARNING)  # "Launching 1 jobs locally" per trial
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # "generated new fontManager" on a first run
    logging.getLogger("tensorflow").addFilter(drop_retracing)
    if "tensorflow" not in sys.modules and not any(isinstance(f, QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, QuietTensorFlowImport())


def drop_retracing(record: logging.LogRecord) -> bool:
    return RETRACING not in record.getMessage()


class QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: on the first ``import tensorflow`` it wraps the real loader so the
    package runs with fd 2 captured, then steps out of ``sys.meta_path``."""

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            run = spec.loader.exec_module

            def exec_module(module: ModuleType) -> None:
                with filtered_stderr(TF_NOISE):
                    run(module)

            spec.loader.exec_module = exec_module  # type: ignore[method-assign]  # this module's loader only
        return spec


class filtered_stderr:
    """File descriptor 2 goes to a temporary file while the block runs; afterwards every line not
    matching ``noise`` is written to the real stderr, in order (C++ and Python writes alike)."""

    def __init__(self, noise: re.Pattern[str]) -> None:
        self.noise = noise

    def __enter__(self) -> "filtered_stderr":
        sys.stderr.flush()
        self.saved = os.dup(2)
        self.capture = tempfile.TemporaryFile()
        os.dup2(self.capture.fileno(), 2)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            sys.stderr.flush()
        finally:
            os.dup2(self.saved, 2)
            os.close(self.saved)
        self.capture.seek(0)
        text = self.capture.read().decode("utf-8", "replace")
        self.capture.close()
        kept = [line for line in text.splitlines(keepends=True) if not self.noise.search(line)]
        if kept:
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def starting(entry: str) -> None:
    """One line at once: Hydra, Optuna, MLflow and TensorFlow take seconds to import (tens of
    seconds on a cold or busy machine), and a silent terminal looks hung. Only on a terminal: a
    pipe, a log file or a script reading stderr gets the one error line of bad input and nothing
    else. Worker processes a sweep starts itself stay silent here (their parent already said it)."""
    from sweepcast.sweeper.context import WORKER_ENV  # standard library only, like this module

    if os.environ.get(WORKER_ENV) or not sys.stderr.isatty():
        return
    print(f"sweepcast: {entry} starting (loading Hydra, MLflow and, for networks, TensorFlow)", file=sys.stderr,
          flush=True)
