"""How the Overview puts numbers into words: formatted values, changes, and "what moved".

Pure functions over `DoraSummary` values, so they are tested without Streamlit. A metric
"moved" when it changed by at least `MOVED` relative to the previous window of the same
length, or changed tier; the sentence then names the group (service or team) whose own
number changed most in the same direction, since that is where a manager looks next.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from metrics import DoraSummary

MOVED = 0.10
# Below this many samples a median moves by chance; such groups are not named as drivers.
MIN_SAMPLES = 5


def hours(value: float | None) -> str:
    """A duration in hours for reading: minutes under an hour, days from two days."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 60:.0f} min"
    return f"{value / 24:.1f} d" if value >= 48 else f"{value:.1f} h"


def percent(value: float | None) -> str:
    """A rate (0 to 1) as a percentage with one decimal."""
    return "-" if value is None else f"{value:.1%}"


def frequency(per_day: float) -> str:
    """Deployments per day, or per week when under one a day."""
    return f"{per_day:.2f}/day" if per_day >= 1 else f"{per_day * 7:.1f}/week"


@dataclass(frozen=True)
class MetricView:
    """How one DORA metric is read off a summary.

    Attributes:
        key: The summary's attribute name.
        title: Its name for people.
        short: A name short enough for a tile.
        value: The headline number (None when there is nothing to measure).
        text: The headline formatted.
        tier: Its tier (None without data, or for rework, which has no tiers).
        higher_is_better: Whether a rise is good news.
        rate: A rate (changes in percentage points) rather than a quantity (relative change).
        samples: What the number is computed from, e.g. `152 deployments`.
        count: The size of the set behind it (for the drill-down button).
    """

    key: str
    title: str
    short: str
    value: float | None
    text: str
    tier: str | None
    higher_is_better: bool
    rate: bool
    samples: str
    count: int


def metric_views(summary: DoraSummary) -> list[MetricView]:
    """The five DORA metrics of a summary, in DORA's order."""
    df, lt = summary.deployment_frequency, summary.change_lead_time
    cfr, fdrt = summary.change_fail_rate, summary.failed_deployment_recovery_time
    rework = summary.deployment_rework_rate
    return [
        MetricView(
            "deployment_frequency",
            "Deployment frequency",
            "Deploy frequency",
            df.per_day,
            frequency(df.per_day),
            df.tier,
            higher_is_better=True,
            rate=False,
            samples=f"{df.deployments:,} deployments",
            count=df.deployments,
        ),
        MetricView(
            "change_lead_time",
            "Change lead time",
            "Lead time",
            lt.median_hours,
            hours(lt.median_hours),
            lt.tier,
            higher_is_better=False,
            rate=False,
            samples=f"{lt.samples:,} commits",
            count=lt.samples,
        ),
        MetricView(
            "change_fail_rate",
            "Change fail rate",
            "Change fail rate",
            cfr.rate,
            percent(cfr.rate),
            cfr.tier,
            higher_is_better=False,
            rate=True,
            samples=f"{cfr.failed:,} of {cfr.deployments:,} deployments",
            count=cfr.failed,
        ),
        MetricView(
            "failed_deployment_recovery_time",
            "Failed deployment recovery time",
            "Recovery time",
            fdrt.median_hours,
            hours(fdrt.median_hours),
            fdrt.tier,
            higher_is_better=False,
            rate=False,
            samples=f"{fdrt.samples:,} recovered, {fdrt.unrecovered:,} not yet",
            count=fdrt.samples + fdrt.unrecovered,
        ),
        MetricView(
            "deployment_rework_rate",
            "Deployment rework rate",
            "Rework rate",
            rework.rate,
            percent(rework.rate),
            None,
            higher_is_better=False,
            rate=True,
            samples=f"{rework.rework:,} of {rework.deployments:,} deployments",
            count=rework.rework,
        ),
    ]


