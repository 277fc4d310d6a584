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
        yield browser
        browser.close()


