"""The sweep report's own figures: parameter-pair heatmaps, per-configuration bars, family comparison,
loss curves. Optuna's standard plots come from ``optuna.visualization`` (see :mod:`sweep_report`)."""

from __future__ import annotations

import itertools
import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from sweepcast import checks
from sweepcast.report.sweep_data import TrialRow
from sweepcast.tasks import task_of_params

MAX_CATEGORIES = 8  # numeric parameters with more distinct values are binned into quantiles
BINS = 6
LAYOUT = {"template": "plotly_white"}


SIGNIFICANT = 3  # digits of a sampled float on an axis, in a label or in the summary (more only where needed)
LABEL_WIDTH = 48  # characters per line of a configuration's label before it wraps
BASELINE_LINES = [("dash", "#555"), ("dot", "#54a24b"), ("dashdot", "#f58518"), ("longdash", "#b279a2"),
                  ("dash", "#9d755d"), ("dot", "#72b7b2")]  # one per baseline family, told apart in the legend


def number_text(value: Any, digits: int = SIGNIFICANT) -> str:
    """A float to ``digits`` significant digits (``0.00947``, ``1.5e-05``), keeping a float a float
    (``0.0``, ``100.0``: a trial that ran 1.0 is not the one that ran 1); anything else as ``str``."""
    if not isinstance(value, (float, np.floating)) or not math.isfinite(value):
        return str(value)
    text = f"{float(value):.{digits}g}"
    return text if any(c in text for c in ".e") else f"{text}.0"


def value_labels(values: Sequence[Any]) -> list[str]:
    """Each value as :func:`number_text`, with as few significant digits (at least 3) as keep distinct
    values distinct; 1, 1.0 and True stay three labels, as the trials ran them."""
    exact = [str(v) for v in values]
    for digits in range(SIGNIFICANT, 18):
        labels = [number_text(v, digits) for v in values]
        if len(set(zip(exact, labels))) == len(set(labels)) == len(set(exact)):
            return labels
    return exact


def bins(values: Sequence[Any]) -> tuple[list[str], list[str]]:
    """Each value's cell label, and the labels in axis order. Few distinct values stay cells of their
    own, floats rounded to significant digits; many numeric values become quantile ranges, so a sampled
    interval still gives a readable grid."""
    numeric = all(map(checks.is_number, values))
    labels = value_labels(values)
    if not numeric or len(set(labels)) <= MAX_CATEGORIES:
        ranked = sorted(zip(values, labels), key=lambda vl: (float(vl[0]), vl[1]) if numeric else vl[1])
        return labels, list(dict.fromkeys(label for _, label in ranked))
    series = pd.Series(values, dtype=float)
    cut = pd.qcut(series, q=BINS, duplicates="drop")
    edges = [float(series.min()), *(float(i.right) for i in cut.cat.categories)]  # qcut widens the first edge
    names = range_labels(edges)
    return [names[code] for code in cut.cat.codes], names


def range_labels(edges: list[float]) -> list[str]:
    """``a–b`` per bin, with just enough significant digits that no two labels are the same."""
    for digits in range(3, 12):
        names = [f"{a:.{digits}g}–{b:.{digits}g}" for a, b in zip(edges[:-1], edges[1:])]
        if len(set(names)) == len(names):
            return names
    return [f"{a!r}–{b!r}" for a, b in zip(edges[:-1], edges[1:])]


def cell_table(trials: list[TrialRow], x: str, y: str) -> pd.DataFrame:
    """One row per finished trial with both parameters: its x bin, y bin and value."""
    usable = [t for t in trials if x in t.params and y in t.params]
    xs, x_order = bins([t.params[x] for t in usable])
    ys, y_order = bins([t.params[y] for t in usable])
    frame = pd.DataFrame({"x": xs, "y": ys, "value": [t.value for t in usable]})
    frame.attrs["x_order"], frame.attrs["y_order"] = x_order, y_order
    return frame


