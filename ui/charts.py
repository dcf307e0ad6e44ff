"""Plotly figure builders for the dashboard, and the colours every page shares.

Builders are plain functions from plain data to a `go.Figure`, so tests check them
without Streamlit. Colours are mid-tone (neither pale nor dark) so they read on the
light and the dark theme alike; backgrounds stay transparent for Streamlit's theme to
fill. A tier or a deployment kind always has the same colour, on every chart and badge.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from pandas.io.formats.style import Styler

TIER_COLORS = {"elite": "#2f9e62", "high": "#3d85c6", "medium": "#e0a030", "low": "#d9534f"}
# st.badge's named colours for the same tiers.
TIER_BADGES = {"elite": "green", "high": "blue", "medium": "orange", "low": "red"}
KIND_COLORS = {
    "normal": "#3d85c6",
    "hotfix": "#e0a030",
    "rollback": "#d9534f",
    "redeploy": "#8e6fd1",
}
INCIDENT_COLOR = "#d9534f"
FAILED_COLOR = "#d9534f"
NEUTRAL_COLOR = "#7f8c8d"
# Qualitative colours for services and pipelines, mid-tone like the rest.
SERIES_COLORS = (
    "#3d85c6",
    "#e0a030",
    "#2f9e62",
    "#8e6fd1",
    "#d9534f",
    "#17a2b8",
    "#c76b98",
    "#7f8c8d",
    "#a0a83a",
    "#6c7ae0",
)
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def _layout(
    figure: go.Figure, title: str, *, y_title: str = "", percent: bool = False
) -> go.Figure:
    figure.update_layout(
        title={"text": title, "x": 0},
        margin=_MARGIN,
        legend={"orientation": "h", "y": -0.15},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        hovermode="x unified",
        height=340,
    )
    figure.update_yaxes(title=y_title, rangemode="tozero", tickformat=".0%" if percent else None)
    return figure


def style_tiers(frame: pd.DataFrame, columns: Sequence[str]) -> Styler:
    """Colour the tier names in `columns` with their tier colours (bold text, any theme)."""

    def colour(value: object) -> str:
        color = TIER_COLORS.get(str(value))
        return f"color: {color}; font-weight: 600" if color else ""

    return frame.style.map(colour, subset=list(columns))


def series_color(index: int) -> str:
    """The colour of the `index`-th service or pipeline series."""
    return SERIES_COLORS[index % len(SERIES_COLORS)]


@dataclass(frozen=True)
class StackedPoint:
    """One bar segment: a bucket start, the group it belongs to and its count."""

    start: datetime
    group: str
    value: float


def stacked_bars(
    points: Sequence[StackedPoint],
    title: str,
    *,
    colors: Mapping[str, str] | None = None,
    order: Sequence[str] = (),
    y_title: str = "",
) -> go.Figure:
    """Bars per bucket stacked by group (a service, or a kind with its fixed colour).

    Groups in `order` come first (the rest alphabetically); points of the same group and
    bucket add up; every bucket present in `points` shows on each trace, as 0 where the
    group has nothing.
    """
    starts = sorted({point.start for point in points})
    groups = [*order, *sorted({p.group for p in points} - set(order))]
    values: dict[tuple[datetime, str], float] = defaultdict(float)
    for point in points:  # several points of one group in one bucket add up
        values[point.start, point.group] += point.value
    figure = go.Figure()
    for index, group in enumerate(groups):
        ys = [values.get((start, group), 0) for start in starts]
        if not any(ys):
            continue
        color = (colors or {}).get(group, series_color(index))
        figure.add_bar(x=starts, y=ys, name=group, marker_color=color)
    figure = _layout(figure, title, y_title=y_title)
    # Plotly lists stacked traces bottom-up by default; keep the legend in the given order.
    figure.update_layout(barmode="stack", legend_traceorder="normal")
    return figure


def by_series(
    points: Sequence[tuple[datetime, str, float | None]], names: Sequence[str]
) -> tuple[list[datetime], dict[str, list[float | None]]]:
    """Turn (bucket start, series name, value) points into `trend_lines` input.

    Only the series in `names` are kept, in that order; a bucket a series has no point
    in is None (a gap in its line).
    """
    starts = sorted({start for start, _, _ in points})
    values = {(start, name): value for start, name, value in points}
    return starts, {name: [values.get((start, name)) for start in starts] for name in names}


def trend_lines(
    starts: Sequence[datetime],
    series: Mapping[str, Sequence[float | None]],
    title: str,
    *,
    y_title: str = "",
    percent: bool = False,
    colors: Mapping[str, str] | None = None,
    reference: tuple[str, float] | None = None,
) -> go.Figure:
    """One line per named series over the bucket starts; gaps where a value is None.

    `reference` draws a dashed horizontal line (label, value), e.g. an industry mean.
    """
    figure = go.Figure()
    for index, (name, values) in enumerate(series.items()):
        color = (colors or {}).get(name, series_color(index))
        figure.add_scatter(
            x=list(starts), y=list(values), name=name, mode="lines+markers", line_color=color
        )
    if reference is not None:
        label, value = reference
        figure.add_hline(
            y=value,
            line_dash="dash",
            line_color=NEUTRAL_COLOR,
            annotation_text=label,
            annotation_position="top left",
        )
    return _layout(figure, title, y_title=y_title, percent=percent)


# Bins of a distribution's histogram, and most outliers its box plot marks.
_BINS = 40
_OUTLIERS = 200


def distribution(
    values: Sequence[float], title: str, *, x_title: str, color: str = SERIES_COLORS[0]
) -> go.Figure:
    """A histogram of `values` with a box plot above it (median, quartiles, outliers).

    Both are computed here, so the figure carries a few hundred numbers however many
    values there are: 70,000 lead-time samples sent as raw points took 1.5 s to build and
    serialise. The box's whiskers end at the last values within 1.5 IQR of the quartiles
    (Tukey); beyond them up to `_OUTLIERS` values are marked, spread evenly over the
    outliers' range of ranks when there are more.
    """
    data = np.asarray(values, dtype=float)
    figure = go.Figure()
    if data.size:
        counts, edges = np.histogram(data, bins=_BINS)
        figure.add_bar(
            x=(edges[:-1] + edges[1:]) / 2,
            y=counts,
            width=float(edges[1] - edges[0]) or None,
            customdata=np.column_stack([edges[:-1], edges[1:]]),
            hovertemplate="%{customdata[0]:.1f} to %{customdata[1]:.1f}: %{y}<extra></extra>",
            name="count",
            marker_color=color,
        )
        q1, median, q3 = np.percentile(data, [25, 50, 75])
        reach = 1.5 * (q3 - q1)
        inside = data[(data >= q1 - reach) & (data <= q3 + reach)]
        outliers = np.sort(data[(data < q1 - reach) | (data > q3 + reach)])
        if outliers.size > _OUTLIERS:
            outliers = outliers[np.linspace(0, outliers.size - 1, _OUTLIERS).astype(int)]
        figure.add_box(
            y=["spread"],
            q1=[q1],
            median=[median],
            q3=[q3],
            lowerfence=[inside.min()],
            upperfence=[inside.max()],
            orientation="h",
            name="spread",
            marker_color=color,
            yaxis="y2",
        )
        figure.add_scatter(
            x=outliers,
            y=["spread"] * outliers.size,
            mode="markers",
            name="outliers",
            marker={"color": color, "size": 5},
            yaxis="y2",
        )
    figure.update_layout(
        yaxis={"domain": [0, 0.78]},
        yaxis2={"domain": [0.82, 1], "showticklabels": False},
        showlegend=False,
        bargap=0.05,
    )
    figure.update_xaxes(title=x_title)
    return _layout(figure, title, y_title="count")


@dataclass(frozen=True)
class TimelineDeployment:
    """A deployment on the timeline."""

    at: datetime
    service: str
    label: str
    failed: bool
    name: str


@dataclass(frozen=True)
class TimelineIncident:
    """An incident on the timeline, from opening to resolution (or `until` while open)."""

    opened_at: datetime
    resolved_at: datetime | None
    service: str
    name: str
    attributed: bool


def timeline(
    deployments: Sequence[TimelineDeployment],
    incidents: Sequence[TimelineIncident],
    *,
    until: datetime,
) -> go.Figure:
    """Deployments (markers by kind, failed ones ringed) and incidents (bars) per service row."""
    figure = go.Figure()
    for label, color in KIND_COLORS.items():
        chosen = [d for d in deployments if d.label == label]
        if not chosen:
            continue
        figure.add_scatter(
            x=[d.at for d in chosen],
            y=[d.service for d in chosen],
            mode="markers",
            name=f"{label} deployment",
            marker={
                "color": color,
                "size": [11 if d.failed else 7 for d in chosen],
                "symbol": ["x" if d.failed else "circle" for d in chosen],
            },
            text=[f"{d.name}{' (failed)' if d.failed else ''}" for d in chosen],
            hovertemplate="%{text}<br>%{x}<extra></extra>",
        )
    for attributed in (True, False):
        shown = [i for i in incidents if i.attributed is attributed]
        if not shown:
            continue
        xs: list[datetime | None] = []
        ys: list[str | None] = []
        for incident in shown:
            xs += [incident.opened_at, incident.resolved_at or until, None]
            ys += [incident.service, incident.service, None]
        figure.add_scatter(
            x=xs,
            y=ys,
            mode="lines",
            name="incident" if attributed else "unattributed incident",
            line={"color": INCIDENT_COLOR if attributed else NEUTRAL_COLOR, "width": 9},
            opacity=0.55,
            hoverinfo="skip",
        )
    figure.update_layout(hovermode="closest")
    figure = _layout(figure, "Deployments and incidents")
    figure.update_layout(hovermode="closest")
    figure.update_yaxes(type="category", rangemode=None)
    return figure


def stage_bars(stages: Mapping[str, float | None], title: str) -> go.Figure:
    """Horizontal bars of the median hours spent in each lead-time stage."""
    names = [name for name, value in stages.items() if value is not None]
    figure = go.Figure()
    figure.add_bar(
        x=[stages[name] for name in names],
        y=names,
        orientation="h",
        marker_color=[series_color(index) for index in range(len(names))],
        text=[f"{stages[name]:.1f} h" for name in names],
        textposition="auto",
    )
    figure.update_layout(showlegend=False, hovermode="closest")
    figure = _layout(figure, title)
    figure.update_xaxes(title="median hours")
    figure.update_yaxes(autorange="reversed", rangemode=None)
    return figure
