"""``sweeps/<name>/report.html``: one offline page per sweep, also logged to the sweep's MLflow parent run.

Works for any study: any swept parameters, failed and pruned trials present, or no finished
trial at all (the page then says so instead of drawing empty charts).
"""

from __future__ import annotations

import html
import itertools
import logging
import math
import statistics
import warnings
from pathlib import Path

from sweepcast.clock import clock
from sweepcast.errors import SweepcastError, first_line
from sweepcast.models import FAMILIES, is_network
from sweepcast.report import sweep_figures as figures
from sweepcast.report.page import Section, grid, paragraph, render, table, write
from sweepcast.report.sweep_data import SweepData, TrialRow, load_sweep
from sweepcast.tasks import task_of_params
from sweepcast.tasks.base import REGRESSION_BARS

log = logging.getLogger(__name__)
REPORT = "report.html"
DEFAULT_PAIRS = 3


def parse_pairs(text: str | None) -> list[tuple[str, str]] | None:
    """``a:b,c:d`` -> [(a, b), (c, d)]; None keeps the default (the most important parameters)."""
    if not text:
        return None
    pairs = []
    for item in text.split(","):
        x, sep, y = item.partition(":")
        if not sep or not x or not y or x == y:
            raise SweepcastError(f"--pairs: expected name:name pairs separated by commas, got {item!r}")
        pairs.append((x.strip(), y.strip()))
    return pairs


def heatmap_pairs(sweep: SweepData, asked: list[tuple[str, str]] | None) -> list[tuple[str, str]]:
    swept = sweep.swept()
    if asked is not None:
        for x, y in asked:
            for name in (x, y):
                if name not in swept:
                    raise SweepcastError(f"--pairs {x}:{y}: '{name}' was not swept in this study "
                                         f"(swept: {', '.join(swept) or 'nothing'})")
        return asked
    ranked = importance_order(sweep, swept)
    return list(itertools.combinations(ranked[:DEFAULT_PAIRS], 2))


def importance_order(sweep: SweepData, swept: list[str]) -> list[str]:
    """Swept parameters, most important first (Optuna's evaluator), else in study order."""
    if len(swept) < 2 or len(sweep.complete()) < 3:
        return swept
    import optuna  # here, not at the top: Optuna takes ~0.2 s to import; a wrong sweep folder fails first

    try:
        with warnings.catch_warnings():  # "regimes with less than 2 trials": a conditional space's norm
            warnings.simplefilter("ignore", UserWarning)
            ranked = list(optuna.importance.get_param_importances(sweep.study, params=swept))
    except (ValueError, RuntimeError) as err:
        log.info("parameter importances unavailable (%s): heatmaps in study order", err)
        return swept
    return ranked + [p for p in swept if p not in ranked]


