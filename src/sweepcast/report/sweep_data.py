"""A sweep as the report reads it: the Optuna study in the sweep folder plus each trial's MLflow run."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sweepcast.errors import SweepcastError, first_line
from sweepcast.redaction import redact
from sweepcast.storage_url import with_driver
from sweepcast.tracking.store import DEFAULT_STORE, SQLITE, sqlite_path

if TYPE_CHECKING:
    from sweepcast.tracking.views import RunView

log = logging.getLogger(__name__)


@dataclass
class TrialRow:
    number: int
    state: str  # COMPLETE | PRUNED | FAIL | RUNNING | WAITING
    value: float | None
    params: dict[str, Any]
    overrides: str
    seconds: float | None
    run: RunView | None = None  # the trial's MLflow run, when the store has it

    @property
    def family(self) -> str:
        if self.run is not None and "model_family" in self.run.tags:
            return self.run.tags["model_family"]
        return str(self.params.get("model", self.params.get("model.name", "?")))

    def metric(self, key: str) -> float | None:
        return None if self.run is None else self.run.metrics.get(key)


@dataclass
class SweepData:
    folder: Path
    study: Any  # optuna.Study
    metric: str
    direction: str
    trials: list[TrialRow]
    best: dict[str, Any] = field(default_factory=dict)  # best.yaml
    parent_run_id: str | None = None
    tracking_uri: str | None = None  # None: no MLflow store found (the report says so)
    ensembles: list[RunView] = field(default_factory=list)  # `ensemble` runs of this study, beside its trials

    def complete(self) -> list[TrialRow]:
        return [t for t in self.trials if t.state == "COMPLETE" and t.value is not None]

    def swept(self) -> list[str]:
        """Parameters that took more than one value among finished trials, in study order."""
        names: dict[str, set[str]] = {}
        for trial in self.complete():
            for key, value in trial.params.items():
                names.setdefault(key, set()).add(repr(value))
        return [k for k, values in names.items() if len(values) > 1]

    def search_space(self) -> dict[str, str]:
        """Every parameter the study searched (more than one possible value, whether or not the finished
        trials took more than one), in study order, with what it searched: the sweeper's own text
        (``{10, 30, 60}``, ``float[0.0, 0.5] log``) where the study recorded it, else its Optuna distribution."""
        recorded = self.study.user_attrs.get("search_space") or {}
        distributions: dict[str, list[Any]] = {}
        for trial in self.study.get_trials(deepcopy=False):
            for key, dist in trial.distributions.items():
                distributions.setdefault(key, []).append(dist)
        space = {str(k): str(v) for k, v in recorded.items()
                 if not distributions.get(k) or not all(d.single() for d in distributions[k])}
        for key, dists in distributions.items():
            if key not in space and not all(d.single() for d in dists):
                space[key] = distribution_text(dists[-1])
        for key in self.swept():  # e.g. a define-by-run parameter whose distribution changed between trials
            space.setdefault(key, "several values")
        return space


def distribution_text(dist: Any) -> str:
    """An Optuna distribution in the sweeper's notation: ``{a, b}``, ``int[1, 3]``, ``float[0.0001, 0.01] log``."""
    if hasattr(dist, "choices"):
        return "{" + ", ".join(map(str, dist.choices)) + "}"
    kind = "int" if type(dist).__name__ == "IntDistribution" else "float"
    return f"{kind}[{dist.low}, {dist.high}]" + (" log" if getattr(dist, "log", False) else "")


def sweep_storage(folder: Path, storage: str | None) -> str:
    """``--storage``, else the folder's own ``optuna.db``, else the (unredacted) URL in ``multirun.yaml``."""
    if storage:
        return storage
    local = folder / "optuna.db"
    if local.is_file():
        return f"sqlite:///{local.resolve()}"
    saved = multirun_value(folder, ("hydra", "sweeper", "storage"))
    if saved and "***" not in str(saved):
        return str(saved)
    raise SweepcastError(f"{folder}: holds no study (no optuna.db; for a study in a database server pass --storage URL)")


