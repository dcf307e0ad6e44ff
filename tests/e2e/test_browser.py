"""Dashboard in a real browser on demo data: tiles and charts draw, filters and drill-downs work.

Widgets are found by the `st-key-<key>` class Streamlit gives each keyed element.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

# Each dashboard page (its sidebar link and heading) and the plotly charts it draws.
PAGES = [("Deployments", 1), ("Stability", 3), ("Lead time", 3), ("Builds & tests", 3)]
TIMEOUT = 30_000
DEPLOYMENTS_BUTTON = ".st-key-drill_deployment_frequency button"


def deployments_shown(page: Page) -> int:
    """The deployment count on the frequency tile's drill-down button."""
    label = page.locator(DEPLOYMENTS_BUTTON).inner_text()
    return int(label.split()[-2].replace(",", ""))


def test_the_overview_shows_five_tiles_with_trends_tiers_and_words(
    app_url: str, page: Page
) -> None:
    page.goto(app_url, wait_until="domcontentloaded")

    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator('[data-testid="stMetricChart"] svg.marks')).to_have_count(
        5, timeout=TIMEOUT
    )
    expect(page.get_by_role("heading", name="What moved")).to_be_visible()
    expect(page.get_by_role("heading", name="By service")).to_be_visible()
    assert deployments_shown(page) > 100
    expect(page.get_by_text("Sign-in is off")).to_be_visible()


@pytest.mark.parametrize(("title", "charts"), PAGES)
def test_each_dashboard_page_draws_its_charts(
    app_url: str, page: Page, title: str, charts: int
) -> None:
    page.goto(app_url, wait_until="domcontentloaded")

    page.get_by_role("link", name=title).click()

    expect(page.get_by_role("heading", name=title, exact=True, level=1)).to_be_visible(
        timeout=TIMEOUT
    )
    plotted = page.get_by_test_id("stPlotlyChart")
    expect(plotted).to_have_count(charts, timeout=TIMEOUT)
    for index in range(charts):
        expect(plotted.nth(index).locator(".main-svg").first).to_be_visible(timeout=TIMEOUT)


def test_a_service_filter_changes_the_numbers_and_the_link_keeps_it(
    app_url: str, page: Page
) -> None:
    page.goto(app_url, wait_until="domcontentloaded")
    expect(page.locator('[data-testid="stMetricChart"] svg.marks')).to_have_count(
        5, timeout=TIMEOUT
    )
    everything = deployments_shown(page)

    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(
        has_text="Service"
    ).click()
    page.get_by_role("option").nth(1).click()

    expect(page.locator(DEPLOYMENTS_BUTTON)).not_to_have_text(
        re.compile(rf"(?<![\d,]){everything:,} deployments"), timeout=TIMEOUT
    )
    one = deployments_shown(page)
    assert 0 < one < everything
    assert "service=" in page.url
    page.goto(page.url, wait_until="domcontentloaded")  # a shared link opens the same view
    expect(page.locator(DEPLOYMENTS_BUTTON)).to_have_text(
        re.compile(rf"(?<![\d,]){one:,} deployments"), timeout=TIMEOUT
    )


def test_a_tile_opens_its_rows_and_a_deployment_its_story(app_url: str, page: Page) -> None:
    page.goto(app_url, wait_until="domcontentloaded")

    page.locator(".st-key-drill_change_fail_rate button").click()

    expect(page.get_by_role("heading", name="Rows behind: Change fail rate")).to_be_visible(
        timeout=TIMEOUT
    )
    page.get_by_role("link", name="Deployments").click()
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(1, timeout=TIMEOUT)
    page.locator(".st-key-deployment").click()
    page.get_by_role("option").first.click()
    expect(page.get_by_text("Shipped commits")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text("Linked incidents")).to_be_visible()