def pair_heatmap(trials: list[TrialRow], x: str, y: str, metric: str, direction: str) -> go.Figure:
    """Best (default) and mean value per cell; empty cells stay blank; a button switches the two."""
    frame = cell_table(trials, x, y)
    x_order, y_order = frame.attrs["x_order"], frame.attrs["y_order"]
    best = frame.groupby(["y", "x"])["value"].agg("min" if direction == "minimize" else "max").unstack()
    mean = frame.groupby(["y", "x"])["value"].mean().unstack()
    best, mean = (t.reindex(index=y_order, columns=x_order) for t in (best, mean))
    counts = frame.groupby(["y", "x"]).size().unstack().reindex(index=y_order, columns=x_order)

    def z(table: pd.DataFrame) -> list[list[float | None]]:
        return [[None if pd.isna(v) else float(v) for v in row] for row in table.to_numpy()]

    text = [[("" if pd.isna(v) else f"{v:.4g}") for v in row] for row in best.to_numpy()]
    figure = go.Figure(go.Heatmap(
        z=z(best), x=x_order, y=y_order, text=text, texttemplate="%{text}", hoverongaps=False,
        colorscale="Viridis", reversescale=direction == "minimize", colorbar={"title": metric},
        customdata=counts.fillna(0).astype(int).to_numpy(),
        hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{metric}=%{{z:.5g}}<br>trials=%{{customdata}}<extra></extra>",
    ))
    mean_text = [[("" if pd.isna(v) else f"{v:.4g}") for v in row] for row in mean.to_numpy()]
    figure.update_layout(
        title=f"{'lowest' if direction == 'minimize' else 'highest'} {metric} by {x} × {y}",
        xaxis_title=x, yaxis_title=y, xaxis={"type": "category"}, yaxis={"type": "category"}, **LAYOUT,
        updatemenus=[{"type": "buttons", "direction": "right", "x": 1, "xanchor": "right", "y": 1.15, "buttons": [
            {"label": "best", "method": "restyle", "args": [{"z": [z(best)], "text": [text]}]},
            {"label": "mean", "method": "restyle", "args": [{"z": [z(mean)], "text": [mean_text]}]},
        ]}],
    )
    return figure


def label(trial: TrialRow, swept: list[str]) -> str:
    shown = " ".join(f"{k.split('.')[-1]}={number_text(trial.params[k])}" for k in swept if k in trial.params)
    return f"#{trial.number} {shown}".strip()


