"""Build the exported model directory, its model card, and its registry entry.

The directory is written beside ``--to`` under a temporary name and renamed into place only
when complete, so an interrupted export never leaves half a model where a user expects one.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd
import yaml

from sweepcast.data.sources import load_source, source
from sweepcast.errors import DataError, SweepcastError, first_line
from sweepcast.export import intervals
from sweepcast.export.budget import smoke_warning
from sweepcast.export.select import EXPORT_TAG, REFIT_FAMILIES, Candidate
from sweepcast.export.serving import Serving
from sweepcast.export.target import check_target, write_marker
from sweepcast.models.gbdt import load_trees, save_trees
from sweepcast.tasks import preprocessing_from_json
from sweepcast.tracking import reading, registry
from sweepcast.tracking.exported_model import save_forecaster
from sweepcast.tracking.runs import tensorflow_requirement
from sweepcast.tracking.store import TrackingError

if TYPE_CHECKING:
    from sweepcast.tracking.reading import Store
    from sweepcast.tracking.views import ModelVersionView

log = logging.getLogger(__name__)

ALIAS = "champion"
REQUIREMENTS = ("mlflow", "keras", "numpy", "pandas", "scikit-learn", "holidays", "pyyaml", "skops")


@dataclass(frozen=True)
class RunArtifacts:
    config: dict[str, Any]
    preprocessing: Serving  # the run's task's preprocessing
    tags: dict[str, str]
    metrics: dict[str, float]


def read_run(store: Store, candidate: Candidate) -> RunArtifacts:
    """The run's resolved config and fitted preprocessing, as it logged them."""
    run = reading.get_run(store, candidate.run_id)
    try:
        config = yaml.safe_load(reading.run_text(candidate.run_id, "config.yaml"))
        scalers = reading.run_json(candidate.run_id, "preprocessing/scalers.json")
    except TrackingError as err:
        raise SweepcastError(f"run {candidate.run_id}: cannot read its config.yaml or preprocessing/scalers.json "
                             f"({first_line(err)})") from None
    return RunArtifacts(config, preprocessing_from_json(scalers, config["data"]), dict(run.tags),
                        dict(run.metrics))


def input_example(preprocessing: Serving) -> pd.DataFrame:
    """Recent rows of the training data in its raw text layout (what the model accepts)."""
    data = preprocessing.data
    try:
        raw, name = load_source(data)
    except DataError as err:
        raise SweepcastError(f"{err} (export reads the training data for the model's input example)") from None
    example = source(data).render_rows(data, preprocessing.example_rows(raw))
    preprocessing.frame(example, name)  # the example must itself be a valid request
    return example


def requirements() -> list[str]:
    return [f"{dist}=={metadata.version(dist)}" for dist in REQUIREMENTS] + [tensorflow_requirement()]


def stage_member(candidate: Candidate, run: RunArtifacts, scratch: Path, suffix: str = ""
                 ) -> tuple[str, Path, Callable[[Any], Any]]:
    """The run's model and its preprocessing written into ``scratch`` (``suffix`` tells an
    ensemble's members apart): (model artifact, preprocessing file, scaled windows -> scaled
    forecasts). A network is downloaded; a GBDT, which logs no model, is refit from its config."""
    preprocessing_file = scratch / f"preprocessing{suffix}.json"
    preprocessing_file.write_text(json.dumps(run.preprocessing.as_json(), indent=1), encoding="utf-8")
    if not candidate.model_uri:
        trees = refit_trees(candidate, run, scratch / f"trees{suffix}.skops")
        return str(trees), preprocessing_file, load_trees(trees)  # forecasts from the shipped file itself
    network = reading.download(candidate.model_uri, str(scratch / f"network{suffix}"))
    model = reading.load_logged_model(network)
    return network, preprocessing_file, lambda windows: model.predict(windows, verbose=0)


def run_data(candidate: Candidate, run: RunArtifacts, why: str) -> Any:
    """The run's data rebuilt from its logged config, checked to be what it trained on."""
    from sweepcast.tasks import prepare

    trainer = run.config.get("trainer") or {}
    try:
        data = prepare(run.config["data"], trainer.get("max_points"))
    except DataError as err:
        raise SweepcastError(f"{err} (export {why} run {candidate.run_id}'s training data)") from None
    logged = run.tags.get("data_fingerprint")
    if logged and logged not in fingerprints(data):
        raise SweepcastError(f"run {candidate.run_id}: its training data changed since the run (fingerprint "
                             f"{data.fingerprint}, the run's {logged}); export {why} the data the run saw")
    return data


