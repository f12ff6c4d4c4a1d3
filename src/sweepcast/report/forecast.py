"""Forecast versus truth on the test split, as a plotly figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go


def forecast_figure(
    timestamps: pd.DatetimeIndex,
    truth: np.ndarray,
    forecast: np.ndarray,
    baseline: np.ndarray | None,
    title: str,
    target: str,
) -> go.Figure:
    """Lines for truth, model and (dotted, hidden until clicked) the persistence baseline."""
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=timestamps, y=truth, name="truth", mode="lines", line={"color": "#444"}))
    figure.add_trace(go.Scatter(x=timestamps, y=forecast, name="forecast", mode="lines", line={"color": "#d62728"}))
    if baseline is not None:
        figure.add_trace(
            go.Scatter(
                x=timestamps, y=baseline, name="persistence", mode="lines",
                line={"color": "#1f77b4", "dash": "dot"}, visible="legendonly",
            )
        )
    figure.update_layout(
        title=title, xaxis_title="time", yaxis_title=target, hovermode="x unified",
        template="plotly_white", legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
    )
    figure.update_xaxes(rangeslider_visible=True)
    return figure


def step_error_figure(model_rmse: list[float], baseline_rmse: list[float], target: str) -> go.Figure:
    """Test RMSE at each lead time for the model and persistence: where a multi-step forecast
    stops paying off."""
    steps = list(range(1, len(model_rmse) + 1))
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=steps, y=model_rmse, name="model", mode="lines+markers", line={"color": "#d62728"}))
    figure.add_trace(go.Scatter(x=steps, y=baseline_rmse, name="persistence", mode="lines+markers",
                                line={"color": "#1f77b4", "dash": "dot"}))
    figure.update_layout(title=f"{target}: test RMSE by forecast step", xaxis_title="steps ahead",
                         yaxis_title="RMSE", template="plotly_white", xaxis={"dtick": 1 if len(steps) <= 24 else None})
    return figure


def figure_html(figure: go.Figure, plotlyjs: str) -> str:
    """``embed`` makes a page that works offline (~5 MB); ``cdn`` a small page that loads plotly.js online."""
    include: bool | str = True if plotlyjs == "embed" else "cdn"
    return figure.to_html(include_plotlyjs=include, full_html=True)
