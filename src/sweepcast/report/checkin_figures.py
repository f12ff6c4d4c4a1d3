"""Check-in figures: where check-ins are before and after cleaning (the study's figures 1 and 2),
predicted versus true next locations, and predicted versus true gaps.

Maps are plain longitude/latitude scatter plots with equal scale, not tile maps: they render
offline, like every page we write.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

TRUE, PREDICTED, BASELINE = "#444444", "#d62728", "#1f77b4"


def cleaning_figure(before: pd.DataFrame, after: pd.DataFrame, title: str) -> go.Figure:
    """Side by side: a sample of check-ins as read, and as kept by cleaning."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=(f"before cleaning ({len(before):,} shown)",
                                                           f"after cleaning ({len(after):,} shown)"))
    for col, frame in ((1, before), (2, after)):
        figure.add_trace(go.Scattergl(x=frame["lon"], y=frame["lat"], mode="markers", showlegend=False,
                                      marker={"size": 2, "color": TRUE, "opacity": 0.4}), row=1, col=col)
        figure.update_xaxes(title_text="longitude", row=1, col=col)
        figure.update_yaxes(title_text="latitude", scaleanchor=f"x{'' if col == 1 else col}", row=1, col=col)
    figure.update_layout(title=title, template="plotly_white")
    return figure


def locations_figure(table: pd.DataFrame, title: str) -> go.Figure:
    """True and predicted next locations of a sample of test windows, each pair joined by a line
    (columns ``true_lat, true_lon, pred_lat, pred_lon``, optionally ``baseline_lat, baseline_lon``)."""
    figure = go.Figure()
    # one trace of segments: x/y with None between pairs draws them all at once
    pairs = len(table)
    xs = np.column_stack([table["true_lon"], table["pred_lon"], np.full(pairs, np.nan)]).ravel()
    ys = np.column_stack([table["true_lat"], table["pred_lat"], np.full(pairs, np.nan)]).ravel()
    figure.add_trace(go.Scattergl(x=xs, y=ys, mode="lines", name="miss", hoverinfo="skip",
                                  line={"color": "rgba(120,120,120,0.35)", "width": 1}))
    figure.add_trace(go.Scattergl(x=table["true_lon"], y=table["true_lat"], mode="markers", name="true",
                                  marker={"size": 5, "color": TRUE}))
    figure.add_trace(go.Scattergl(x=table["pred_lon"], y=table["pred_lat"], mode="markers", name="predicted",
                                  marker={"size": 5, "color": PREDICTED}))
    if "baseline_lat" in table:
        figure.add_trace(go.Scattergl(x=table["baseline_lon"], y=table["baseline_lat"], mode="markers",
                                      name="last check-in", visible="legendonly",
                                      marker={"size": 5, "color": BASELINE, "symbol": "x"}))
    figure.update_layout(title=title, xaxis_title="longitude", yaxis_title="latitude", template="plotly_white",
                         legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"})
    figure.update_yaxes(scaleanchor="x")
    return figure


def gaps_figure(table: pd.DataFrame, title: str) -> go.Figure:
    """Predicted versus true hours until the next check-in (log axes; the diagonal is perfect)."""
    true, pred = table["true_dt_hours"].clip(lower=1e-2), table["pred_dt_hours"].clip(lower=1e-2)
    figure = go.Figure()
    figure.add_trace(go.Scattergl(x=true, y=pred, mode="markers", name="windows",
                                  marker={"size": 4, "color": PREDICTED, "opacity": 0.5}))
    low, high = float(min(true.min(), pred.min())), float(max(true.max(), pred.max()))
    figure.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="perfect",
                                line={"color": TRUE, "dash": "dot"}))
    figure.update_layout(title=title, xaxis_title="true gap (hours)", yaxis_title="predicted gap (hours)",
                         template="plotly_white")
    figure.update_xaxes(type="log")
    figure.update_yaxes(type="log")
    return figure
