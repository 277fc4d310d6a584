"""Guidance where users get stuck, and the subscriber's path (issue 13, classes 6 and 7), over HTTP:
a quote the wallet cannot cover says how much is missing and where to send it; an unset operation
password is named with a link to set it; remittances are listed as "to confirm" and "sent by us",
a rejection shows its reason and a reused bank reference asks to be confirmed; holiday warnings
reach only those who can act; the e-card sheet and the portal lead the subscriber in, and staff
find a subscriber by any part of the number."""

from __future__ import annotations

import datetime as dt
import re
import subprocess

from agency import agents
from agency.tables import User
from cards.services import activate_cards, generate_batch
from cards.sheets import SheetCard, card_sheet_pdf, qr_content
from money.bundles import buy_bundle
from money.tables import PayeeBankDetails, Remittance
from tests.helpers import csrf, demo_actors, post_form, web_login
from tests.money import fund, key
from tests.unit.test_sheets import poppler
from web.demo import DEMO_OPERATION_PASSWORD as OP

EN = {"Accept-Language": "en"}
HX = {"HX-Request": "true", **EN}
TODAY = dt.date.today().isoformat()
BANK = {"bank_name": "ICBC", "branch": "Pudong", "account_name": "Operator Ltd",
        "account_number": "6222 0210 0112 3456"}


async def test_quote_names_the_shortfall_the_payee_and_a_missing_operation_password(client):
    a = await demo_actors()
    await web_login(client, "finance")
    bad = await post_form(client, "/bank-details", {**BANK, "account_number": "62x", "operation_password": OP})
    assert bad.status_code == 400 and not await PayeeBankDetails.exists()
    saved = await post_form(client, "/bank-details", {**BANK, "operation_password": OP})
    assert saved.status_code == 303 and saved.headers["location"] == "/bank-details"
    assert "6222 0210 0112 3456" in (await client.get("/bank-details", headers=EN)).text

    client.cookies.clear()
    await web_login(client, "huaxin")  # its wallet is empty in the demo
    quote = (await client.get("/bundles/quote?minutes=1000", headers=HX)).text
    assert 'id="quote-short"' in quote and "¥85.00 short" in quote  # 1,000 minutes at 8.50 fen
    assert 'href="/remittances?record=1#record-remittance"' in quote and "6222 0210 0112 3456" in quote
    assert 'name="operation_password"' not in quote  # a purchase that cannot go through is not offered
    record = (await client.get("/remittances?record=1", headers=EN)).text
    assert re.search(r'<details id="record-remittance"\s+open', record) and "Operator Ltd" in record

    await fund(a["huaxin"].agent_id, 10_000)
    assert 'name="operation_password"' in (await client.get("/bundles/quote?minutes=1000", headers=HX)).text
    await User.update({User.operation_password_hash: None}).where(User.id == a["huaxin"].user_id)
    quote = (await client.get("/bundles/quote?minutes=1000", headers=HX)).text
    assert 'id="operation-password-missing"' in quote and 'href="/account#operation-password"' in quote
    bought = await post_form(client, "/bundles", {"minutes": "1000", "operation_password": OP,
                                                  "idempotency_key": key()}, headers=EN)
    assert bought.status_code == 403 and "You have not set an operation password yet" in bought.text
    assert 'id="operation-password"' in (await client.get("/account")).text  # where the link leads


