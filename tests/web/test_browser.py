"""Issue acceptance in a real browser (headless Chromium) against `voipagency serve` in demo mode:
a level-1 agent logs in, creates a sub-agent, finds it with the htmx search and opens it, and
switches the language to English and back; once on a desktop and once on a phone-sized screen,
where no page may scroll sideways. Screenshots go to test-artifacts/."""
from __future__ import annotations

import re
import secrets

import pytest

from tests.web.conftest import ARTIFACTS, PHONE_WIDTH
from web.demo import DEMO_PASSWORD


def agent_flow(page, base: str, name: str, phone: bool) -> None:
    """Log in as `huaxin`, create a sub-agent, search for it, open it, English, then Chinese again."""
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    step = iter(range(1, 100))

    def shot(label: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"browser-{name}-{next(step):02d}-{label}.png"), full_page=True)
        if phone:  # nothing may make the page scroll sideways
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE_WIDTH + 1, f"{label}: the page is {width}px wide on a {PHONE_WIDTH}px screen"

    nav = page.locator("nav.top")
    page.goto(base + "/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    shot("login")
    page.fill("input[name=username]", "huaxin")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(base + "/")
    expect(nav).to_contain_text("代理商")
    shot("dashboard")

    if phone:  # the links are folded behind the Menu button
        page.click("nav.top [data-menu-toggle]")
    page.click("nav.top a[href='/agents']")
    page.wait_for_url(base + "/agents")
    expect(page.locator("#agent-rows")).to_contain_text("华信浦东")
    shot("tree")
    page.click("a[href='/agents/new']")
    brand = f"华信测试 {name} {secrets.token_hex(3)}"
    page.fill("input[name=brand_name]", brand)
    page.fill("input[name=contact_person]", "赵测试")
    page.fill("input[name=phone]", "+86 21 5555 0199")
    shot("new-agent")
    page.click("form[action='/agents'] button[type=submit]")
    page.wait_for_url(re.compile(r"/agents/\d+$"))
    expect(page.locator("h1")).to_contain_text(brand)
    expect(page.locator("nav[aria-label=breadcrumb]")).to_contain_text("华信通讯")  # created under huaxin's agent
    agent_url = page.url

    page.goto(base + "/agents")
    page.fill("input[name=q]", brand)  # htmx: hx-get /agents, swaps #agent-rows, pushes ?q=
    rows = page.locator("#agent-rows tbody a")
    expect(rows).to_have_text([brand])
    expect(page).to_have_url(re.compile(r"/agents\?q="))
    shot("search")
    rows.first.click()
    page.wait_for_url(agent_url)
    expect(page.locator("h1")).to_contain_text(brand)
    shot("agent")

    page.click("button[name=language][value=en]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(agent_url)
    expect(nav).to_contain_text("Agents")
    expect(nav).to_contain_text("Log out")
    shot("english")
    page.click("button[name=language][value=zh_CN]")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(nav).to_contain_text("代理商")
    expect(nav).to_contain_text("退出登录")
    shot("chinese")


VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": PHONE_WIDTH, "height": 812}}


@pytest.mark.parametrize("name", VIEWPORTS)
def test_agent_creates_finds_and_opens_sub_agent_in_both_languages(server, browser, name):
    """A level-1 agent creates a sub-agent, finds it in the tree, opens it; the UI switches to
    English and back to Chinese; on a phone no page is wider than the screen."""
    phone = name == "phone"
    context = browser.new_context(locale="zh-CN", viewport=VIEWPORTS[name], is_mobile=phone, has_touch=phone)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        agent_flow(page, server.url, name, phone)
    finally:
        context.close()
    assert not errors, errors
