"""The series task's exploration page: the livestream study's pre-modelling analyses for any series.

The series is loaded and cleaned by the training pipeline's own code (so what this page shows is
what models see), then drawn: the whole series, the target by hour of day on weekdays, weekends
and public holidays, by day part, a seasonal decomposition over one day, each column's
correlation with the target, and what cleaning removed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from statsmodels.tsa.seasonal import seasonal_decompose

from sweepcast.data.calendar import DAY_PARTS, CalendarSpec, calendar_features
from sweepcast.data.clean import CleanReport
from sweepcast.data.pipeline import SeriesSettings, check_columns, model_frame, row_step
from sweepcast.data.sources import load_source
from sweepcast.errors import ConfigError
from sweepcast.report.page import Section, paragraph, render, table

LAYOUT = {"template": "plotly_white"}
MAX_POINTS = 20_000  # longer series are drawn as hourly means (the page stays a few MB)


def load(settings: SeriesSettings) -> tuple[pd.DataFrame, str, CleanReport]:
    """Every column of the source, cleaned as training cleans it (the target first)."""
    raw, name = load_source(settings.config)
    target = settings.target
    if target not in raw.columns:
        raise ConfigError("data.target", f"a column of {name} ({', '.join(raw.columns)})", target)
    check_columns(raw, target, [], name)  # an all-NaN target has nothing to draw
    columns = [target, *[c for c in raw.columns if c != target]]
    every_column = replace(settings, features=columns, calendar=CalendarSpec(False, settings.calendar.country,
                                                                             settings.calendar.features))
    frame, _, report = model_frame(raw, name, every_column)
    return frame, name, report


def series_figure(target: pd.Series) -> go.Figure:
    shown, note = target, ""
    if len(target) > MAX_POINTS:
        shown, note = target.resample("1h").mean(), " (hourly mean)"
    figure = go.Figure(go.Scattergl(x=shown.index, y=shown.to_numpy(), mode="lines", line={"width": 1}))
    figure.update_layout(title=f"{target.name}{note}", xaxis_title="time", yaxis_title=str(target.name), **LAYOUT)
    figure.update_xaxes(rangeslider_visible=True)
    return figure


def day_kinds(index: pd.DatetimeIndex, calendar: CalendarSpec) -> pd.Series:
    """weekday / weekend / holiday per row, by the data's holiday country (make-up workdays are weekdays)."""
    flags = calendar_features(index, CalendarSpec(True, calendar.country, ("weekend", "holiday")))
    kind = np.where(flags["cal_holiday"] > 0, "holiday", np.where(flags["cal_weekend"] > 0, "weekend", "weekday"))
    return pd.Series(kind, index=index)


def hour_profile(target: pd.Series, kinds: pd.Series) -> go.Figure:
    figure = go.Figure()
    by = target.groupby([kinds.to_numpy(), target.index.hour]).mean()
    for kind in ("weekday", "weekend", "holiday"):
        if kind in by.index.get_level_values(0):
            curve = by.loc[kind]
            figure.add_trace(go.Scatter(x=curve.index, y=curve.to_numpy(), mode="lines+markers", name=kind))
    figure.update_layout(title=f"mean {target.name} by hour of day", xaxis_title="hour", yaxis_title=str(target.name),
                         xaxis={"dtick": 2}, **LAYOUT)
    return figure


def day_part_bars(target: pd.Series) -> go.Figure:
    hours = target.index.hour
    names, means = [], []
    for name, start, stop in DAY_PARTS:
        chosen = target[(hours >= start) & (hours < stop)]
        names.append(f"{name} {start}–{stop} h")
        means.append(float(chosen.mean()) if len(chosen) else None)
    figure = go.Figure(go.Bar(x=names, y=means, marker_color="#4c78a8"))
    figure.update_layout(title=f"mean {target.name} by day part", yaxis_title=str(target.name), **LAYOUT)
    return figure


def decomposition(target: pd.Series, step: pd.Timedelta) -> tuple[go.Figure | None, str]:
    """statsmodels' additive decomposition with a one-day period (in steps of the data)."""
    period = int(round(pd.Timedelta("1D") / step)) if step > pd.Timedelta(0) else 0
    if period < 2 or len(target) < 2 * period:
        return None, f"no seasonal decomposition: a one-day period is {period} steps and the series has {len(target)}"
    parts = seasonal_decompose(target.astype(float), model="additive", period=period, extrapolate_trend="period")
    figure = make_subplots(rows=4, cols=1, shared_xaxes=True, subplot_titles=("observed", "trend", "seasonal (one day)",
                                                                               "residual"))
    for row, series in enumerate((parts.observed, parts.trend, parts.seasonal, parts.resid), start=1):
        shown = series.resample("1h").mean() if len(series) > MAX_POINTS else series
        figure.add_trace(go.Scattergl(x=shown.index, y=shown.to_numpy(), mode="lines", line={"width": 1},
                                      showlegend=False), row=row, col=1)
    figure.update_layout(title=f"{target.name}: additive decomposition, period {period} steps (one day)", height=800,
                         **LAYOUT)
    return figure, ""


def correlations(frame: pd.DataFrame, target: str) -> go.Figure | None:
    others = [c for c in frame.columns if c != target and frame[c].std() > 0]
    if not others:
        return None
    values = frame[others].corrwith(frame[target]).sort_values()
    figure = go.Figure(go.Bar(x=values.to_numpy(), y=list(values.index), orientation="h", marker_color="#72b7b2"))
    figure.update_layout(title=f"correlation (Pearson) of each column with {target}", xaxis_title="r",
                         height=max(300, 22 * len(values)), **LAYOUT)
    return figure


def build_page(data_cfg: Mapping[str, Any], settings: SeriesSettings) -> str:
    """The whole page for a series data config (``settings``: the same, parsed)."""
    frame, name, report = load(settings)
    target_name = str(settings.target)
    target = frame[target_name]
    step = row_step(frame.index, name)
    calendar = settings.calendar
    zero_share = float((target == 0).mean())
    summary = table([
        ("data", name), ("config", f"data={data_cfg.get('name')}"), ("target", target_name),
        ("rows after cleaning", f"{len(frame):,} from {frame.index[0]} to {frame.index[-1]}, one every {step}"),
        ("zero steps", f"{100 * zero_share:.1f} % of rows have {target_name} = 0"),
        ("cleaning", report.summary()),
        ("dead days dropped", ", ".join(report.dead_days) or "none"),
        ("holidays", f"{calendar.country} (data.calendar.country)"),
    ])
    decomposed, note = decomposition(target, step)
    sections = [
        Section("Summary", summary),
        Section("Series", figures=[series_figure(target)]),
        Section("Daily profile", paragraph("Weekend and holiday days follow the holidays package for the "
                                           "configured country; China's make-up working days count as weekdays.", "note"),
                [hour_profile(target, day_kinds(frame.index, calendar)), day_part_bars(target)]),
        Section("Seasonal decomposition", paragraph(note, "note") if note else "",
                [decomposed] if decomposed is not None else []),
        Section("Correlations", figures=[f for f in (correlations(frame, target_name),) if f is not None]),
    ]
    return render(f"Data exploration: {data_cfg.get('name')} ({name})", sections)
