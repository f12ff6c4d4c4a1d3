"""``MODEL_CARD.md``: what the exported model is, how good it is against baselines, how to rebuild it."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import yaml

from sweepcast.export.budget import smoke_warning
from sweepcast.export.package import RunArtifacts
from sweepcast.export.select import Candidate, Scope, finished_runs
from sweepcast.models import FAMILIES, is_network
from sweepcast.tasks import load_task

if TYPE_CHECKING:
    from sweepcast.tracking.reading import Store

METRICS = ("test_rmse", "test_mae", "test_r2", "test_smape", "test_km_median", "test_km_mean", "test_dt_minutes_mae",
           "val_rmse", "baseline_test_rmse", "baseline_test_km_median", "skill")
TRAINING = ("fit_seconds", "epochs_run", "best_epoch", "parameters", "train_samples_per_second")
def baseline_rows(store: Store, scope: Scope) -> list[tuple[str, float, float]]:
    """Best finished run of each baseline family in the same scope: (family, test RMSE, skill)."""
    runs = finished_runs(store, scope)
    best: dict[str, Any] = {}
    for run in runs:
        family = run.tags.get("model_family", "")
        if family in FAMILIES and not is_network(family) and "test_rmse" in run.metrics:
            if family not in best or run.metrics["test_rmse"] < best[family].metrics["test_rmse"]:
                best[family] = run
    return [(f, r.metrics["test_rmse"], r.metrics.get("skill", float("nan"))) for f, r in sorted(best.items())]


def number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, (int, float)) else str(value)


def model_card(store: Store, candidate: Candidate, run: RunArtifacts, scope: Scope, name: str,
               to: Path) -> str:
    data, task = run.preprocessing.data, run.preprocessing.task
    wording = load_task(run.preprocessing.state.task).card(run.preprocessing)
    metrics: Mapping[str, float] = run.metrics
    overrides = run.tags.get("job_overrides")
    command = f"python train.py {overrides}".strip() if overrides is not None else run.tags.get("command", "")
    lines = [
        f"# {name}",
        "",
        f"Exported {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} from MLflow run `{candidate.run_id}` "
        f"({candidate.run_name}): the best of {candidate.scope} by `{candidate.metric}` ({candidate.direction}) "
        f"= {candidate.value:.6g}.",
        "",
        "## Data",
        "",
        f"- source: {run.tags.get('data_source', data.get('source'))} (`data.source={data.get('source')}`), "
        f"fingerprint `{run.tags.get('data_fingerprint', '?')}`, {number(metrics.get('clean_rows_out', '?'))} rows after cleaning",
        f"- target `{run.preprocessing.target}`; inputs {', '.join(f'`{f}`' for f in run.preprocessing.features)}",
        wording.window,
        "",
        "## Model",
        "",
        "```yaml",
        yaml.safe_dump(run.config.get("model", {}), sort_keys=False).strip(),
        "```",
        "",
        "## Metrics" + wording.metrics_heading,
        "",
        "| metric | value |",
        "|---|---:|",
        *(f"| {k} | {number(metrics[k])} |" for k in METRICS if k in metrics),
        "",
        f"`baseline_test_rmse` is {wording.baseline} "
        "on the same test windows; `skill = 1 - test_rmse / baseline_test_rmse`.",
        "",
    ]
    baselines = baseline_rows(store, scope)
    if baselines:
        lines += [f"Baselines run in the same {candidate.scope}:", "", "| baseline | test RMSE | skill |", "|---|---:|---:|",
                  *(f"| {f} | {rmse:.6g} | {s:.3f} |" for f, rmse, s in baselines), ""]
    warning = smoke_warning(run)
    lines += [
        "## Training",
        "",
        *([f"**Warning:** {warning}.", ""] if warning else []),
        *(f"- {k}: {number(metrics[k])}" for k in TRAINING if k in metrics),
        f"- trainer: `{yaml.safe_dump(run.config.get('trainer', {}), default_flow_style=True, width=10_000).strip()}`",
        f"- code: git `{run.tags.get('git_commit', 'unknown')}`" + (" (uncommitted changes)" if run.tags.get("git_dirty") == "true" else ""),
        "",
        "## Reproduce",
        "",
        "```bash",
        command,
        "```",
        "",
        "## Use",
        "",
        "```bash",
        f"python -m sweepcast predict {to} --input FILE.csv --horizon {task.horizon}",
        f"mlflow models serve -m {to} --env-manager local --port 5001   # POST /invocations",
        "```",
        "",
        wording.usage,
        "",
    ]
    return "\n".join(lines)