def header(sweep: SweepData) -> Section:
    states = {state: sum(t.state == state for t in sweep.trials) for state in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")}
    durations = [t.seconds for t in sweep.trials if t.seconds is not None]
    starts = [t.datetime_start for t in sweep.study.get_trials(deepcopy=False) if t.datetime_start]
    ends = [t.datetime_complete for t in sweep.study.get_trials(deepcopy=False) if t.datetime_complete]
    best = sweep.complete()
    pick = min if sweep.direction == "minimize" else max
    top = pick(best, key=lambda t: t.value) if best else None
    space = sweep.search_space()
    described = top if top is not None and top.run is not None else next((t for t in sweep.trials if t.run is not None), None)
    data = "?" if described is None else data_line(described.run.params, described.run.tags, space, top)
    rows = [
        ("study", sweep.study.study_name),
        ("data", data),
        ("models", ", ".join(sorted({t.family for t in sweep.trials if t.run is not None})) or "?"),
        ("metric", f"{sweep.metric} ({sweep.direction})"),
        ("trials", ", ".join(f"{n} {s.lower()}" for s, n in states.items() if n) or "none"),
    ]
    if top is not None:
        rows += [("best", f"{top.value:.6g} (trial {top.number})")]
        verdict = against_baselines(best, top)
        if verdict:
            rows.append(("against baselines", verdict))
        rows += [
                 ("reproduce", str(sweep.best.get("command") or f"python train.py {top.overrides}"))]
    if starts and ends:
        rows.append(("time", f"{clock((max(ends) - min(starts)).total_seconds())} in all, "
                             f"{clock(statistics.mean(durations)) if durations else '?'} per trial on average"))
    if sweep.parent_run_id:
        rows.append(("MLflow parent run", sweep.parent_run_id))
    if sweep.tracking_uri is None:
        rows.append(("MLflow", "store not found: run metrics, curves and forecasts are left out"))
    body = table(rows)
    if space:
        body += paragraph("Swept parameters: what the study searched and the value of its best trial "
                          "(the other keys above were the same in every trial).", "note")
        body += grid(("parameter", "searched", f"best trial{f' ({top.number})' if top is not None else ''}"),
                     [(key, searched, best_value(top, key)) for key, searched in space.items()])
    if not best:
        body += paragraph("No trial has finished yet: nothing to compare. Failed trials' reasons are in trials.csv.", "note")
    return Section("Summary", body)


def against_baselines(finished: list[TrialRow], top: TrialRow) -> str | None:
    """Does the winner beat the best baseline on test RMSE, and by how much? The sweep's own
    baseline trials when it ran any, else the run's persistence on the same windows."""
    won = top.metric("test_rmse")
    if won is None or not math.isfinite(won):
        return None
    baselines = [t for t in finished if t.family in FAMILIES and not is_network(t.family) and t is not top
                 and t.metric("test_rmse") is not None]
    if baselines:
        best = min(baselines, key=lambda t: t.metric("test_rmse") or math.inf)
        name, value = f"the best baseline trial ({best.family}, trial {best.number})", best.metric("test_rmse")
    elif top.metric("baseline_test_rmse") is not None:
        name, value = "persistence on the same windows", top.metric("baseline_test_rmse")
    else:
        return None
    margin = 1 - won / value  # type: ignore[operator]
    word = "better" if margin > 0 else "worse"
    return (f"the winner ({top.family}) has test RMSE {won:.4g} against {value:.4g} for {name}: "
            f"{abs(100 * margin):.1f} % {word}")


def best_value(top: TrialRow | None, key: str) -> str:
    """The best trial's value of a swept key, to significant digits (exact in the reproduce line)."""
    if top is None:
        return "no finished trial"
    return figures.number_text(top.params[key]) if key in top.params else "not set (conditional)"


def data_line(params: dict[str, str], tags: dict[str, str], space: dict[str, str] | None = None,
              top: TrialRow | None = None) -> str:
    """Source, what is forecast, and the window, from a trial run's params; a swept key says so, with
    the best trial's value, not one trial's value as if every trial had it."""
    shown = dict(params)
    for key in space or {}:
        if key in shown:
            winner = f" (best trial: {best_value(top, key)})" if top is not None and key in top.params else ""
            shown[key] = f"swept over {space[key]}{winner}"  # type: ignore[index]
    source = shown["data.source"] if "data.source" in (space or {}) and "data.source" in shown else \
        tags.get("data_source", shown.get("data.source", "?"))
    return task_of_params(params).describe(shown, source)


def heatmaps(sweep: SweepData, pairs: list[tuple[str, str]]) -> Section:
    section = Section("Parameter pairs")
    if not pairs:
        section.html = paragraph("Fewer than two parameters were swept: no pair to map.", "note")
        return section
    section.html = paragraph(f"Each cell: the {'lowest' if sweep.direction == 'minimize' else 'highest'} "
                             f"{sweep.metric} of the finished trials in it (the button shows the mean); blank "
                             "cells had no trial. Numeric parameters with many values are binned into quantiles.",
                             "note")
    notes = []
    for x, y in pairs:
        both = [t for t in sweep.complete() if x in t.params and y in t.params]
        if both:
            section.figures.append(figures.pair_heatmap(both, x, y, sweep.metric, sweep.direction))
        else:  # conditional parameters, e.g. of two different model families
            notes.append(paragraph(f"{x} × {y}: no finished trial has both parameters.", "note"))
    section.html += "".join(notes)
    return section


def baseline_lines(trials: list[TrialRow], key: str) -> dict[str, float]:
    """Best value of ``key`` per baseline family among the sweep's own trials."""
    lines: dict[str, float] = {}
    for t in trials:
        value = t.metric(key)
        if t.state == "COMPLETE" and value is not None and t.family in FAMILIES and not is_network(t.family):
            lines[t.family] = min(lines.get(t.family, value), value) if key != "test_r2" else max(lines.get(t.family, value), value)
    return lines


def run_baseline_lines(trials: list[TrialRow], key: str, names: tuple[str, ...]) -> dict[str, float]:
    """The baselines every run scores on its own windows (``<name>_<key>``), from the best such run."""
    finished = [t for t in trials if t.state == "COMPLETE" and t.run is not None and t.metric(key) is not None]
    if not finished:
        return {}
    best = max(finished, key=lambda t: t.metric(key) or 0.0)
    return {name: value for name in names if (value := best.metric(f"{name}_{key}")) is not None}


def configurations(sweep: SweepData) -> Section:
    """The task's bar charts (RMSE and R² for series and check-ins, Acc@k for next places) per
    configuration, with the baselines as lines, and the family comparison."""
    swept = sweep.swept()
    section = Section("Configurations")
    runs = [t.run for t in sweep.trials if t.run is not None]
    task = task_of_params(runs[0].params) if runs else None  # a study forecasts one task
    bars = task.report_bars if task is not None else REGRESSION_BARS
    charts = []
    for key, title, lower_is_better in bars:
        lines = baseline_lines(sweep.trials, key) if task is None or not task.run_baselines else \
            run_baseline_lines(sweep.trials, key, task.run_baselines)
        charts.append(figures.config_bars(sweep.trials, swept, key, title, lower_is_better, lines))
    ensembles = {run.name or run.run_id: run.metrics[sweep.metric] for run in sweep.ensembles
                 if sweep.metric in run.metrics}
    family = figures.family_comparison(sweep.trials, sweep.metric, ensembles)
    spread = figures.backtest_spread(sweep.trials, swept)
    section.figures = [f for f in (*charts, spread, family) if f is not None]
    if not section.figures:
        section.html = paragraph("No finished trial with logged metrics.", "note")
    return section


OPTUNA_PLOTS = ("plot_optimization_history", "plot_param_importances", "plot_intermediate_values",
                "plot_parallel_coordinate")


def optuna_plots(sweep: SweepData) -> Section:
    """Optuna's own plots, each skipped (with a note) where the study cannot support it."""
    import optuna.visualization as vis  # here, not at the top: ~0.4 s to import; a wrong sweep folder fails first

    section, notes = Section("Optuna"), []
    if not sweep.complete():  # each plot would only warn "There are no complete trials."
        section.html = paragraph("no trial completed: no Optuna plots", "note")
        return section
    for name in OPTUNA_PLOTS:
        if name == "plot_intermediate_values" and not any(t.intermediate_values for t in sweep.study.get_trials(deepcopy=False)):
            notes.append("no intermediate values (no epoch was reported): nothing pruned")
            continue
        if name in ("plot_param_importances", "plot_parallel_coordinate") and (len(sweep.swept()) < 1 or len(sweep.complete()) < 2):
            notes.append(f"{name.removeprefix('plot_').replace('_', ' ')} needs two finished trials and a swept parameter")
            continue
        try:
            with warnings.catch_warnings():  # "regimes with less than 2 trials": a conditional space's norm
                warnings.simplefilter("ignore", UserWarning)
                figure = getattr(vis, name)(sweep.study)
        except (ValueError, RuntimeError) as err:
            notes.append(f"{name}: {err}")
            continue
        figure.update_layout(template="plotly_white")
        section.figures.append(figure)
    section.html = "".join(paragraph(n, "note") for n in notes)
    return section


def best_trial(sweep: SweepData) -> Section:
    section = Section("Best trial")
    finished = [t for t in sweep.complete() if t.run is not None]
    if not finished:
        section.html = paragraph("No finished trial with an MLflow run.", "note")
        return section
    pick = min if sweep.direction == "minimize" else max
    top = pick(finished, key=lambda t: t.value)
    overall = pick(sweep.complete(), key=lambda t: t.value)
    section.html = paragraph(f"trial {top.number}: {top.overrides}")
    if overall.number != top.number:
        section.html += paragraph(f"The best trial, {overall.number}, has no MLflow run in this store; showing the "
                                  f"best trial that has one.", "note")
    from sweepcast.tracking import reading  # here, not at the top: MLflow takes ~1 s to import; bad input fails first

    store = reading.reader(sweep.tracking_uri)
    history = {key: reading.metric_history(store, top.run.run_id, key) for key in ("loss", "val_loss")}
    curves = figures.loss_curves(history, f"trial {top.number}: training and validation loss")
    if curves is not None:
        section.figures.append(curves)
    task = task_of_params(top.run.params)
    text = reading.artifact_text(top.run.artifact_uri, task.prediction_table)
    if text is not None:  # runs from before the table existed simply go without
        section.figures += task.best_trial_figures(text, top.number, top.run.params)
    return section


def build_report(sweep: SweepData, pairs: list[tuple[str, str]] | None = None) -> str:
    chosen = heatmap_pairs(sweep, pairs)
    sections = [header(sweep), heatmaps(sweep, chosen), configurations(sweep), optuna_plots(sweep)]
    if sweep.tracking_uri is not None:
        sections.append(best_trial(sweep))
    return render(f"Sweep report: {html.unescape(sweep.study.study_name)}", sections)


def write_report(folder: Path, pairs: str | None = None, storage: str | None = None, tracking_uri: str | None = None,
                 log_to_mlflow: bool = True) -> Path:
    """Build, write ``<folder>/report.html``, and attach it to the sweep's MLflow parent run."""
    sweep = load_sweep(folder, storage, tracking_uri)
    path = write(folder / REPORT, build_report(sweep, parse_pairs(pairs)))
    if log_to_mlflow and sweep.tracking_uri and sweep.parent_run_id:
        from sweepcast.tracking import TrackingError, attach_file  # here: attach_file imports MLflow (~1 s)

        try:
            attach_file(sweep.tracking_uri, sweep.parent_run_id, path)
        except TrackingError as err:  # the page is written; only its copy in MLflow is missing
            log.warning("report not attached to MLflow run %s: %s", sweep.parent_run_id, first_line(err))
    log.info("sweep report: %s", path)
    return path
