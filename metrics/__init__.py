"""The DORA engine: attribution (commits and incidents to deployments) and the five metrics.

DESIGN §4 defines every number; each metric module states its definition. Public API:

- `dora_summary(session, filters, by=None)`: the five metrics (plus time to restore and
  unattributed incidents) as a `DoraSummary`; `.to_json()` is DESIGN §4's JSON shape.
- `breakdown(session, filters, by)`: one summary per service or team.
- `trend(session, filters, period)`: one summary per calendar week or month, zero-filled.
- `summary_and_trend(session, filters, period, by=None)`: both from one read of the data.
- `drilldown.*`: the rows behind each number.
- `refresh(session, config)` / `recompute(session, config)`: keep the derived tables
  current (incrementally, or from scratch). The query functions refresh on their own.

Every function takes an open `session` and never commits; entry points own sessions.
"""

from metrics.benchmarks import BENCHMARKS, REWORK_RATE_2025_MEAN, Benchmark, Tier
from metrics.config import EngineConfig
from metrics.derived import RefreshReport, recompute, refresh
from metrics.scope import Filters
from metrics.summary import (
    DoraSummary,
    GroupBy,
    Period,
    TrendPoint,
    Window,
    breakdown,
    dora_summary,
    summary_and_trend,
    trend,
)

__all__ = [
    "BENCHMARKS",
    "REWORK_RATE_2025_MEAN",
    "Benchmark",
    "DoraSummary",
    "EngineConfig",
    "Filters",
    "GroupBy",
    "Period",
    "RefreshReport",
    "Tier",
    "TrendPoint",
    "Window",
    "breakdown",
    "dora_summary",
    "recompute",
    "refresh",
    "summary_and_trend",
    "trend",
]
