"""The app in a real browser: it loads on demo data and shows what is stored."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def test_overview_shows_the_demo_data_in_a_browser(app_url: str, page: Page) -> None:
    page.goto(app_url, wait_until="domcontentloaded")

    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)
    deployments = page.get_by_test_id("stMetric").filter(has_text="Deployments")
    expect(deployments).to_be_visible()
    count = deployments.get_by_test_id("stMetricValue").inner_text()
    assert int(count.replace(",", "")) > 100
    expect(page.get_by_text("Sign-in is off")).to_be_visible()
