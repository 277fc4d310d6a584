"""Issue 12 in headless Chromium, on the demo as a newcomer gets it (`serve` on an empty database,
90 days of history): the time until the first dashboard; a level-1 agent's dashboard and
statistics page on a desktop and on a 375 px phone, each with a drawn chart; the language switch
changes the chart's labels; drill-down to a sub-agent. Screenshots go to test-artifacts/."""
from __future__ import annotations

import datetime as dt
import time

from tests.web.conftest import ARTIFACTS, PHONE_WIDTH, new_desk_context, new_phone_context, staff_page
from tests.web.live_server import LiveServer


def chart_is_drawn(page, selector: str = "#chart svg") -> None:
    """The chart has lines with points, and takes room on the page (not blank)."""
    box = page.locator(selector).bounding_box()
    assert box and box["width"] > 200 and box["height"] > 80, box
    points = page.locator(f"{selector} polyline.series").evaluate_all("lines => lines.map(l => l.points.length)")
    assert points and min(points) >= 2 and len(points) == 3, points


def fits_the_width(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH + 1


def test_the_demo_dashboard_and_statistics_on_desk_and_phone(browser, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    started = time.monotonic()
    env = {"VOIPAGENCY_DB_PATH": str(tmp_path / "demo.sqlite3"), "VOIPAGENCY_DEMO_DAYS": "90"}
    with LiveServer(env, timeout=120) as server:
        base = server.url
        context = new_desk_context(browser)
        page = staff_page(context, base, "huaxin")
        print(f"\nfirst dashboard of a fresh demo (90 days of history) after {time.monotonic() - started:.1f} s")
        chart_is_drawn(page)
        assert page.locator("#recent-figures tbody tr").count() == 30
        page.screenshot(path=str(ARTIFACTS / "stats-01-dashboard.png"), full_page=True)

        page.click("nav.top a:has-text('统计')")
        page.wait_for_url(f"{base}/agents/*/statistics")
        chart_is_drawn(page)
        chinese_legend = page.locator("#chart svg text").all_text_contents()
        assert "购入通话时长" in chinese_legend, chinese_legend
        since = (dt.date.today() - dt.timedelta(days=95)).isoformat()
        page.fill("input[name=since]", since)
        page.select_option("select[name=granularity]", "month")
        page.click("#statistics-period button[type=submit]")
        page.wait_for_url("**granularity=month**")
        chart_is_drawn(page)
        assert page.locator("#series tbody tr").count() >= 3  # 90 days touch four months, or three
        page.screenshot(path=str(ARTIFACTS / "stats-02-statistics-by-month.png"), full_page=True)

        page.click("#language-form button[value=en]")
        page.wait_for_load_state()
        english_legend = page.locator("#chart svg text").all_text_contents()
        assert "Airtime bought" in english_legend and "购入通话时长" not in english_legend, english_legend

        child = page.locator("#children tbody a").first
        name = child.inner_text()
        child.click()
        page.wait_for_url(f"{base}/agents/*/statistics?*")
        assert name in page.locator("h1").inner_text()
        chart_is_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "stats-03-drill-down.png"), full_page=True)
        context.close()

        phone = new_phone_context(browser)
        page = staff_page(phone, base, "huaxin")
        chart_is_drawn(page)
        fits_the_width(page)
        page.screenshot(path=str(ARTIFACTS / "stats-04-phone-dashboard.png"), full_page=True)
        page.locator("#recent a[role=button]").click()
        page.wait_for_url(f"{base}/agents/*/statistics")
        chart_is_drawn(page)
        fits_the_width(page)
        page.screenshot(path=str(ARTIFACTS / "stats-05-phone-statistics.png"), full_page=True)
        phone.close()