async def test_remittances_to_confirm_and_mine_with_reasons_and_reused_references(client):
    await demo_actors()
    await web_login(client, "huaxin.pudong")
    sent = {"amount": "300", "bank_reference": "CCB-7", "remitted_on": TODAY}
    assert (await post_form(client, "/remittances", {**sent, "idempotency_key": key()})).status_code == 303
    twice = await post_form(client, "/remittances", {**sent, "idempotency_key": key()}, headers=EN)
    assert twice.status_code == 409 and "CCB-7" in twice.text and 'name="confirm_duplicate"' in twice.text
    confirmed = await post_form(client, "/remittances", {**sent, "idempotency_key": key(), "confirm_duplicate": "1"})
    assert confirmed.status_code == 303

    client.cookies.clear()
    await web_login(client, "huaxin")  # the parent: pudong's remittances are its to confirm
    page = (await client.get("/remittances", headers=EN)).text
    assert 'aria-current="page">Sent by us' in page and "CCB-7</td>" not in page  # its own list first
    waiting = await Remittance.select(Remittance.id).where(Remittance.status == "pending").order_by(Remittance.id)
    first, second = (row["id"] for row in waiting)
    assert f'id="shared-reference-{first}"' in page and f'id="shared-reference-{second}"' in page
    to_me = (await client.get("/remittances?show=to_me", headers=EN)).text
    assert to_me.count("CCB-7") >= 2 and "(used twice)" in to_me
    url = f"/remittances/{second}/reject"
    no_reason = await post_form(client, url, {"operation_password": OP, "idempotency_key": key()}, headers=EN)
    assert no_reason.status_code == 400 and "the sender sees this reason" in no_reason.text
    rejected = await post_form(client, url, {"operation_password": OP, "idempotency_key": key(),
                                             "note": "同一笔汇款记了两次"})
    assert rejected.status_code == 303

    client.cookies.clear()
    await web_login(client, "huaxin.pudong")
    mine = (await client.get("/remittances", headers=EN)).text
    assert "同一笔汇款记了两次" in mine and "Reason" in mine


async def test_holiday_warnings_reach_only_those_who_can_act(client):
    await demo_actors()
    year = dt.date.today().year
    await web_login(client, "admin")
    queue = (await client.get("/support")).text
    assert re.search(rf'id="unconfirmed-{year}">[^<]*<a href="/support/calendar">', queue)
    assert f'id="todo-holidays-{year}"' in (await client.get("/")).text
    client.cookies.clear()
    await web_login(client, "support")  # sees the queue, cannot change the calendar: not told
    assert "unconfirmed-" not in (await client.get("/support")).text
    assert "todo-holidays" not in (await client.get("/")).text


async def test_the_subscribers_path_from_the_card_to_the_portal(client, settings):
    a = await demo_actors()
    huaxin = a["huaxin"]
    await web_login(client, "huaxin")
    edit = f"/agents/{huaxin.agent_id}/edit"
    fields = {"brand_name": "华信通讯", "contact_person": "王伟", "phone": "+86 21 5555 0101"}
    assert (await post_form(client, edit, {**fields, "hotline": "ring <me>"})).status_code == 400
    assert (await post_form(client, edit, {**fields, "hotline": "400 820 1234"})).status_code == 303
    assert "400 820 1234" in (await client.get(f"/agents/{huaxin.agent_id}")).text
    assert 'name="service_hours" value="周一至周五 09:00-18:00"' in (await client.get(edit)).text  # the demo's
    refused = await post_form(client, edit, {**fields, "hotline": "400 820 1234", "service_hours": "9-18\r\n<b>"})
    assert refused.status_code == 400 and 'id="service_hours-error"' in refused.text
    hours = {**fields, "hotline": "400 820 1234", "service_hours": "Mon-Fri 09:00-18:00 <b>"}
    assert (await post_form(client, edit, hours)).status_code == 303
    detail = (await client.get(f"/agents/{huaxin.agent_id}")).text
    assert 'id="agent-service-hours">Mon-Fri 09:00-18:00 &lt;b&gt;</dd>' in detail

    number, initial = (await _accounts(huaxin, settings))[0]
    # Staff find the account by any part of its number, with its balance and expiry.
    found = (await client.get(f"/subscribers?q={number[-5:]}", headers=HX)).text
    assert number in found and "20 minutes" in found and "—" not in found.split(number, 1)[1].split("</tr>")[0]
    assert number not in (await client.get("/subscribers?q=%25", headers=HX)).text

    # The e-card's QR code opens the portal's login with the number filled in.
    client.cookies.clear()
    login = (await client.get(f"/portal/login?account_number={number}", headers=EN)).text
    assert f'value="{number}"' in login and 'href="/portal"' in login  # the logo leads to the portal
    assert "&lt;b&gt;" not in (await client.get("/portal/login?account_number=%3Cb%3E")).text
    await client.post("/portal/login", data={"account_number": number, "password": initial,
                                             "csrf_token": await csrf(client)})
    await client.post("/portal/password", data={"new_password": "sub-pass-9", "repeat_password": "sub-pass-9",
                                                "csrf_token": await csrf(client)})
    home = await client.get("/portal", headers=EN)
    assert home.status_code == 200, home.headers
    home = home.text
    assert 'id="portal-agent"' in home and "华信通讯" in home and 'href="tel:4008201234"' in home
    assert "Service hours: Mon-Fri 09:00-18:00 &lt;b&gt;" in home
    assert 'href="/portal">voipagency' in home


