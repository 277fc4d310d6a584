"""Issue acceptance in headless Chromium: a level-1 agent records a remittance, the operator's
finance confirms it, the agent buys a bundle with its operation password and sees wallet and
stock change, then sets prices for its sub-agents; the finance user posts a penalty that the agent
sees in its journal. Screenshots go to test-artifacts/."""
from __future__ import annotations

import re
import secrets

from tests.web.conftest import (
    ARTIFACTS,
    PHONE_WIDTH,
    new_desk_context,
    new_phone_context,
    staff_page,
)
from web.demo import DEMO_OPERATION_PASSWORD


def yuan(text: str) -> int:
    """"¥1,234.50" -> 123450 fen."""
    digits = re.sub(r"[^0-9.]", "", text)
    whole, _, part = digits.partition(".")
    return int(whole) * 100 + int((part or "0").ljust(2, "0"))


def minutes(text: str) -> int:
    return int(re.sub(r"[^0-9]", "", text))


def test_remittance_confirmation_purchase_and_prices(server, browser):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    base = server.url
    shots = iter(range(1, 100))

    def shot(page, label: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"money-{next(shots):02d}-{label}.png"), full_page=True)

    agent_context, finance_context = new_desk_context(browser, 10_000), new_desk_context(browser, 10_000)
    phone_context = new_phone_context(browser, 10_000)
    errors: list[str] = []
    try:
        agent = staff_page(agent_context, base, "huaxin")
        agent.on("pageerror", lambda e: errors.append(str(e)))
        wallet_before = yuan(agent.locator("#dashboard-wallet").inner_text())
        stock_before = minutes(agent.locator("#dashboard-stock").inner_text())

        # 1. The agent records a remittance of ¥2,000.
        reference = f"ICBC-{secrets.token_hex(3)}"
        agent.goto(base + "/remittances")
        agent.click("details summary")
        agent.fill("input[name=amount]", "2000")
        agent.fill("input[name=bank_reference]", reference)
        shot(agent, "record-remittance")
        agent.click("form[action='/remittances'] button[type=submit]")
        expect(agent.locator("table")).to_contain_text(reference)

        # 2. The operator's finance user confirms it with the operation password.
        finance = staff_page(finance_context, base, "finance")
        finance.goto(base + "/remittances")
        row = finance.locator(".decide", has_text=reference)
        row.locator("input[name=operation_password]").fill(DEMO_OPERATION_PASSWORD)
        shot(finance, "confirm-remittance")
        row.locator("button[value=confirm]").click()
        expect(finance.locator(".decide", has_text=reference)).to_have_count(0)

        # 3. The agent buys 1,000 minutes: htmx quote, operation password, receipt.
        agent.goto(base + "/bundles")
        expect(agent.locator("#wallet-balance")).to_have_text(re.compile(r"¥"))
        assert yuan(agent.locator("#wallet-balance").inner_text()) == wallet_before + 200_000
        agent.fill("#bundle-minutes", "1000")
        total = agent.locator("#quote-total")
        expect(total).to_be_visible()
        price = yuan(total.inner_text())
        assert price == 1000 * 850 // 100  # the operator's level-1 tier from 1,000 minutes: 8.50 fen
        agent.fill("#quote input[name=operation_password]", DEMO_OPERATION_PASSWORD)
        shot(agent, "quote")
        agent.click("#quote button[type=submit]")
        agent.wait_for_url(re.compile(r"/bundles/\d+$"))
        expect(agent.locator("#receipt-minutes")).to_have_text("1,000")
        shot(agent, "receipt")
        agent.goto(base + "/")
        assert yuan(agent.locator("#dashboard-wallet").inner_text()) == wallet_before + 200_000 - price
        assert minutes(agent.locator("#dashboard-stock").inner_text()) == stock_before + 1000
        shot(agent, "dashboard-after")

        # 4. The agent sets prices for its sub-agents, above its own cost.
        agent.goto(base + "/prices")
        form = agent.locator("#my-prices form")
        form.locator("input[name=tier_min_0]").fill("1")
        form.locator("input[name=tier_price_0]").fill("10.80")
        form.locator("input[name=tier_min_1]").fill("1000")
        form.locator("input[name=tier_price_1]").fill("9.60")
        form.locator("button[type=submit]").click()
        agent.wait_for_url(base + "/prices")
        expect(agent.locator("#my-prices table")).to_contain_text("10.80")
        expect(agent.locator("#my-prices table")).to_contain_text("9.60")
        shot(agent, "prices")

        # 5. The operator's finance posts a penalty with a reason (R-11b); the agent sees it.
        finance.goto(base + "/agents/1/money")
        finance.click("#adjustment-form >> xpath=.. >> summary")
        form = finance.locator("#adjustment-form")
        form.locator("select[name=kind]").select_option("penalty")
        form.locator("select[name=direction]").select_option("debit")
        form.locator("input[name=amount]").fill("50")
        form.locator("input[name=reason]").fill("投诉处理超时罚款")
        form.locator("input[name=reference]").fill("TK-7")
        form.locator("input[name=operation_password]").fill(DEMO_OPERATION_PASSWORD)
        shot(finance, "penalty")
        form.locator("button[type=submit]").click()
        finance.wait_for_url(re.compile(r"/agents/1/money\?account=wallet&kind=penalty"))
        expect(finance.locator("#journal")).to_contain_text("投诉处理超时罚款")
        agent.goto(base + "/agents/1/money")
        expect(agent.locator("#journal")).to_contain_text("投诉处理超时罚款 (TK-7)")
        expect(agent.locator("#adjustment-form")).to_have_count(0)  # an agent does not hold its own wallet
        assert yuan(agent.locator("#wallet-balance").inner_text()) == wallet_before + 200_000 - price - 5_000
        shot(agent, "journal-penalty")

        # The money pages fit a phone screen.
        phone = staff_page(phone_context, base, "huaxin")
        for path in ("/bundles", "/remittances", "/prices", f"/agents/{1}/money"):
            phone.goto(base + path)
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE_WIDTH + 1, f"{path} is {width}px wide on a phone"
        shot(phone, "phone-wallet")
    finally:
        for context in (agent_context, finance_context, phone_context):
            context.close()
    assert not errors, errors
