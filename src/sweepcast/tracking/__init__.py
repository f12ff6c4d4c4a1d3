"""The only package that talks to MLflow; everything else calls these functions and gets plain data.

- :mod:`.store`: which store (THE one default, ``tracking.uri`` made absolute, the UI hint) and
  the experiment a run goes to
- :mod:`.runs`: the job's own run (start_run, log_*, the Keras model, the epoch callback, git tags)
- :mod:`.sweep_run`: the sweep's parent run and the runs the sweeper closes or writes for trials
- :mod:`.reading`: the read side for export and the reports (runs as :class:`.views.RunView`,
  metric histories, artifacts as text)
- :mod:`.registry`: the model registry and its ``champion`` alias
- :mod:`.exported_model` and :mod:`.model_code`: the exported pyfunc, saved as code
- :mod:`.ui_server`: ``mlflow ui`` as a supervised child (ready line, whole-group stop)

``from sweepcast import tracking`` costs nothing: each name below loads its module (and MLflow,
which takes seconds) on first use, so bad input fails before that.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "store": ("DEFAULT_STORE", "TrackingError", "default_store", "existing_store", "is_local_store", "open_experiment",
              "resolve_tracking_uri", "sqlite_path", "ui_hint", "use_store"),
    "ui_server": ("serve_ui",),
    "views": ("ModelVersionView", "RunView"),
    "runs": ("MODEL_ARTIFACT", "epoch_callback", "flatten", "git_tags", "log_config", "log_file", "log_html",
             "log_json", "log_keras_model", "log_metrics", "log_series", "log_table_csv", "start_run",
             "tensorflow_requirement"),
    "sweep_run": ("attach_file", "close_abandoned_run", "end_sweep_run", "log_sweep_files", "log_sweep_params",
                  "record_failed_run", "start_sweep_run", "update_sweep_run"),
    "reading": ("Store", "artifact_text", "download", "experiment_id", "experiment_ids", "experiment_name",
                "experiment_names", "find_run", "finished_runs", "get_run", "load_logged_model", "metric_history",
                "reader", "run_json", "run_text"),
    "registry": ("register_folder", "set_alias", "version_by_alias"),
    "exported_model": ("LoadedForecaster", "RawForecaster", "save_forecaster"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