def change(now: MetricView, before: MetricView) -> str | None:
    """The change against the previous window: `+1.2 pp` for rates, `+25%` otherwise.

    None when either window has no value, or (for quantities) the previous one is zero.
    """
    if now.value is None or before.value is None:
        return None
    if now.rate:
        return f"{(now.value - before.value) * 100:+.1f} pp"
    if before.value == 0:
        return None
    return f"{(now.value - before.value) / before.value:+.0%}"


def _moved(now: MetricView, before: MetricView) -> bool:
    if now.value is None or before.value is None:
        return False
    if now.tier != before.tier:
        return True
    if before.value == 0:
        return now.value != 0
    return abs(now.value - before.value) / abs(before.value) >= MOVED


def _group_value(key: str) -> Callable[[DoraSummary], tuple[float | None, int]]:
    """The number of a group that explains a move of `key`, and its sample count."""

    def read(summary: DoraSummary) -> tuple[float | None, int]:
        if key == "deployment_frequency":
            return float(summary.deployment_frequency.deployments), MIN_SAMPLES
        if key == "change_lead_time":
            lead = summary.change_lead_time
            return lead.median_hours, lead.samples
        if key == "change_fail_rate":
            return float(summary.change_fail_rate.failed), MIN_SAMPLES
        if key == "failed_deployment_recovery_time":
            recovery = summary.failed_deployment_recovery_time
            return recovery.median_hours, recovery.samples
        return float(summary.deployment_rework_rate.rework), MIN_SAMPLES

    return read


def _driver(
    key: str, rising: bool, now: Sequence[DoraSummary], before: Sequence[DoraSummary]
) -> tuple[str, float, float] | None:
    read = _group_value(key)
    previous = {group.name: read(group) for group in before}
    best: tuple[str, float, float] | None = None
    for group in now:
        value, samples = read(group)
        old, old_samples = previous.get(group.name, (None, 0))
        if group.name is None or value is None or old is None:
            continue
        if min(samples, old_samples) < MIN_SAMPLES:
            continue
        delta = value - old
        if (
            (delta > 0) == rising
            and delta != 0
            and (best is None or abs(delta) > abs(best[1] - best[2]))
        ):
            best = (group.name, value, old)
    return best


def what_moved(current: DoraSummary, previous: DoraSummary, days: int) -> list[str]:
    """Sentences saying which metrics moved against the previous `days` days, and where.

    Both summaries should carry `groups` (a breakdown) for the sentences to name a
    driver; without groups they still say what moved.
    """
    sentences = []
    now_views, before_views = metric_views(current), metric_views(previous)
    for now, before in zip(now_views, before_views, strict=True):
        if not _moved(now, before) or now.value is None or before.value is None:
            continue
        rising = now.value > before.value
        verb = "rose" if rising else "fell"
        good = rising == now.higher_is_better
        sentence = f"{now.title} {verb} from {before.text} to {now.text}"
        if now.tier != before.tier and now.tier and before.tier:
            sentence += f" ({before.tier} → {now.tier})"
        driver = _driver(now.key, rising, current.groups or (), previous.groups or ())
        if driver is not None:
            name, value, old = driver
            if now.key in ("change_lead_time", "failed_deployment_recovery_time"):
                sentence += f"; most in {name} ({hours(old)} → {hours(value)})"
            else:
                sentence += f"; most in {name} ({old:.0f} → {value:.0f})"
        sentences.append(f"**{'Better' if good else 'Worse'}:** {sentence}.")
    if not sentences:
        sentences.append(f"Nothing moved by {MOVED:.0%} or more against the previous {days} days.")
    if current.unattributed_incidents:
        count = current.unattributed_incidents
        noun = "incident is" if count == 1 else "incidents are"
        sentences.append(
            f"**Note:** {count} production {noun} linked to no deployment, so not counted in the "
            "change fail rate (see Stability)."
        )
    return sentences