def fingerprints(data: Any) -> set[str]:
    """The data's fingerprint, and for a series also the form runs logged before 2026-12-08 (calendar
    columns included)."""
    from sweepcast.data.pipeline import PreparedData, fingerprint

    found = {data.fingerprint}
    if isinstance(data, PreparedData):
        found.add(fingerprint(data.frame))
    return found


def check_intervals(run: RunArtifacts, levels: list[float]) -> None:
    """Intervals are calibrated on a series task's validation forecasts: refuse others first."""
    task = run.preprocessing.state.task  # older check-in runs carry no data.task
    if levels and task != "series":
        raise SweepcastError(f"--intervals: a series model's option; this run's task is {task}")


def calibrated(members: list[tuple[Candidate, RunArtifacts, Callable[[Any], Any]]], weights: list[float],
               levels: list[float]) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Conformal radii from the (weighted) validation forecasts of the shipped members, and their
    test coverage (:mod:`sweepcast.export.intervals`)."""
    val, test, first = 0.0, 0.0, None
    for (candidate, run, predict), weight in zip(members, weights):
        data = run_data(candidate, run, "calibrates intervals on")
        first = first or data
        val = val + weight * intervals.forecasts(predict, data, "val")
        test = test + weight * intervals.forecasts(predict, data, "test")
    radii = intervals.calibrate(np.abs(first.target_matrix("val") - val), levels)
    return radii, intervals.coverage(first.target_matrix("test"), test, radii)


def refit_trees(candidate: Candidate, run: RunArtifacts, path: Path) -> Path:
    """A GBDT run's trees, refit from its logged config on its data (deterministic given the seed:
    no early-stopping sample, so the same trees as the run's), saved with skops. The data must
    still be where the run read it, and be the same: its fingerprint is checked."""
    from sweepcast.models import fitted_baseline

    family = run.tags.get("model_family")
    if family not in REFIT_FAMILIES:
        raise SweepcastError(f"run {candidate.run_id} ({family}) logged no model: only networks and "
                             f"{', '.join(REFIT_FAMILIES)} export")
    data = run_data(candidate, run, "refits a GBDT on")
    trees = fitted_baseline(run.config["model"], data, int((run.config.get("trainer") or {}).get("seed", 0)))
    logged = run.metrics.get("val_rmse")
    if run.preprocessing.state.task == "series" and logged is not None:  # the run's own trees, or refuse
        refit = float(np.sqrt(np.mean((trees.predict(data, "val") - data.target_matrix("val")) ** 2)))
        if not np.isclose(refit, logged, rtol=1e-6):
            raise SweepcastError(f"run {candidate.run_id}: the refit GBDT scores val_rmse {refit:.6g} where the run "
                                 f"logged {logged:.6g} (another scikit-learn, or changed inputs such as the holiday "
                                 "calendar); it would not be the run's model")
    save_trees(trees, path)
    return path


def intervals_file(radii: dict[str, list[float]], coverage: dict[str, float], scratch: Path) -> Path:
    path = scratch / intervals.FILE
    path.write_text(json.dumps({"radii": radii, "coverage": coverage}, indent=1), encoding="utf-8")
    return path


def save_model(candidate: Candidate, run: RunArtifacts, folder: Path, levels: list[float] | None = None
               ) -> dict[str, float]:
    """Write the pyfunc into ``folder`` (must not exist), with conformal intervals at ``levels``;
    return their test coverage (empty without levels)."""
    with tempfile.TemporaryDirectory(prefix="sweepcast-export-") as scratch:
        network, preprocessing_file, predict = stage_member(candidate, run, Path(scratch))
        example = input_example(run.preprocessing)
        params = run.preprocessing.params()
        extra = {key: value for key, value in params.items() if key != "horizon"}
        output = run.preprocessing.forecast(predict, example, params["horizon"], "example", **extra)
        radii, coverage, widths = {}, {}, None
        if levels:
            radii, coverage = calibrated([(candidate, run, predict)], [1.0], levels)
            output = intervals.add_columns(output, run.preprocessing.target, radii)
            widths = intervals_file(radii, coverage, Path(scratch))
        save_forecaster(folder, network, preprocessing_file, example, output, params, requirements(),
                        intervals_file=widths)
    return coverage


def write_export(candidate: Candidate, run: RunArtifacts, to: Path, force: bool,
                 card: str | Callable[[Any], str], store: Path | None = None,
                 save: Callable[[Path], Any] | None = None) -> Any:
    """Build the model and its card under a temporary name beside ``to``, then move it into place
    (``store``: the local MLflow store's folder, never to be replaced; see :mod:`~sweepcast.export.target`).
    ``card`` may be a function of what ``save`` returned (an interval's test coverage); returns that."""
    check_target(to, force, store)
    to = to.resolve()
    to.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{to.name}.", dir=to.parent))
    try:
        saved = (save or (lambda folder: save_model(candidate, run, folder)))(staging / "model")  # an ensemble: its own
        text = card if isinstance(card, str) else card(saved)
        (staging / "model" / "MODEL_CARD.md").write_text(text, encoding="utf-8")
        write_marker(staging / "model", candidate.run_id)
        replace_dir(staging / "model", to)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return saved


def replace_dir(new: Path, to: Path) -> None:
    """Move ``new`` to ``to``; an existing ``to`` is set aside first and removed only afterwards."""
    old = None
    if to.exists() or to.is_symlink():
        old = to.with_name(f".{to.name}.replaced")
        remove(old)
        to.rename(old)
    new.rename(to)
    if old is not None:
        remove(old)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def registered_name(run: RunArtifacts, experiment: str) -> str:
    """A readable registry name: ``<experiment>-<target>-forecaster``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{experiment}-{run.preprocessing.target}-forecaster")


def is_better(value: float, than: float, direction: str) -> bool:
    return value < than if direction == "minimize" else value > than


def register(store: Store, candidate: Candidate, run: RunArtifacts, to: Path, name: str,
             metrics: dict[str, float] | None = None) -> tuple[str, str]:
    """Log the exported folder as an ``export`` run, register it, and move ``champion`` to it only when
    it beats the current champion on the champion's own metric. Returns (champion version, what happened).

    A failure here leaves the folder in place (it is complete) and the ``export`` run FAILED.
    """
    champion = current_champion(store, name)
    if champion is not None and champion.tags.get("source_run_id") == candidate.run_id:
        return champion.version, f"run {candidate.run_id} is already '{ALIAS}' (version {champion.version})"
    tags = {"source_run_id": candidate.run_id, "metric": candidate.metric, "metric_value": repr(candidate.value),
            "direction": candidate.direction, "scope": candidate.scope,
            "data_fingerprint": run.tags.get("data_fingerprint", ""), "smoke_budget": str(bool(smoke_warning(run)))}
    try:
        version = registry.register_folder(to, candidate.experiment_id, f"export {candidate.run_name}",
                                           {EXPORT_TAG: candidate.run_id}, "forecaster", name, tags, metrics or {})
    except TrackingError as err:
        raise SweepcastError(f"{to} is written, but registering it as '{name}' failed ({first_line(err)}); "
                             "fix the store and rerun with --force") from None
    verdict, moves = champion_verdict(champion, candidate, run)
    if moves:
        registry.set_alias(store, name, ALIAS, version)
        was = "" if champion is None else f" (was version {champion.version}: {verdict})"
        return version, f"version {version} registered; '{ALIAS}' -> version {version}{was}"
    return champion.version, (f"version {version} registered; '{ALIAS}' stays version {champion.version}: "
                              + verdict.replace("{version}", version))


def champion_verdict(champion: ModelVersionView | None, candidate: Candidate, run: RunArtifacts) -> tuple[str, bool]:
    """Does the candidate beat the champion? Judged on the metric the champion won with, using the
    candidate's own value of it; a champion without that record (set by hand) is never displaced."""
    if champion is None:
        return "no champion yet", True
    if champion.tags.get("smoke_budget") == "True" and not smoke_warning(run):
        return f"version {champion.version} was trained on a smoke budget", True
    held_on, scored_on = champion.tags.get("data_fingerprint"), run.tags.get("data_fingerprint")
    if held_on and scored_on and held_on != scored_on:
        return (f"version {champion.version} was scored on other data (fingerprint {held_on}, this run {scored_on}), "
                f"so their metrics do not compare; point '{ALIAS}' at version {{version}} yourself if it should win"), False
    metric, direction = champion.tags.get("metric"), champion.tags.get("direction")
    try:
        held = float(champion.tags["metric_value"])
    except (KeyError, ValueError):
        return f"version {champion.version} carries no metric record (set by hand?); move the alias yourself", False
    value = candidate.value if metric == candidate.metric else run.metrics.get(str(metric))
    if value is None or direction not in ("minimize", "maximize"):
        return f"this run has no {metric} to compare with the champion's {held:.6g}", False
    if is_better(float(value), held, direction):
        return f"{metric} {value:.6g} beats {held:.6g}", True
    return f"its {metric} {held:.6g} is not beaten by {value:.6g}", False


def current_champion(store: Store, name: str) -> ModelVersionView | None:
    return registry.version_by_alias(store, name, ALIAS)