def wrapped(text: str, width: int = LABEL_WIDTH) -> str:
    """``text`` broken at spaces into lines of at most ``width`` characters (plotly's ``<br>``)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return "<br>".join(lines)


def config_bars(trials: list[TrialRow], swept: list[str], key: str, title: str, lower_is_better: bool,
                baselines: dict[str, float]) -> go.Figure | None:
    """One horizontal bar per finished trial with ``key`` logged, best on top, labelled with its swept
    values (wrapped, the axis margin grown to fit them; the full overrides on hover); the run's own
    reference (persistence, or the last check-in for check-in data) as a marker, and the best run of
    each baseline family as a reference line, named in the legend."""
    rows = [(t, t.metric(key)) for t in trials if t.state == "COMPLETE" and t.metric(key) is not None]
    rows = [(t, v) for t, v in rows if math.isfinite(v)]
    if not rows:
        return None
    rows.sort(key=lambda tv: tv[1], reverse=not lower_is_better)
    names = [wrapped(label(t, swept)) for t, _ in rows]
    figure = go.Figure(go.Bar(y=names, x=[v for _, v in rows], orientation="h", name=key, marker_color="#4c78a8",
                              hovertext=[t.overrides for t, _ in rows]))
    if key in ("test_rmse", "test_acc1"):
        persistence = [t.metric(f"baseline_{key}") for t, _ in rows]
        runs = [t.run for t, _ in rows if t.run is not None]  # a study forecasts one task
        reference = task_of_params(runs[0].params).reference if runs else "persistence"
        figure.add_trace(go.Scatter(y=names, x=persistence, mode="markers", name=f"{reference} (same windows)",
                                    marker={"symbol": "diamond", "color": "#e45756", "size": 9}))
    for (family, value), (dash, color) in zip(baselines.items(), itertools.cycle(BASELINE_LINES)):
        # a full-height line, named in the legend: annotations of close baselines would overlap
        figure.add_vline(x=value, line_dash=dash, line_color=color, line_width=2)
        figure.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=f"best {family} ({value:.4g})",
                                    line={"dash": dash, "color": color, "width": 2}))
    lines = max(name.count("<br>") + 1 for name in names)
    figure.update_layout(
        title=title, xaxis_title=key, **LAYOUT,
        height=170 + len(names) * (14 * lines + 14) + 20 * math.ceil(len(figure.data) / 2),  # + the legend's rows
        yaxis={"type": "category", "autorange": "reversed", "automargin": True},  # best on top; labels never cut
        # under the chart (the bottom margin grows to fit it): a long legend beside it would squeeze the bars
        legend={"orientation": "h", "x": 0, "xanchor": "left", "yref": "container", "y": 0, "yanchor": "bottom"},
    )
    return figure


def backtest_spread(trials: list[TrialRow], swept: list[str]) -> go.Figure | None:
    """Per finished trial with a backtest: ``cv_val_rmse`` with ± one standard deviation over its
    folds, best on top, so a configuration that won by luck on one fold shows its spread."""
    rows = [t for t in trials if t.state == "COMPLETE" and t.metric("cv_val_rmse") is not None
            and math.isfinite(t.metric("cv_val_rmse") or math.nan)]
    if not rows:
        return None
    rows.sort(key=lambda t: t.metric("cv_val_rmse") or 0.0)
    names = [wrapped(label(t, swept)) for t in rows]
    folds = int(rows[0].metric("cv_folds") or 0)
    figure = go.Figure(go.Bar(y=names, x=[t.metric("cv_val_rmse") for t in rows], orientation="h",
                              name="cv_val_rmse", marker_color="#72b7b2", hovertext=[t.overrides for t in rows],
                              error_x={"type": "data", "array": [t.metric("cv_val_rmse_std") or 0.0 for t in rows]}))
    lines = max(name.count("<br>") + 1 for name in names)
    figure.update_layout(title=f"backtest: validation RMSE over {folds} folds (mean ± std, best first)",
                         xaxis_title="cv_val_rmse", **LAYOUT, height=170 + len(names) * (14 * lines + 14),
                         yaxis={"type": "category", "autorange": "reversed", "automargin": True})
    return figure


def family_comparison(trials: list[TrialRow], metric: str, ensembles: dict[str, float] | None = None) -> go.Figure | None:
    """The optimized metric per model family (box of all trials, best marked) when several ran,
    and each ``ensemble`` run of the study as its own point."""
    finished = [t for t in trials if t.state == "COMPLETE" and t.value is not None]
    families = sorted({t.family for t in finished})
    ensembles = ensembles or {}
    if len(families) + len(ensembles) < 2:
        return None
    figure = go.Figure()
    for family in families:
        values = [t.value for t in finished if t.family == family]
        figure.add_trace(go.Box(y=values, name=family, boxpoints="all", jitter=0.3))
    for name, value in ensembles.items():
        figure.add_trace(go.Box(y=[value], name=name, boxpoints="all", marker_color="#e45756"))
    figure.update_layout(title=f"{metric} by model family", yaxis_title=metric, showlegend=False, **LAYOUT)
    return figure


def loss_curves(history: dict[str, list[tuple[int, float]]], title: str) -> go.Figure | None:
    if not any(history.values()):
        return None
    figure = go.Figure()
    for key, points in history.items():
        if points:
            steps, values = zip(*sorted(points))
            figure.add_trace(go.Scatter(x=[s + 1 for s in steps], y=values, mode="lines+markers", name=key))
    figure.update_layout(title=title, xaxis_title="epoch", yaxis_title="loss (MSE on scaled targets)", **LAYOUT)
    return figure


def finite(values: Sequence[float | None]) -> np.ndarray:
    return np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
