"""``export --run <ensemble run>``: one pyfunc that carries every member's network and preprocessing.

The ensemble run (:mod:`sweepcast.ensembles`) names its members and weights; each member's
logged network and fitted preprocessing are packaged as in a single export, and the pyfunc
answers like one model: every member forecasts from the raw rows through its own preprocessing
(its own lookback and inputs) and the answers are averaged with the run's weights
(:mod:`sweepcast.export.combine`). Members are networks or GBDTs (refit from their config and
saved with skops); another baseline member (ETS, persistence, ...) is refused in one line.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from sweepcast.ensembles import MEMBERS_TAG
from sweepcast.errors import SweepcastError
from sweepcast.export import intervals
from sweepcast.export.combine import combine
from sweepcast.export.package import (
    RunArtifacts,
    calibrated,
    input_example,
    intervals_file,
    read_run,
    requirements,
    stage_member,
)
from sweepcast.export.select import REFIT_FAMILIES, Candidate, is_exportable
from sweepcast.tracking import reading
from sweepcast.tracking.exported_model import save_forecaster


def is_ensemble(tags: dict[str, str]) -> bool:
    return MEMBERS_TAG in tags


def members(store: Any, run_id: str) -> tuple[list[tuple[Candidate, RunArtifacts]], list[float]]:
    """Each member's candidate and logged artifacts, best first, and the weights."""
    view = reading.find_run(store, run_id)
    if view is None:
        raise SweepcastError(f"--run {run_id}: no such MLflow run in this store")
    weights = [float(m["weight"]) for m in reading.run_json(run_id, "ensemble.json")["members"]]
    found = []
    for member_id in view.tags[MEMBERS_TAG].split(","):
        member = reading.find_run(store, member_id)
        if member is None:
            raise SweepcastError(f"ensemble {run_id}: member run {member_id} is not in this store")
        if not is_exportable(member.tags):
            raise SweepcastError(f"ensemble {run_id}: member {member.name} ({member.tags.get('model_family', '?')}) "
                                 f"logged no model (a baseline): only networks and {', '.join(REFIT_FAMILIES)} members "
                                 "export; export its best network, or an ensemble without it")
        candidate = Candidate(member_id, member.name or member_id, member.experiment_id, "val_rmse", "minimize",
                              float(member.metrics.get("val_rmse", float("nan"))), member.tags.get("model_uri", ""),
                              f"ensemble {run_id}")
        found.append((candidate, read_run(store, candidate)))
    return found, weights


def save_ensemble(found: list[tuple[Candidate, RunArtifacts]], weights: list[float], folder: Path,
                  levels: list[float] | None = None) -> dict[str, float]:
    """Write the ensemble pyfunc into ``folder`` (must not exist), with conformal intervals of the
    weighted forecasts at ``levels``; return their test coverage (empty without levels)."""
    with tempfile.TemporaryDirectory(prefix="sweepcast-export-") as scratch:
        networks, files, servings, shipped = [], [], [], []
        for i, (candidate, run) in enumerate(found):
            network, preprocessing_file, predict = stage_member(candidate, run, Path(scratch), f"_{i}")
            networks.append(network)
            files.append(preprocessing_file)
            servings.append((run.preprocessing, predict))
            shipped.append((candidate, run, predict))
        weights_file = Path(scratch) / "ensemble.json"
        weights_file.write_text(json.dumps({"weights": weights, "members": [c.run_id for c, _ in found]}),
                                encoding="utf-8")
        longest = max((run.preprocessing for _, run in found), key=lambda s: s.task.timestep)
        example = input_example(longest)  # enough rows for the member with the longest lookback
        params = found[0][1].preprocessing.params()
        outputs = [serving.forecast(predict, example, params["horizon"], "example") for serving, predict in servings]
        target = found[0][1].preprocessing.target
        output = combine(outputs, weights, target)
        coverage, widths = {}, None
        if levels:
            radii, coverage = calibrated(shipped, weights, levels)
            output = intervals.add_columns(output, target, radii)
            widths = intervals_file(radii, coverage, Path(scratch))
        save_forecaster(folder, networks, files, example, output, params, requirements(), weights_file,
                        intervals_file=widths)
    return coverage


def ensemble_card(name: str, run_id: str, view_metrics: dict[str, float], found: list[tuple[Candidate, RunArtifacts]],
                  weights: list[float], coverage: dict[str, float] | None = None) -> str:
    lines = [f"# {name}", "", f"An ensemble (MLflow run `{run_id}`): the weighted mean of {len(found)} members' "
             "forecasts, each from the raw rows through its own preprocessing.", "", "## Members", "",
             "| run | name | window | val RMSE | weight |", "|---|---|---:|---:|---:|"]
    for (candidate, run), weight in zip(found, weights):
        lines.append(f"| `{candidate.run_id}` | {candidate.run_name} | {run.preprocessing.task.timestep} | "
                     f"{candidate.value:.6g} | {weight:.3f} |")
    lines += ["", "## Metrics (original units)", "", "| metric | value |", "|---|---:|",
              *(f"| {k} | {view_metrics[k]:.6g} |" for k in ("val_rmse", "test_rmse", "test_mae", "test_r2",
                                                           "baseline_test_rmse", "skill") if k in view_metrics), ""]
    return "\n".join(lines + intervals.card_lines(coverage or {}))
