"""Cards over HTTP, issue 10: the export with secrets is a POST with the operation password, done
once and audited; every operation that moves airtime is idempotent (R-7).

OPERATIONS is the one table of (route, body builder) pairs: each row's operation is sent 8 times
at once with one idempotency key, which must make exactly one effect and give all 8 the first
result; the same key with other values is then refused with 409 and changes nothing. A later
route that moves airtime gets a row here."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from accounts.tables import Subscriber
from agency.tables import AuditEntry
from cards import codes
from cards.services import activate_cards, generate_batch
from cards.tables import Card, CardBatch, CardJob
from money.bundles import buy_bundle
from money.tables import JournalTransaction
from tests.helpers import api, csrf, demo_actors, post_form, web_login
from tests.money import assert_ledger_ok, fund, key
from tests.web.snapshot import state
from web.auth import CSRF_COOKIE
from web.demo import DEMO_OPERATION_PASSWORD as OP

CONCURRENT = 8


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


class World:
    """The huaxin tree stocked with minutes, with factories of fresh cards and accounts, and the
    two sessions the routes need: huaxin's owner, and a subscriber on the portal."""

    def __init__(self, app, client: httpx.AsyncClient, card_key: bytes) -> None:
        self.app, self.staff, self.card_key = app, client, card_key
        self.portal: httpx.AsyncClient | None = None
        self.portal_subscriber: int | None = None

    async def start(self) -> World:
        self.actors = await demo_actors()
        self.owner = self.actors["huaxin"]
        await fund(self.owner.agent_id, 10**9)
        await buy_bundle(self.owner, 200_000, operation_password=OP, idempotency_key=key())
        await web_login(self.staff, "huaxin")
        return self

    async def cards(self, kind: str = "recharge", count: int = 1, face: int = 10, activate: bool = True):
        _batch, pairs = await generate_batch(
            self.owner,
            {"kind": kind, "count": str(count), "face_minutes": str(face), "expiry_rule": "none"},
            card_key=self.card_key,
            operation_password=OP,
        )
        if activate:
            await activate_cards(self.owner, pairs[0][0], pairs[-1][0])
        return pairs

    async def subscriber(self, minutes: int = 30) -> tuple[int, str, str]:
        """A live account opened by an e-card: its id, number and initial password."""
        ((number, initial),) = await self.cards("e-card", 1, minutes)
        row = await Subscriber.select(Subscriber.id).where(Subscriber.account_number == number).first()
        return row["id"], number, initial

    async def portal_session(self) -> httpx.AsyncClient:
        if self.portal is None:
            self.portal_subscriber, number, initial = await self.subscriber()
            self.portal = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://127.0.0.1")
            token = await csrf(self.portal)
            login = await self.portal.post(
                "/portal/login", data={"account_number": number, "password": initial, "csrf_token": token}
            )
            assert login.status_code == 303, login.text
            changed = await self.portal.post(
                "/portal/password",
                data={"new_password": "portal-pass-1", "repeat_password": "portal-pass-1",
                      "csrf_token": self.portal.cookies[CSRF_COOKIE]},  # a new token comes with the session
            )
            assert changed.status_code == 303, changed.text
        return self.portal

    async def close(self) -> None:
        if self.portal is not None:
            await self.portal.aclose()


# A body builder: the ids of the route's placeholders and a body (without the key) for one fresh run.
Builder = Callable[[World], Awaitable[tuple[dict[str, int], dict]]]


@dataclass(frozen=True)
class Operation:
    """One route that moves airtime (`route`, with Litestar's placeholders, as the app declares
    it): `build` gives its ids and body for one fresh run; `other` the same body with other
    values; `effect` the audit action of one effect, `postings` the journal transactions,
    `batches` and `jobs` the card batches and background jobs one effect makes; `session` whose
    session sends it ("staff": huaxin's owner; "subscriber": a subscriber on the portal)."""

    name: str
    route: str
    build: Builder
    other: Callable[[dict], dict]
    effect: str
    postings: int
    session: str = "staff"
    batches: int = 0
    jobs: int = 0

    def url(self, ids: dict[str, int]) -> str:
        url = self.route
        for name, value in ids.items():
            url = url.replace(f"{{{name}:int}}", str(value))
        assert "{" not in url, url
        return url


