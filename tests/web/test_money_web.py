"""Money over HTTP: the pages, the JSON API, exports, and bad input refused in the user's language."""
from __future__ import annotations

import csv
import io
import re

import pytest
from openpyxl import load_workbook

from money import bundles, ledger, prices
from tests.helpers import api, demo_actors, post_form, web_login
from tests.money import assert_ledger_ok, fund, key, set_operator_prices
from tests.web.snapshot import state
from web.demo import DEMO_OPERATION_PASSWORD as OP

CHINESE = re.compile(r"[\u4e00-\u9fff]")


async def test_remittance_confirm_buy_and_see_it_everywhere(client):
    actors = await demo_actors()
    await set_operator_prices(actors["admin"])
    owner = actors["huaxin"]
    await web_login(client, "huaxin")
    response = await post_form(client, "/remittances", {"amount": "1000", "bank_reference": "ABC-1",
                                                        "remitted_on": "2026-11-20"})
    assert response.status_code == 303
    # The operator's finance confirms it.
    client.cookies.clear()
    await web_login(client, "finance")
    pending = (await client.get("/api/v1/remittances?to_me=true&status=pending")).json()["items"]
    assert [r["bank_reference"] for r in pending] == ["ABC-1"]
    response = await post_form(client, f"/remittances/{pending[0]['id']}/confirm",
                               {"operation_password": OP, "idempotency_key": key()})
    assert response.status_code == 303
    assert (await ledger.balances(owner.agent_id))["wallet"] == 100_000
    # The agent buys with its operation password: quote partial, confirm, receipt.
    client.cookies.clear()
    await web_login(client, "huaxin")
    quote = await client.get("/bundles/quote?minutes=1000", headers={"HX-Request": "true"})
    assert "85.00" in quote.text.replace(",", "") or "¥85.00" in quote.text
    k = key()
    order = {"minutes": "1000", "operation_password": OP, "idempotency_key": k, "expected_total_fen": "8500"}
    response = await post_form(client, "/bundles", order)
    assert response.status_code == 303
    receipt = await client.get(response.headers["location"])
    assert "BO" in receipt.text and "1,000" in receipt.text
    again = await post_form(client, "/bundles", order)  # a double click: same key, same order
    assert again.headers["location"] == response.headers["location"]
    assert await ledger.balances(owner.agent_id) == {"wallet": 91_500, "stock": 60_000, "deposit": 0, "escrow": 0}
    wallet_page = (await client.get(f"/agents/{owner.agent_id}/money")).text
    assert "915.00" in wallet_page and "1,000" in wallet_page
    stock_page = (await client.get(f"/agents/{owner.agent_id}/money?account=stock")).text
    assert "1,000" in stock_page  # minutes grouped like money
    dashboard = (await client.get("/")).text
    assert "915.00" in dashboard
    await assert_ledger_ok()


async def test_journal_exports(client):
    actors = await demo_actors()
    await set_operator_prices(actors["admin"])
    owner = actors["huaxin"]
    await fund(owner.agent_id, 50_000)
    await web_login(client, "huaxin")
    await api(client, "POST", "/api/v1/bundles", json={"minutes": 100, "operation_password": OP,
                                                        "idempotency_key": key()})
    exported = await client.get(f"/agents/{owner.agent_id}/money/export?format=csv&account=wallet")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert len(rows) == 3 and rows[1][3] == "-9.00" and rows[2][3] == "500.00"
    xlsx = await client.get(f"/agents/{owner.agent_id}/money/export?format=xlsx&account=stock")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert [c.value for c in sheet[2]][3] == 100
    filtered = (await client.get(f"/api/v1/agents/{owner.agent_id}/journal?kind=bundle")).json()
    assert filtered["total"] == 1