def multirun_value(folder: Path, path: tuple[str, ...]) -> Any:
    """A value of the sweep's saved config, interpolations (``${oc.env:...}``) resolved as Hydra would."""
    file = folder / "multirun.yaml"
    if not file.is_file():
        return None
    try:
        return OmegaConf.select(OmegaConf.load(file), ".".join(path))
    except OmegaConfBaseException:
        return None


def tracking_store(folder: Path, given: str | None) -> str | None:
    """The MLflow store the sweep logged to (as ``multirun.yaml`` recorded it), if it can be opened here."""
    uri = str(given or os.environ.get("MLFLOW_TRACKING_URI") or multirun_value(folder, ("tracking", "uri")) or DEFAULT_STORE)
    path = sqlite_path(uri)
    if path is not None:
        if not path.is_file():
            log.warning("no MLflow store at %s: the report leaves out run metrics and curves (pass --tracking-uri)", path)
            return None
        return f"{SQLITE}{path}"
    return uri


def load_sweep(folder: Path, storage: str | None = None, tracking_uri: str | None = None) -> SweepData:
    if not folder.is_dir():
        raise SweepcastError(f"{folder}: no such sweep folder (expected sweeps/<study_name> from a `train.py -m` run)")
    best_file = folder / "best.yaml"
    best = yaml.safe_load(best_file.read_text(encoding="utf-8")) if best_file.is_file() else {}
    name = str(best.get("study_name") or folder.name)
    url = sweep_storage(folder, storage)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
        raise SweepcastError(f"--storage {url}: no such SQLite file (it would be created empty)")
    import optuna  # here, not at the top: Optuna takes ~0.2 s to import; a wrong folder or --storage fails first

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=name, storage=with_driver(url))  # the URL as the sweep opened it
    except KeyError:
        raise SweepcastError(f"{folder}: the storage holds no study named '{name}'") from None
    except Exception as err:  # noqa: BLE001 - an unreachable or malformed storage URL: say which, in one line
        raise SweepcastError(f"--storage {redact(url)}: cannot open the study ({first_line(err)})") from None
    uri = tracking_store(folder, tracking_uri)
    runs = fetch_runs(uri, study) if uri else {}
    rows = [TrialRow(t.number, t.state.name, t.value, dict(t.params), " ".join(t.user_attrs.get("overrides", [])),
                     t.duration.total_seconds() if t.duration else None, runs.get(t.number))
            for t in study.get_trials(deepcopy=False)]
    return SweepData(folder, study, str(study.user_attrs.get("metric", best.get("metric", "val_rmse"))),
                     study.direction.name.lower(), rows, best, study.user_attrs.get("mlflow_parent_run_id"), uri,
                     fetch_ensembles(uri, name) if uri else [])


def fetch_ensembles(uri: str, study_name: str) -> list[RunView]:
    """The finished ``python -m sweepcast ensemble`` runs of this study (tagged ``ensemble_of``)."""
    from sweepcast.tracking import reading  # here, not at the top: MLflow takes ~1 s to import; bad input fails first

    store = reading.reader(uri)
    return reading.finished_runs(store, reading.experiment_ids(store), f'tags.ensemble_of = "study \'{study_name}\'"')


def fetch_runs(uri: str, study: Any) -> dict[int, RunView]:
    """Trial number -> its MLflow run (one query per run id the trials recorded)."""
    from sweepcast.tracking import reading  # here, not at the top: MLflow takes ~1 s to import; bad input fails first

    store = reading.reader(uri)
    found = {}
    for trial in study.get_trials(deepcopy=False):
        run_id = trial.user_attrs.get("mlflow_run_id")
        if run_id:
            run = reading.find_run(store, run_id)
            if run is not None:
                found[trial.number] = run
            else:
                log.warning("trial %d: MLflow run %s not in %s", trial.number, run_id, uri)
    return found
