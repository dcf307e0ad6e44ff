"""Figure builders: the traces carry the data given, with each tier and kind in its own colour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ui.charts import (
    KIND_COLORS,
    TIER_BADGES,
    TIER_COLORS,
    StackedPoint,
    TimelineDeployment,
    TimelineIncident,
    by_series,
    distribution,
    stacked_bars,
    stage_bars,
    timeline,
    trend_lines,
)

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
WEEKS = [MONDAY, MONDAY + timedelta(days=7)]


def test_stacked_bars_fill_missing_buckets_with_zero_and_keep_kind_colours() -> None:
    points = [
        StackedPoint(WEEKS[0], "normal", 3),
        StackedPoint(WEEKS[1], "normal", 1),
        StackedPoint(WEEKS[1], "rollback", 1),
        StackedPoint(WEEKS[1], "rollback", 2),  # another service's rollbacks that week
    ]

    figure = stacked_bars(points, "Deployments", colors=KIND_COLORS, order=list(KIND_COLORS))

    assert [trace.name for trace in figure.data] == ["normal", "rollback"]  # empty kinds omitted
    assert list(figure.data[1].y) == [0, 3]
    assert figure.data[1].marker.color == KIND_COLORS["rollback"]
    assert figure.layout.barmode == "stack"


def test_trend_lines_leave_gaps_for_empty_weeks_and_draw_the_reference() -> None:
    figure = trend_lines(
        WEEKS, {"fail rate": [0.1, None]}, "Rates", percent=True, reference=("mean", 0.22)
    )

    assert list(figure.data[0].y) == [0.1, None]
    assert figure.layout.yaxis.tickformat == ".0%"
    assert figure.layout.shapes[0].y0 == 0.22


def test_series_points_become_aligned_lines_with_gaps() -> None:
    points = [(WEEKS[0], "api · ci", 0.9), (WEEKS[1], "api · ci", 1.0), (WEEKS[1], "web · ci", 0.5)]

    starts, series = by_series(points, ["web · ci", "api · ci"])

    assert starts == WEEKS
    assert series == {"web · ci": [None, 0.5], "api · ci": [0.9, 1.0]}


def test_distribution_bins_every_value_and_boxes_their_quartiles() -> None:
    values = [1.0, 2.0, 2.5, 3.0, 4.0, 30.0]

    figure = distribution(values, "Lead time", x_title="hours")

    bars, box, outliers = figure.data
    assert (bars.type, box.type, outliers.type) == ("bar", "box", "scatter")
    assert sum(bars.y) == len(values)
    assert min(bars.x) < 1.0 + bars.width and max(bars.x) > 30.0 - bars.width
    # Quartiles 2.125 and 3.75 (linear interpolation): 1.5 IQR = 2.4375 reaches from
    # -0.3125 to 6.1875, so the whiskers end at 1.0 and 4.0 and only 30.0 is an outlier.
    assert (box.q1[0], box.median[0], box.q3[0]) == (2.125, 2.75, 3.75)
    assert (box.lowerfence[0], box.upperfence[0]) == (1.0, 4.0)
    assert list(outliers.x) == [30.0]


def test_distribution_marks_a_bounded_number_of_outliers() -> None:
    values = [10.0 + n / 5000 for n in range(5000)] + [float(n) for n in range(1000, 2000)]

    outliers = distribution(values, "Lead time", x_title="hours").data[2]

    assert len(outliers.x) == 200  # of the 1,000 beyond the whiskers
    assert (min(outliers.x), max(outliers.x)) == (1000.0, 1999.0)


def test_distribution_of_nothing_is_an_empty_figure() -> None:
    assert distribution([], "Lead time", x_title="hours").data == ()


def test_timeline_puts_deployments_and_incidents_on_one_time_axis() -> None:
    figure = timeline(
        [
            TimelineDeployment(MONDAY, "api", "normal", False, "dep-1"),
            TimelineDeployment(MONDAY, "api", "rollback", False, "dep-2"),
            TimelineDeployment(MONDAY, "web", "normal", True, "dep-3"),
        ],
        [
            TimelineIncident(MONDAY, None, "api", "INC-1", attributed=True),
            TimelineIncident(MONDAY, MONDAY, "web", "INC-2", attributed=False),
        ],
        until=WEEKS[1],
    )

    names = [trace.name for trace in figure.data]
    assert names == [
        "normal deployment",
        "rollback deployment",
        "incident",
        "unattributed incident",
    ]
    assert list(figure.data[0].marker.symbol) == ["circle", "x"]  # the failed one is crossed
    assert list(figure.data[2].x) == [MONDAY, WEEKS[1], None]  # open: drawn up to `until`


def test_stage_bars_skip_stages_without_data() -> None:
    figure = stage_bars({"coding": 2.0, "review": None, "waiting": 5.5}, "Stages")

    assert list(figure.data[0].y) == ["coding", "waiting"]
    assert list(figure.data[0].text) == ["2.0 h", "5.5 h"]


def test_every_tier_has_a_chart_colour_and_a_badge_colour() -> None:
    assert set(TIER_COLORS) == set(TIER_BADGES) == {"elite", "high", "medium", "low"}
    assert len(set(TIER_COLORS.values())) == 4