async def test_prices_page_sets_sub_agent_prices_and_refuses_below_cost(client):
    actors = await demo_actors()
    await set_operator_prices(actors["admin"])
    client.headers["Accept-Language"] = "zh-CN"
    await web_login(client, "huaxin")
    before = await state()
    refused = await post_form(client, "/prices/mine", {"tier_min_0": "1", "tier_price_0": "9.00",
                                                       "tier_min_1": "1000", "tier_price_1": "8.00"})
    assert refused.status_code == 400 and "1000" in refused.text and CHINESE.search(refused.text)
    assert await state() == before
    saved = await post_form(client, "/prices/mine", {"tier_min_0": "1", "tier_price_0": "10.50",
                                                     "tier_min_1": "1000", "tier_price_1": "9.25"})
    assert saved.status_code == 303
    mine = (await client.get(f"/api/v1/agents/{actors['huaxin'].agent_id}/prices")).json()
    assert mine["sells_to_sub_agents"] == [{"min_minutes": 1, "price": "10.50"}, {"min_minutes": 1000,
                                                                                  "price": "9.25"}]
    child = (await client.get(f"/api/v1/agents/{actors['huaxin.pudong'].agent_id}/prices")).json()
    assert child["pays"] == mine["sells_to_sub_agents"] and child["pays_parents_own_list"]


MONEY_BAD_INPUTS = [
    ("POST", "/bundles", {"minutes": "0"}),
    ("POST", "/bundles", {"minutes": "-5"}),
    ("POST", "/bundles", {"minutes": "99999999999"}),
    ("POST", "/bundles", {"minutes": "ten"}),
    ("POST", "/bundles", {"minutes": "10", "operation_password": ""}),
    ("POST", "/bundles", {"minutes": "10", "idempotency_key": "short"}),
    ("POST", "/bundles", {"minutes": "10", "expected_total_fen": "1"}),
    ("POST", "/remittances", {"amount": "abc", "bank_reference": "x", "remitted_on": "2026-11-20"}),
    ("POST", "/remittances", {"amount": "-10", "bank_reference": "x", "remitted_on": "2026-11-20"}),
    ("POST", "/remittances", {"amount": "10.001", "bank_reference": "x", "remitted_on": "2026-11-20"}),
    ("POST", "/prices/mine", {"tier_min_0": "5", "tier_price_0": "20"}),
    ("POST", "/prices/mine", {"tier_min_0": "1", "tier_price_0": "abc"}),
    ("POST", "/api/v1/bundles", {"minutes": 0}),
    ("POST", "/api/v1/bundles", {"minutes": "many"}),
    ("POST", "/api/v1/bundles", {"minutes": 10**15}),
    ("POST", "/api/v1/bundles", {"minutes": 10, "operation_password": "wrong"}),
    ("POST", "/api/v1/remittances", {"amount": "1e9", "bank_reference": "x", "remitted_on": "2026-11-20"}),
    ("POST", "/api/v1/remittances", {"amount": "5", "bank_reference": "x", "remitted_on": "yesterday"}),
    ("PUT", "/api/v1/agents/1/prices", {"tiers": [{"min_minutes": 1, "price": "0.01"}]}),
    ("PUT", "/api/v1/agents/1/prices", {"tiers": []}),
]


@pytest.mark.parametrize("language,pattern", [("zh-CN", CHINESE), ("en", re.compile(r"[A-Za-z]{4}"))])
async def test_bad_money_input_is_refused_and_changes_nothing(client, language, pattern):
    actors = await demo_actors()
    await set_operator_prices(actors["admin"])
    await fund(actors["huaxin"].agent_id, 10**6)
    client.headers["Accept-Language"] = language
    await web_login(client, "huaxin")
    # A reused key with other parameters.
    k = key()
    first = await api(client, "POST", "/api/v1/bundles", json={"minutes": 10, "operation_password": OP,
                                                                "idempotency_key": k})
    assert first.status_code == 201
    cases = [*MONEY_BAD_INPUTS, ("POST", "/api/v1/bundles", {"minutes": 11, "idempotency_key": k})]
    failures = []
    for method, url, body in cases:
        before = await state()
        if url.startswith("/api/"):
            body = {"operation_password": OP, "idempotency_key": key(), **body} if "bundles" in url else body
            response = await api(client, method, url, json=body)
            message = response.json().get("error", "") + str(response.json().get("errors", ""))
        else:
            defaults = {"operation_password": OP, "idempotency_key": key()} if url == "/bundles" else {}
            response = await post_form(client, url, {**defaults, **body})
            message = response.text
        if response.status_code not in (400, 403, 409) or await state() != before or not pattern.search(message):
            failures.append((method, url, body, response.status_code))
    assert failures == []
    await assert_ledger_ok()