def test_the_ecard_sheet_says_where_to_log_in(tmp_path):
    ecard = SheetCard("8600000001234", "1234567812345678", 20, "—", "e-card")
    recharge = SheetCard("8600000001242", "8765432187654321", 50, "—", "recharge")
    url = "https://agency.example.com/portal"
    assert qr_content(ecard, url) == f"{url}/login?account_number=8600000001234"  # never the password
    assert qr_content(recharge, url).startswith("VA1:RECHARGE:")
    labels = {"serial": "Serial", "pin": "PIN", "password": "Initial password", "minutes": "minutes",
              "expires": "Expires", "page": "Page", "account_number": "Account number",
              "log_in": "Log in at {url}", "recharge_at": "Recharge at {url}"}
    (tmp_path / "sheet.pdf").write_bytes(card_sheet_pdf([ecard, recharge], title="Acme", labels=labels,
                                                        portal_url=url))
    text = subprocess.run([poppler("pdftotext"), "sheet.pdf", "-"], cwd=tmp_path, capture_output=True,
                          check=True, timeout=60).stdout.decode()
    assert "Log in at agency.example.com/portal" in text and "Recharge at agency.example.com/portal" in text
    assert "Account number" in text and "Initial password" in text


async def test_the_portal_ticket_pages_show_the_agents_hotline_and_service_hours(client, settings):
    a = await demo_actors()
    number, initial = (await _accounts(a["pearl"], settings))[0]
    await post_form(client, "/portal/login", {"account_number": number, "password": initial})
    await post_form(client, "/portal/password", {"new_password": "sub-pass-9", "repeat_password": "sub-pass-9"})
    contact = (
        '<a href="tel:40055550201" class="ref" id="portal-hotline">400 5555 0201</a>',
        '<span id="portal-service-hours">Service hours: Mon-Sat 08:00-20:00</span>',
    )
    listed = (await client.get("/portal/tickets", headers=EN)).text
    assert "Pearl River Telecom" in listed and all(part in listed for part in contact)
    refused = await post_form(client, "/portal/tickets", {"subject": "", "body": ""}, headers=EN)  # the form again
    assert refused.status_code == 400 and all(part in refused.text for part in contact)
    opened = await post_form(client, "/portal/tickets", {"category": "calls", "subject": "No tone", "body": "Busy"})
    ticket = (await client.get(opened.headers["location"], headers=EN)).text
    assert "No tone" in ticket and all(part in ticket for part in contact)
    chinese = (await client.get(opened.headers["location"], headers={"Accept-Language": "zh-CN"})).text
    assert "客服热线" in chinese and "服务时间：Mon-Sat 08:00-20:00" in chinese

    # An agent that set neither shows its name only: no empty label.
    await agents.update_agent(a["pearl"], a["pearl"].agent_id, {"hotline": "", "service_hours": ""})
    for url in ("/portal", "/portal/tickets", opened.headers["location"]):
        page = (await client.get(url, headers=EN)).text
        line = page.split('id="portal-agent">', 1)[1].split("</p>", 1)[0]
        assert line == "Your provider: Pearl River Telecom", (url, line)


async def _accounts(owner, settings) -> list[tuple[str, str]]:
    await fund(owner.agent_id, 10**7)
    await buy_bundle(owner, 1000, operation_password=OP, idempotency_key=key())
    _batch, cards = await generate_batch(
        owner,
        {"kind": "e-card", "count": "1", "face_minutes": "20", "expiry_rule": "days_after_activation",
         "expiry_days": "30"},
        card_key=settings.card_key,
        operation_password=OP,
    )
    await activate_cards(owner, cards[0][0])
    return cards
