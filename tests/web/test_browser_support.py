"""Issue acceptance in headless Chromium: a subscriber on a phone opens a ticket; the agent's
support user sees it at the top of the queue with its due time, writes an internal note (still
due), replies publicly (met), and the SLA report counts it; the operator's support sets a
priority's target in the form."""

from __future__ import annotations

import re
import secrets

import httpx

from tests.web.conftest import (
    ARTIFACTS,
    PHONE_WIDTH,
    new_desk_context,
    new_phone_context,
    portal_first_login,
    staff_page,
)
from web.demo import DEMO_OPERATION_PASSWORD, DEMO_PASSWORD


def make_subscriber(base: str) -> tuple[str, str]:
    """As pearl, over HTTP: an e-card batch of one, activated; returns its serial and password."""
    with httpx.Client(base_url=base, timeout=30) as client:
        client.get("/login")
        client.post(
            "/login", data={"username": "pearl", "password": DEMO_PASSWORD, "csrf_token": client.cookies["vs_csrf"]}
        )
        headers = {"X-CSRF-Token": client.cookies["vs_csrf"]}
        batch = client.post(
            "/api/v1/card-batches",
            headers=headers,
            json={
                "kind": "e-card",
                "count": 1,
                "face_minutes": 10,
                "operation_password": DEMO_OPERATION_PASSWORD,
                "idempotency_key": secrets.token_hex(8),
            },
        ).json()
        row = (
            client.post(
                f"/api/v1/card-batches/{batch['id']}/export",
                headers=headers,
                json={"format": "csv", "operation_password": DEMO_OPERATION_PASSWORD},
            )
            .text.lstrip("\ufeff")
            .splitlines()[1]
        )
        serial, password = row.split(",")[:2]
        client.post(
            "/api/v1/cards/activate",
            headers=headers,
            json={"serial_from": serial, "idempotency_key": secrets.token_hex(8)},
        )
    return serial, password


def test_phone_ticket_to_met_and_reported(server, browser):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    base = server.url
    serial, password = make_subscriber(base)
    subject = f"无法拨打 {secrets.token_hex(2)}"
    phone_context = new_phone_context(browser)
    staff_context = new_desk_context(browser)
    operator_context = new_desk_context(browser)
    try:
        phone = portal_first_login(phone_context, base, serial, password, "phone-pass-2")
        phone.click("[data-menu-toggle]")  # on a phone the links are folded behind the Menu button
        phone.click("a[href='/portal/tickets']")
        phone.select_option("select[name=category]", "calls")
        phone.fill("input[name=subject]", subject)
        phone.fill("textarea[name=body]", "拨号后一直忙音")
        phone.click("form[action='/portal/tickets'] button[type=submit]")
        phone.wait_for_url(re.compile(r"/portal/tickets/\d+$"))
        ticket_url = phone.url
        phone.screenshot(path=str(ARTIFACTS / "support-01-phone-ticket.png"), full_page=True)
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH + 1

        staff = staff_page(staff_context, base, "pearl.support")
        staff.goto(base + "/support")
        # in the agent's queue, sorted by the most urgent running clock (older tickets' resolution
        # clocks may come first)
        first_row = staff.locator("#queue tbody tr", has_text=subject)
        expect(first_row).to_have_count(1)
        expect(first_row.locator(".badge")).not_to_have_class(re.compile("sla-met"))
        staff.screenshot(path=str(ARTIFACTS / "support-02-queue.png"), full_page=True)
        first_row.locator("a").click()
        staff.fill("textarea[name=body]", "内部：检查中继")
        staff.click("button[value=internal]")
        expect(staff.locator("#first-response-state")).not_to_have_class(re.compile("sla-met"))
        staff.fill("textarea[name=body]", "已为您处理，请再试。")
        staff.click("button[value=public]")
        expect(staff.locator("#first-response-state")).to_have_class(re.compile("sla-met"))
        staff.screenshot(path=str(ARTIFACTS / "support-03-met.png"), full_page=True)
        staff.goto(base + "/support/report?dimension=agent")
        expect(staff.locator("main table#report")).to_contain_text("Pearl River Telecom")
        expect(staff.locator("#compliance-chart svg")).to_be_visible()  # loaded after the page (htmx)
        assert int(re.search(r"共 (\d+) 个工单", staff.locator("main").inner_text()).group(1)) >= 1

        phone.goto(ticket_url)
        expect(phone.locator("main")).to_contain_text("已为您处理")
        expect(phone.locator("main")).not_to_contain_text("内部：检查中继")

        # The operator's support sets a priority's first-response target in the form (issue 14).
        targets = staff_page(operator_context, base, "support")
        targets.goto(base + "/support")
        targets.click("a[href='/support/targets']")
        urgent = targets.locator("#priority-urgent")
        urgent.locator("input[name=first_response_minutes]").fill("45")
        urgent.locator("button[type=submit]").click()
        expect(targets.locator("[role=status]")).to_contain_text("时限已保存")
        expect(targets.locator("#priority-urgent input[name=first_response_minutes]")).to_have_value("45")
        targets.screenshot(path=str(ARTIFACTS / "support-04-targets.png"), full_page=True)
    finally:
        phone_context.close()
        staff_context.close()
        operator_context.close()
