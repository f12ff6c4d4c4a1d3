"""The exploration page for check-in data (``python -m sweepcast explore data=checkins ...``).

What the check-in study looked at before modelling, on the pipeline's own cleaned data: where
check-ins are before and after cleaning (its figures 1 and 2), what each filter removed, how many
check-ins users have, when in the week people check in (local time), and the gaps and distances
between a user's consecutive check-ins, which are what a model forecasts.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from sweepcast.data.checkins import haversine_km
from sweepcast.data.trajectories import CheckinData
from sweepcast.report.checkin_figures import cleaning_figure
from sweepcast.report.page import Section, paragraph, render, table

LAYOUT = {"template": "plotly_white"}
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def build_page(data_cfg: Mapping[str, Any], data: CheckinData, places: bool = False) -> str:
    """The whole page for a check-in data config and the check-ins it prepared (with ``places``,
    the place statistics that bound a next-place ranker too)."""
    frame, report = data.frame, data.report
    summary = table([
        ("data", data.source), ("config", f"data={data_cfg.get('name')}"),
        ("check-ins modelled", f"{len(frame):,} of {frame['user'].nunique():,} users, "
                               f"{frame['time'].min()} to {frame['time'].max()} (UTC)"),
        ("cleaning", report.summary()),
        ("windows", " / ".join(f"{name} {data.window_count(name):,}" for name in ("train", "val", "test"))
         + f" (timestep {data.timestep}, split by {data.settings.split_by})"),
    ])
    after = frame[["lat", "lon"]].sample(min(len(data.before_cleaning), len(frame)), random_state=0)
    sections = [
        Section("Summary", summary),
        Section("Where", figures=[cleaning_figure(data.before_cleaning, after, "check-ins before and after cleaning"),
                                  removed_bars(report.as_metrics())]),
        Section("Users", figures=[per_user_histogram(frame)]),
        Section("When", paragraph(f"Local time in {data.settings.timezone} (data.timezone).", "note"),
                [week_profile(frame, data.settings.timezone)]),
        Section("Gaps and distances", paragraph("Between a user's consecutive check-ins after cleaning; the gap is "
                                                "the time part of what a model forecasts.", "note"),
                [gap_histogram(frame), distance_histogram(data)]),
    ]
    if places:
        sections.append(place_section(frame))
    return render(f"Data exploration: {data_cfg.get('name')} ({data.source})", sections)


def removed_bars(metrics: Mapping[str, float]) -> go.Figure:
    steps = ("outside_bbox", "duplicate_lines", "impossible_speed", "stay_duplicates", "short_user_rows")
    figure = go.Figure(go.Bar(x=[s.replace("_", " ") for s in steps], y=[metrics[f"clean_{s}"] for s in steps],
                              marker_color="#e45756"))
    figure.update_layout(title=f"check-ins removed per cleaning step (of {int(metrics['clean_rows_in']):,})",
                         yaxis_title="check-ins", **LAYOUT)
    return figure


def per_user_histogram(frame: pd.DataFrame) -> go.Figure:
    counts = frame.groupby("user").size()
    figure = go.Figure(go.Histogram(x=counts.to_numpy(), nbinsx=60, marker_color="#4c78a8"))
    figure.update_layout(title=f"check-ins per user (median {int(counts.median())})", xaxis_title="check-ins",
                         yaxis_title="users", **LAYOUT)
    figure.update_yaxes(type="log")
    return figure


def week_profile(frame: pd.DataFrame, timezone: str) -> go.Figure:
    local = frame["time"].dt.tz_localize("UTC").dt.tz_convert(timezone)
    counts = pd.crosstab(local.dt.hour, local.dt.day_of_week).reindex(index=range(24), columns=range(7), fill_value=0)
    figure = go.Figure(go.Heatmap(z=counts.to_numpy(), x=list(DAYS), y=list(range(24)), colorscale="Blues",
                                  colorbar={"title": "check-ins"}))
    figure.update_layout(title="check-ins by hour and day of week", xaxis_title="day", yaxis_title="hour", **LAYOUT)
    return figure


def gap_histogram(frame: pd.DataFrame) -> go.Figure:
    hours = frame["dt_hours"].clip(lower=1 / 60)
    figure = go.Figure(go.Histogram(x=np.log10(hours), nbinsx=80, marker_color="#72b7b2"))
    ticks = [-1, 0, 1, 2, 3]
    figure.update_layout(title=f"hours since the user's previous check-in (median {hours.median():.1f} h)",
                         xaxis={"title": "hours (log scale)", "tickvals": ticks,
                                "ticktext": ["6 min", "1 h", "10 h", "4 days", "6 weeks"]},
                         yaxis_title="check-ins", **LAYOUT)
    return figure


def distance_histogram(data: CheckinData) -> go.Figure:
    frame = data.frame
    same = np.concatenate([[False], frame["user"].to_numpy()[1:] == frame["user"].to_numpy()[:-1]])
    lat, lon = frame["lat"].to_numpy(), frame["lon"].to_numpy()
    km = haversine_km(lat[:-1], lon[:-1], lat[1:], lon[1:])[same[1:]]
    figure = go.Figure(go.Histogram(x=km, nbinsx=80, marker_color="#f58518"))
    figure.update_layout(title=f"km from the user's previous check-in (median {np.median(km):.2f} km)",
                         xaxis_title="km", yaxis_title="check-ins", **LAYOUT)
    return figure


def place_section(frame: pd.DataFrame) -> Section:
    """Places per user, how often users return, and how far they stray from their usual place:
    what decides how much a next-place ranker can get right."""
    user = frame["user"].to_numpy()
    revisit = frame.duplicated(["user", "location"]).to_numpy()  # rows are in time order per user
    per_user = frame.groupby("user")["location"].nunique()
    usual = frame.groupby(["user", "location"]).size().reset_index(name="n").sort_values(
        ["user", "n"], ascending=[True, False]).drop_duplicates("user").set_index("user")["location"]
    anchor = frame[frame["location"].to_numpy() == usual.reindex(user).to_numpy()].groupby("user")[["lat", "lon"]].mean()
    km = haversine_km(frame["lat"].to_numpy(), frame["lon"].to_numpy(), anchor["lat"].reindex(user).to_numpy(),
                      anchor["lon"].reindex(user).to_numpy())
    distinct = go.Figure(go.Histogram(x=per_user.to_numpy(), nbinsx=60, marker_color="#4c78a8"))
    distinct.update_layout(title="distinct places per user", xaxis_title="places", yaxis_title="users", **LAYOUT)
    away = go.Figure(go.Histogram(x=np.log10(np.maximum(km, 1e-3)), nbinsx=60, marker_color="#72b7b2"))
    away.update_layout(title="distance of each check-in from the user's most frequent place",
                       xaxis_title="log10 km", yaxis_title="check-ins", **LAYOUT)
    note = paragraph(f"{frame['location'].nunique():,} distinct places; {100 * revisit.mean():.1f}% of check-ins "
                     f"return to a place the same user visited before (the rest are first visits, which no ranker "
                     f"of known places can name); median {float(np.median(km)):.2f} km from the user's most "
                     "frequent place.", "note")
    return Section("Places", note, [distinct, away])
