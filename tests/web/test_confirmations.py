"""Issue 13.3: an action that cannot be undone first shows what it will do and asks to confirm
(web.controllers.forms.confirm_page), with the operation password where SPEC R-3 asks for it.
Unconfirmed, it changes nothing and shows the summary; confirmed, it acts."""

from __future__ import annotations

import html
import re

import pytest

from accounts.tables import Subscriber
from cards.tables import Card, CardBatch
from tests.helpers import post_form
from tests.money import key
from tests.web.snapshot import state
from tests.web.test_cards_integrity_web import World
from web.demo import DEMO_OPERATION_PASSWORD as OP


def summary(page: str) -> str:
    """The confirmation page's summary, as text."""
    found = re.search(r'<article id="confirm-summary">(.*?)<form', page, re.S)
    assert found, "no confirmation summary"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def hidden(page: str) -> dict[str, str]:
    """The fields the confirmation form posts again."""
    form = page[page.index('id="confirm-form"') :]
    return {n: html.unescape(v) for n, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form)}


@pytest.fixture
async def world(app, client, settings):
    world = await World(app, client, settings.card_key).start()
    client.headers["Accept-Language"] = "en"
    yield world
    await world.close()


async def statuses(serials: list[str]) -> list[str]:
    rows = await Card.select(Card.status).where(Card.serial.is_in(serials)).order_by(Card.serial)
    return [r["status"] for r in rows]


async def test_activating_a_range_shows_the_cards_minutes_and_accounts_first(world):
    pairs = await world.cards("e-card", 3, 20, activate=False)
    serials = [s for s, _secret in pairs]
    body = {"serial_from": serials[0], "serial_to": serials[-1], "idempotency_key": key()}
    before = await state()
    asked = await post_form(world.staff, "/cards/activate", body)
    assert asked.status_code == 200 and await state() == before
    said = summary(asked.text)
    assert "Cards 3" in said and "Minutes 60" in said and "Accounts it opens 3" in said
    assert all(serial in said for serial in serials)  # which accounts it opens
    again = hidden(asked.text)
    assert again["confirm"] == "1" and again["serial_to"] == serials[-1] and "operation_password" not in again
    done = await post_form(world.staff, "/cards/activate", again, follow_redirects=True)
    assert done.status_code == 200 and await statuses(serials) == ["redeemed"] * 3
    assert await Subscriber.count().where(Subscriber.account_number.is_in(serials)) == 3


async def test_the_batch_page_offers_its_whole_range(world):
    pairs = await world.cards(count=4, activate=False)
    batch = (await Card.select(Card.batch).where(Card.serial == pairs[0][0]).first())["batch"]
    page = (await world.staff.get(f"/cards/batches/{batch}")).text
    form = page[page.index('id="activate-form"') :]
    assert f'value="{pairs[0][0]}"' in form and f'value="{pairs[-1][0]}"' in form
    listed = (await world.staff.get(f"/cards?batch={batch}")).text
    assert f'value="{pairs[0][0]}"' in listed and f'value="{pairs[-1][0]}"' in listed


async def test_voiding_asks_for_the_operation_password_after_the_summary(world):
    pairs = await world.cards(count=2, face=15, activate=True)
    serials = [s for s, _secret in pairs]
    before = await state()
    asked = await post_form(world.staff, "/cards/void", {"serial_from": serials[0], "serial_to": serials[1],
                                                         "operation_password": OP, "idempotency_key": key()})
    assert asked.status_code == 200 and await state() == before
    assert "Cards 2" in summary(asked.text) and "Minutes 30" in summary(asked.text)
    assert 'type="password" name="operation_password"' in asked.text and OP not in asked.text
    again = hidden(asked.text)
    wrong = await post_form(world.staff, "/cards/void", {**again, "operation_password": "000000"})
    assert wrong.status_code == 403 and await state() == before
    done = await post_form(world.staff, "/cards/void", {**again, "operation_password": OP})
    assert done.status_code == 200 and await statuses(serials) == ["void", "void"]


async def test_closing_an_account_shows_what_goes_back_and_asks_for_the_password(world):
    subscriber_id, number, _initial = await world.subscriber(45)
    url = f"/subscribers/{subscriber_id}/close"
    page = (await world.staff.get(f"/subscribers/{subscriber_id}")).text
    assert f'formaction="{url}"' in page
    before = await state()
    asked = await post_form(world.staff, url, {"reason": "moving", "idempotency_key": key()})
    assert asked.status_code == 200 and await state() == before
    said = summary(asked.text)
    assert number in said and "45:00" in said and "moving" in said
    assert 'name="operation_password"' in asked.text
    done = await post_form(world.staff, url, {**hidden(asked.text), "operation_password": OP})
    assert done.status_code == 303
    assert (await Subscriber.select(Subscriber.status).where(Subscriber.id == subscriber_id).first())[
        "status"
    ] == "closed"


async def test_a_refused_first_step_changes_nothing_and_says_why(world):
    subscriber_id, _number, _initial = await world.subscriber()
    before = await state()
    no_reason = await post_form(world.staff, f"/subscribers/{subscriber_id}/close", {"reason": ""})
    assert no_reason.status_code == 400 and 'id="confirm-summary"' not in no_reason.text
    nothing = await post_form(world.staff, "/cards/void", {"serial_from": "8699999999990"})
    assert nothing.status_code == 400 and 'id="confirm-summary"' not in nothing.text
    assert await state() == before


async def test_the_export_with_the_secrets_shows_the_batch_first(world):
    pairs = await world.cards(count=3, face=25, activate=False)
    batch = (await Card.select(Card.batch).where(Card.serial == pairs[0][0]).first())["batch"]
    url = f"/cards/batches/{batch}/export"
    before = await state()
    asked = await post_form(world.staff, url, {"format": "csv"})
    assert asked.status_code == 200 and "attachment" not in asked.headers.get("content-disposition", "")
    assert "Cards 3" in summary(asked.text) and "Minutes 75" in summary(asked.text)
    assert not any(secret in asked.text for _serial, secret in pairs)
    assert await state() == before
    assert (await CardBatch.select(CardBatch.secrets_exported_at).where(CardBatch.id == batch).first())[
        "secrets_exported_at"
    ] is None
    taken = await post_form(world.staff, url, {**hidden(asked.text), "operation_password": OP})
    assert taken.status_code == 200 and "attachment" in taken.headers["content-disposition"]