def batch_of(count: int) -> Builder:
    async def build(w: World) -> tuple[dict[str, int], dict]:
        body = {"kind": "recharge", "count": count, "face_minutes": 1, "expiry_rule": "none", "operation_password": OP}
        return {}, body

    return build


async def a_card(w: World) -> tuple[dict[str, int], dict]:
    ((serial, pin),) = await w.cards()
    return {}, {"serial": serial, "pin": pin}


async def a_card_and_a_subscriber(w: World) -> tuple[dict[str, int], dict]:
    subscriber_id, _number, _initial = await w.subscriber()
    _ids, body = await a_card(w)
    return {"subscriber_id": subscriber_id}, body


def cards(kind: str = "recharge", activate: bool = False, password: bool = False) -> Builder:
    async def build(w: World) -> tuple[dict[str, int], dict]:
        pairs = await w.cards(kind, 2 if kind == "e-card" else 3, 10, activate=activate)
        body = {"serial_from": pairs[0][0], "serial_to": pairs[-1][0]}
        return {}, {**body, "operation_password": OP} if password else body

    return build


async def an_account(w: World) -> tuple[dict[str, int], dict]:
    subscriber_id, _number, _initial = await w.subscriber(45)
    return {"subscriber_id": subscriber_id}, {"reason": "moving away", "operation_password": OP}


def wrong_pin(body: dict) -> dict:
    return {**body, "pin": "0" * 16}


def one_card(body: dict) -> dict:
    return {**body, "serial_to": body["serial_from"]}


def more(field: str) -> Callable[[dict], dict]:
    return lambda body: {**body, field: body[field] + 1}


def another_reason(body: dict) -> dict:
    return {**body, "reason": "another reason"}


RECHARGE_ON_BEHALF = "/subscribers/{subscriber_id:int}/recharge"
CLOSE = "/subscribers/{subscriber_id:int}/close"
# fmt: off
OPERATIONS = [
    Operation("generate batch (page)", "/cards/batches", batch_of(3), more("count"), "cards.generate", 1,
              batches=1),
    Operation("generate batch (API)", "/api/v1/card-batches", batch_of(3), more("count"), "cards.generate", 1,
              batches=1),
    Operation("generate batch in the background (page)", "/cards/batches", batch_of(20_000), more("face_minutes"),
              "cards.generate", 1, batches=1, jobs=1),
    Operation("generate batch in the background (API)", "/api/v1/card-batches", batch_of(20_000),
              more("face_minutes"), "cards.generate", 1, batches=1, jobs=1),
    Operation("recharge (portal)", "/portal/recharge", a_card, wrong_pin, "cards.redeem", 1, "subscriber"),
    Operation("recharge (portal API)", "/api/v1/portal/recharge", a_card, wrong_pin, "cards.redeem", 1, "subscriber"),
    Operation("recharge on behalf (page)", RECHARGE_ON_BEHALF, a_card_and_a_subscriber, wrong_pin, "cards.redeem", 1),
    Operation("recharge on behalf (API)", "/api/v1" + RECHARGE_ON_BEHALF, a_card_and_a_subscriber, wrong_pin,
              "cards.redeem", 1),
    Operation("activate cards (page)", "/cards/activate", cards(), one_card, "cards.activate", 0),
    Operation("activate cards (API)", "/api/v1/cards/activate", cards(), one_card, "cards.activate", 0),
    Operation("open accounts with e-cards (page)", "/cards/activate", cards("e-card"), one_card, "cards.activate", 2),
    Operation("open accounts with e-cards (API)", "/api/v1/cards/activate", cards("e-card"), one_card,
              "cards.activate", 2),
    Operation("void cards (page)", "/cards/void", cards(activate=True, password=True), one_card, "cards.void", 1),
    Operation("void cards (API)", "/api/v1/cards/void", cards(activate=True, password=True), one_card, "cards.void",
              1),
    Operation("close an account (page)", CLOSE, an_account, another_reason, "subscriber.close", 1),
    Operation("close an account (API)", "/api/v1" + CLOSE, an_account, another_reason, "subscriber.close", 1),
]
# fmt: on
# The JSON routes this table covers, for the walk over every route that takes a key (test_idempotency.py).
ROUTES = {("POST", op.route) for op in OPERATIONS if op.route.startswith("/api/")}


