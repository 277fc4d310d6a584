"""Fixtures of the browser tests: the product in demo mode, and headless Chromium."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import missing_dependency
from tests.web.live_server import REPO, LiveServer

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts"
PHONE_WIDTH = 375


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The product in demo mode on SQLite (the demo tree is loaded at start)."""
    db_path = tmp_path_factory.mktemp("browser") / "demo.sqlite3"
    # With the access log, so that the tests searching the log for secrets see every request line.
    with LiveServer({"VOIPAGENCY_DB_PATH": str(db_path)}, extra_args=("--access-log",)) as live:
        yield live


# What the console said about the Content-Security-Policy in the current test (watch_csp).
CSP_VIOLATIONS: list[str] = []


def watch_csp(context):
    """Records every console message of `context`'s pages about the Content Security Policy: a
    refused inline script, style, eval or source is a bug of the page (issue 11.6)."""

    def on_console(message) -> None:
        if "Content Security Policy" in message.text:
            page = message.page.url if message.page else "?"
            CSP_VIOLATIONS.append(f"{page}: {message.text}")

    context.on("console", on_console)
    return context


@pytest.fixture(autouse=True)
def no_csp_violations():
    """Fails a test whose browser pages broke the Content-Security-Policy."""
    CSP_VIOLATIONS.clear()
    yield
    violations, CSP_VIOLATIONS[:] = list(CSP_VIOLATIONS), []
    if violations:
        pytest.fail("Content-Security-Policy violations in the console:\n" + "\n".join(violations[:20]))


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        missing_dependency(f"Chromium is not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_dependency("the playwright package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        new_context = browser.new_context
        browser.new_context = lambda *args, **kwargs: watch_csp(new_context(*args, **kwargs))  # every context
        yield browser
        browser.close()




def new_desk_context(browser, timeout_ms: int = 15_000, **options):
    """A desktop browser in Chinese."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}, **options)
    context.set_default_timeout(timeout_ms)
    return context


def new_phone_context(browser, timeout_ms: int = 15_000):
    """A 375 px touch phone in Chinese."""
    context = browser.new_context(locale="zh-CN", viewport={"width": PHONE_WIDTH, "height": 812},
                                  is_mobile=True, has_touch=True)
    context.set_default_timeout(timeout_ms)
    return context


def staff_page(context, base: str, username: str):
    """A new page of `context`, logged in as the demo user `username`."""
    from web.demo import DEMO_PASSWORD

    page = context.new_page()
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(base + "/")
    return page


def portal_first_login(context, base: str, number: str, initial: str, new_password: str, screenshot: str = ""):
    """A subscriber's first login with the card's initial secret, which must be replaced; a new page
    of `context` on the portal's home page (`screenshot`: the filled-in password form, saved there)."""
    page = context.new_page()
    page.goto(base + "/portal/login")
    page.fill("input[name=account_number]", number)
    page.fill("input[name=password]", initial)
    page.click("form[action='/portal/login'] button[type=submit]")
    page.wait_for_url(base + "/portal/password")
    page.fill("input[name=new_password]", new_password)
    page.fill("input[name=repeat_password]", new_password)
    if screenshot:
        page.screenshot(path=screenshot, full_page=True)
    page.click("form[action='/portal/password'] button[type=submit]")
    page.wait_for_url(base + "/portal")
    return page