async def test_price_preview_and_order_filters(client):
    actors = await demo_actors()
    await web_login(client, "huaxin")
    preview = await client.get("/prices/preview?minutes=1000", headers={"HX-Request": "true"})
    # No list of its own yet: its sub-agents would pay the operator's level-2 list, 9.50 fen from 1,000 minutes.
    assert "¥95.00" in preview.text
    assert (await client.get("/api/v1/prices/preview?minutes=1000")).json()["total_fen"] == 9500
    bad = await client.get("/prices/preview?minutes=abc", headers={"HX-Request": "true"})
    assert bad.status_code == 200 and "error-text" in bad.text
    await fund(actors["huaxin"].agent_id, 10**6)
    await api(client, "POST", "/api/v1/bundles", json={"minutes": 10, "operation_password": OP,
                                                        "idempotency_key": key()})
    today = (await client.get("/api/v1/bundles?since=2026-01-01")).json()
    assert today["total"] == 1
    none = (await client.get("/api/v1/bundles?until=2020-01-01")).json()
    assert none["total"] == 0
    page = await client.get("/bundles?until=2020-01-01", headers={"HX-Request": "true"})
    assert "<html" not in page.text and "BO" not in page.text


async def test_a_refusal_has_the_same_status_on_the_page_and_in_the_api(client):
    await demo_actors()
    await web_login(client, "huaxin")
    await post_form(client, "/remittances", {"amount": "10", "bank_reference": "SAME-1", "remitted_on": "2026-11-20"})
    client.cookies.clear()
    await web_login(client, "finance")
    remittance = (await client.get("/api/v1/remittances?to_me=true&status=pending")).json()["items"][0]["id"]
    url = f"/remittances/{remittance}/confirm"

    wrong = {"operation_password": "000000", "idempotency_key": key()}
    page, answer = await post_form(client, url, wrong), await api(client, "POST", "/api/v1" + url, json=wrong)
    assert page.status_code == answer.status_code == 403
    assert answer.json()["error"] in page.text

    assert (await post_form(client, url, {"operation_password": OP, "idempotency_key": key()})).status_code == 303
    page = await post_form(client, url, {"operation_password": OP, "idempotency_key": key()})
    answer = await api(client, "POST", "/api/v1" + url, json={"operation_password": OP, "idempotency_key": key()})
    assert page.status_code == answer.status_code == 409
    assert answer.json()["error"] in page.text


async def test_no_sale_below_the_sellers_current_cost(client):
    """Hole 5 (R-9): a list that was above cost when saved keeps selling once the seller's own
    price rises. The sale is refused, naming the seller, and its dashboard says which list to fix."""
    a = await demo_actors()
    admin, parent, child = a["admin"], a["huaxin"], a["huaxin.pudong"]
    await set_operator_prices(admin)  # level 1 pays 9.00 (from 1 minute) and 8.50 (from 1,000)
    await prices.save_agent_list(parent, parent.agent_id, [{"min_minutes": 1, "price": "9.50"}])
    await fund(parent.agent_id, 10**6)
    await fund(child.agent_id, 10**6)
    await bundles.buy_bundle(parent, 2000, operation_password=OP, idempotency_key=key())
    await bundles.buy_bundle(child, 100, operation_password=OP, idempotency_key=key())  # above cost: sold
    # The parent's cost rises (deeper levels first, so that no level sells below the one above).
    for level, price in ((5, "20.00"), (4, "19.00"), (3, "18.00"), (2, "17.00"), (1, "10.00")):
        await prices.save_operator_list(admin, level, [{"min_minutes": 1, "price": price}])
    before = await state()
    with pytest.raises(bundles.BelowCost) as refused:
        await bundles.buy_bundle(child, 100, operation_password=OP, idempotency_key=key())
    assert refused.value.params == {"seller": "华信通讯", "minutes": 100}
    assert await state() == before
    await web_login(client, "huaxin")
    warning = (await client.get("/")).text
    assert 'id="below-cost"' in warning and 'href="/prices"' in warning
    await prices.save_agent_list(parent, parent.agent_id, [{"min_minutes": 1, "price": "10.50"}])
    assert 'id="below-cost"' not in (await client.get("/")).text
    await bundles.buy_bundle(child, 100, operation_password=OP, idempotency_key=key())