async def send(client: httpx.AsyncClient, url: str, body: dict) -> httpx.Response:
    if url.startswith("/api/"):
        return await client.post(url, json=body, headers={"X-CSRF-Token": client.cookies[CSRF_COOKIE]})
    # confirm=1: the pages' confirmation step of activating, voiding and closing (test_confirmations.py)
    return await client.post(url, data={**body, "confirm": "1", "csrf_token": client.cookies[CSRF_COOKIE]})


def result_of(response: httpx.Response):
    """What a client learns from an answer: its status and its JSON, or where it redirects."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.status_code, response.json()
    return response.status_code, response.headers.get("location")


async def settle() -> None:
    """Wait for background batch jobs to end (each is one transaction)."""
    for _ in range(1200):
        if not await CardJob.exists().where(CardJob.status == "running"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("a card job is still running")


async def effects(action: str) -> tuple[int, int, int, int]:
    return (
        await AuditEntry.count().where(AuditEntry.action == action),
        await JournalTransaction.count(),
        await CardBatch.count(),
        await CardJob.count(),
    )


def test_every_row_names_a_route_of_the_app(app):
    from tests.web.routes import endpoints

    declared = {(e.method, e.path) for e in endpoints(app)}
    assert {("POST", op.route) for op in OPERATIONS} <= declared


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda o: o.name)
async def test_one_key_makes_one_effect_and_other_values_are_refused(app, client, settings, operation):
    world = await World(app, client, settings.card_key).start()
    try:
        session = await world.portal_session() if operation.session == "subscriber" else client
        ids, body = await operation.build(world)
        url, body = operation.url(ids), {**body, "idempotency_key": key()}
        audits, postings, batches, jobs = await effects(operation.effect)
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1", cookies=session.cookies
            )
            for _ in range(CONCURRENT)
        ]
        try:
            answers = await asyncio.gather(*(send(c, url, body) for c in clients))
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))
        await settle()
        results = [result_of(a) for a in answers]
        assert all(a.status_code < 400 for a in answers), [(a.status_code, a.text[:300]) for a in answers]
        assert len(set(map(repr, results))) == 1, results  # all 8 got the first result
        after = await effects(operation.effect)
        made = (after[0] - audits, after[1] - postings, after[2] - batches, after[3] - jobs)
        assert made == (1, operation.postings, operation.batches, operation.jobs), made
        if operation.jobs:
            assert await CardJob.count().where(CardJob.status == "done") == operation.jobs
        # The same key with other values: refused, nothing changed.
        before = await state()
        refused = await send(session, url, operation.other(body))
        assert refused.status_code == 409, (refused.status_code, refused.text[:300])
        assert await state() == before and await effects(operation.effect) == after
        # A retry with the same values still gets the first result.
        assert result_of(await send(session, url, body)) == results[0]
        assert await effects(operation.effect) == after
    finally:
        await world.close()
    await assert_ledger_ok()


async def test_the_export_with_secrets_is_a_post_with_the_operation_password_once(app, client, settings):
    await World(app, client, settings.card_key).start()
    made = await post_form(
        client,
        "/cards/batches",
        {
            "kind": "recharge",
            "count": "3",
            "face_minutes": "10",
            "expiry_rule": "none",
            "operation_password": OP,
            "idempotency_key": key(),
        },
    )
    assert made.status_code == 303
    batch_url = made.headers["location"]
    batch_id = int(batch_url.rsplit("/", 1)[1])
    hashes = {r["serial"]: r["secret_hash"] for r in await Card.select(Card.serial, Card.secret_hash)}

    def secrets_in(text: str) -> bool:
        return bool(re.search(r"\b\d{16}\b", text))

    page = (await client.get(batch_url)).text
    assert f'action="{batch_url}/export"' in page
    asked = (await post_form(client, f"{batch_url}/export", {"format": "csv"})).text
    assert 'name="operation_password"' in asked and 'name="confirm" value="1"' in asked and not secrets_in(asked)
    # GET exports carry serials only, and leave the secrets sealed.
    for file_format in ("csv", "xlsx", "pdf"):
        got = await client.get(f"{batch_url}/export?format={file_format}")
        assert got.status_code == 200
    listed = rows_of((await client.get(f"{batch_url}/export?format=csv")).text)
    assert len(listed) == 4 and all(len(row) == 4 for row in listed) and not secrets_in(str(listed))
    assert (await CardBatch.select(CardBatch.secrets_exported_at).first())["secrets_exported_at"] is None
    # The POST needs the operation password; refused, it changes nothing.
    before = await state()
    for password in ({}, {"operation_password": "000000"}):
        refused = await post_form(client, f"{batch_url}/export", {"format": "csv", "confirm": "1", **password})
        assert refused.status_code == 403 and not secrets_in(refused.text)
        wrong = await api(
            client,
            "POST",
            f"/api/v1/card-batches/{batch_id}/export",
            json={"format": "csv", "operation_password": password.get("operation_password", "")},
        )
        assert wrong.status_code in (400, 403) and not secrets_in(wrong.text)
    assert await state() == before
    # With it: the one file with the secrets, and they are the cards' secrets.
    first = await post_form(client, f"{batch_url}/export", {"format": "csv", "confirm": "1", "operation_password": OP})
    assert first.status_code == 200 and "attachment" in first.headers["content-disposition"]
    table = rows_of(first.text)
    assert len(table) == 4 and all(len(row) == 5 for row in table)
    assert {row[0] for row in table[1:]} == set(hashes)
    assert all(codes.secret_matches(settings.card_key, row[0], row[1], hashes[row[0]]) for row in table[1:])
    # A second POST, from the page or the API, gives no secrets.
    second = await post_form(client, f"{batch_url}/export", {"format": "csv", "confirm": "1", "operation_password": OP})
    assert second.status_code == 409 and not any(row[1] in second.text for row in table[1:])
    by_api = await api(
        client, "POST", f"/api/v1/card-batches/{batch_id}/export", json={"format": "csv", "operation_password": OP}
    )
    assert by_api.status_code == 409 and not any(row[1] in by_api.text for row in table[1:])
    later = await client.get(f"{batch_url}/export?format=csv")
    assert not any(row[1] in later.text for row in table[1:])
    # Audited once, with who took them.
    audited = await AuditEntry.select(AuditEntry.username, AuditEntry.target_id).where(
        AuditEntry.action == "cards.export_secrets"
    )
    assert audited == [{"username": "huaxin", "target_id": str(batch_id)}]
    # The batch page says who took them and when (seen here by the operator's admin).
    client.cookies.clear()
    await web_login(client, "admin")
    page = (await client.get(batch_url)).text
    taken = re.search(r'id="secrets-state"[^>]*>(.*?)</', page, re.S)
    assert taken and "huaxin" in taken.group(1), page
    exported_at = (await CardBatch.select(CardBatch.secrets_exported_at).first())["secrets_exported_at"]
    assert exported_at is not None
    detail = (await client.get(f"/api/v1/card-batches/{batch_id}")).json()
    assert detail["secrets_exported_by"] == "huaxin" and detail["secrets_exported_at"]
    # The API's own first export, for another batch.
    client.cookies.clear()
    await web_login(client, "huaxin")
    other = await api(
        client,
        "POST",
        "/api/v1/card-batches",
        json={"kind": "e-card", "count": 2, "face_minutes": 5, "operation_password": OP, "idempotency_key": key()},
    )
    assert other.status_code == 201
    sheet = await api(
        client,
        "POST",
        f"/api/v1/card-batches/{other.json()['id']}/export",
        json={"format": "csv", "operation_password": OP},
    )
    assert sheet.status_code == 200 and all(len(row) == 5 for row in rows_of(sheet.text))
    await assert_ledger_ok()
