"""The switch API's use cases on a real database (R-18, R-20 to R-22): authorize with its reasons
and reservations, rating call records, and both under concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid

import pytest

from accounts import services as subscribers
from accounts import switch
from accounts.tables import Call, CallReservation, DestinationRate, Subscriber
from agency.tables import Agent
from cards.services import activate_cards
from core.clock import now
from core.errors import Conflict, ValidationFailed
from money import ledger
from tests.helpers import demo_actors
from tests.integration.test_cards import live_subscriber, make_batch, stocked_owner
from tests.money import assert_ledger_ok
from web.demo import DEMO_OPERATION_PASSWORD as OP


async def new_subscriber(minutes: int):
    """huaxin's owner and a live subscriber with `minutes` of airtime (an activated e-card)."""
    owner = await stocked_owner(await demo_actors(), minutes=1000)
    row, _card = await live_subscriber(owner, minutes)
    return owner, row


def ask(account: str, destination: str = "8613800138000", call_id: str | None = None) -> dict:
    return {"account": account, "destination": destination, "call_id": call_id or uuid.uuid4().hex}


def record(
    call_id: str,
    account: str,
    seconds: int,
    destination: str = "8613800138000",
    answered: bool = True,
    end: dt.datetime | None = None,
):
    """A call record ending `end` (by default 5 s ago); pass the same `end` to repeat a record exactly."""
    end = end or now().replace(microsecond=0) - dt.timedelta(seconds=5)
    answer = end - dt.timedelta(seconds=seconds)
    return {
        "call_id": call_id,
        "account": account,
        "destination": destination,
        "start": (answer - dt.timedelta(seconds=7)).isoformat(),
        "answer": answer.isoformat() if answered else None,
        "end": end.isoformat(),
    }


async def balance(subscriber_id: int) -> int:
    return await ledger.subscriber_balance(subscriber_id)


@pytest.fixture
def batches_of_many_processes(monkeypatch):
    """Batches meet in the database as those of several server processes do: without this
    process's turn (switch._rating_turn), which keeps one process's batches apart."""
    monkeypatch.setattr(switch, "_rating_turn", contextlib.nullcontext)


async def test_authorize_reserves_what_it_grants_and_the_record_charges_it(db):
    _owner, sub = await new_subscriber(10)
    number = sub["account_number"]
    await Subscriber.update({Subscriber.call_cap: 2}).where(Subscriber.id == sub["id"])  # two calls at once
    first = await switch.authorize(ask(number, call_id="call-1"))
    assert first == {"call_id": "call-1", "allow": True, "max_seconds": 600, "reason": ""}
    assert await switch.authorize(ask(number, call_id="call-1")) == first  # a retry reserves nothing more
    second = await switch.authorize(ask(number))
    assert not second["allow"] and second["reason"] == switch.NO_BALANCE  # all 10 minutes are held
    [result] = await switch.rate_calls([record("call-1", number, 125)])
    assert result == {"call_id": "call-1", "status": "rated", "charged": 180, "billed_seconds": 180}
    assert await balance(sub["id"]) == 600 - 180
    assert await CallReservation.count().where(CallReservation.call_id == "call-1") == 0  # released
    third = await switch.authorize(ask(number))
    assert third["allow"] and third["max_seconds"] == 420
    await assert_ledger_ok()


async def test_reasons_for_refusing_a_call(db):
    owner, sub = await new_subscriber(5)
    number = sub["account_number"]
    assert (await switch.authorize(ask("86999")))["reason"] == switch.UNKNOWN
    await subscribers.suspend_subscriber(owner, sub["id"], "asked")
    assert (await switch.authorize(ask(number)))["reason"] == switch.SUSPENDED
    await subscribers.resume_subscriber(owner, sub["id"], "back")
    await Subscriber.update({Subscriber.expires_at: now() - dt.timedelta(minutes=1)}).where(Subscriber.id == sub["id"])
    assert (await switch.authorize(ask(number)))["reason"] == switch.EXPIRED
    await Subscriber.update({Subscriber.expires_at: None}).where(Subscriber.id == sub["id"])
    local = now().astimezone(dt.timezone(dt.timedelta(hours=8)))  # the demo agents are in Asia/Shanghai
    closed_hours = f"{(local + dt.timedelta(hours=1)):%H:00}-{(local + dt.timedelta(hours=2)):%H:00}"
    await Agent.update({Agent.calling_hours: closed_hours}).where(Agent.id == sub["agent"])
    assert (await switch.authorize(ask(number)))["reason"] == switch.OUTSIDE_HOURS
    open_hours = f"{local:%H:00}-{(local + dt.timedelta(hours=2)):%H:00}"
    await Agent.update({Agent.calling_hours: open_hours}).where(Agent.id == sub["agent"])
    assert (await switch.authorize(ask(number, call_id="in-hours")))["allow"]
    await switch.rate_calls([record("in-hours", number, 10)])  # the call ends
    await Agent.update({Agent.calling_hours: ""}).where(Agent.id == sub["agent"])
    await subscribers.close_subscriber(owner, sub["id"], "cannot", operation_password=OP)
    refused = await switch.authorize(ask(number))
    assert refused == {"call_id": refused["call_id"], "allow": False, "max_seconds": 0, "reason": switch.CLOSED}
    for bad in (
        {"account": "x"},
        {"account": "８６" + number[2:]},  # full-width digits
        {"destination": "86-138"},
        {"call_id": ""},
        {"call_id": "a b"},
        {"account": 7},
    ):
        with pytest.raises(ValidationFailed):
            await switch.authorize({**ask(number), **bad})
    await assert_ledger_ok()


async def test_rating_rules(db):
    _owner, sub = await new_subscriber(300)
    number = sub["account_number"]
    await DestinationRate.insert(DestinationRate(prefix="44", multiplier=150, first_block=6, increment=6))
    ended = now().replace(microsecond=0) - dt.timedelta(seconds=5)
    results = await switch.rate_calls(
        [
            record("short", number, 2),  # under 3 s: free
            record("unanswered", number, 40, answered=False),
            record("minute", number, 61, end=ended),  # 60 + 60
            record("uk", number, 61, destination="447700900123"),  # 66 s billed x 1.5 = 99
            record("long", number, 3601),  # flagged for review
            {"call_id": "broken", "account": number},
        ]
    )
    assert [(r["status"], r.get("charged")) for r in results] == [
        ("rated", 0),
        ("rated", 0),
        ("rated", 120),
        ("rated", 99),
        ("rated", 3660),
        ("invalid", None),
    ]
    assert await balance(sub["id"]) == 300 * 60 - 120 - 99 - 3660
    flagged = {row["call_id"] for row in await Call.select(Call.call_id).where(Call.flagged == True)}  # noqa: E712
    assert flagged == {"long"}
    again = await switch.rate_calls([record("minute", number, 61, end=ended), record("minute", number, 62, end=ended)])
    assert [r["status"] for r in again] == ["duplicate", "conflict"]
    assert await balance(sub["id"]) == 300 * 60 - 120 - 99 - 3660  # nothing charged twice
    with pytest.raises(ValidationFailed):
        await switch.rate_calls([])
    await assert_ledger_ok()


async def test_a_record_beyond_the_balance_takes_what_is_left_and_is_flagged(db):
    _owner, sub = await new_subscriber(1)
    [result] = await switch.rate_calls([record("over", sub["account_number"], 300)])  # no authorize
    assert result["charged"] == 60 and await balance(sub["id"]) == 0
    row = await Call.select().where(Call.call_id == "over").first()
    assert row["uncollected"] == 300 - 60 and row["flagged"]
    await assert_ledger_ok()


async def test_concurrent_authorizations_never_hold_more_than_the_balance(db):
    _owner, sub = await new_subscriber(10)
    number = sub["account_number"]
    answers = await asyncio.gather(*(switch.authorize(ask(number, call_id=f"c{i}")) for i in range(30)))
    granted = [a for a in answers if a["allow"]]
    assert len(granted) == 1 and granted[0]["max_seconds"] == 600  # the first takes all ten minutes
    await switch.rate_calls([record(granted[0]["call_id"], number, 61)])
    answers = await asyncio.gather(*(switch.authorize(ask(number, call_id=f"d{i}")) for i in range(30)))
    assert [a["max_seconds"] for a in answers if a["allow"]] == [480]
    held = await CallReservation.select()
    assert sum(r["reserved"] for r in held) <= await balance(sub["id"])
    await assert_ledger_ok()


async def test_a_record_sent_many_times_at_once_is_charged_once(db, batches_of_many_processes):
    _owner, sub = await new_subscriber(10)
    number = sub["account_number"]
    await switch.authorize(ask(number, call_id="dup"))
    dup = record("dup", number, 90)
    batches = await asyncio.gather(*(switch.rate_calls([dup]) for _ in range(8)))
    statuses = sorted(batch[0]["status"] for batch in batches)
    assert statuses == ["duplicate"] * 7 + ["rated"]
    assert await balance(sub["id"]) == 600 - 120
    assert await Call.count() == 1
    await assert_ledger_ok()


async def test_closing_is_refused_while_a_call_is_in_progress(db):
    owner, sub = await new_subscriber(10)
    number = sub["account_number"]
    await switch.authorize(ask(number, call_id="live"))
    with pytest.raises(Conflict):
        await subscribers.close_subscriber(owner, sub["id"], "now", operation_password=OP)
    assert (await Subscriber.select().where(Subscriber.id == sub["id"]).first())["status"] == "active"
    await switch.rate_calls([record("live", number, 30)])
    closed = await subscribers.close_subscriber(owner, sub["id"], "now", operation_password=OP)
    assert closed["status"] == "closed" and closed["balance_seconds"] == 0
    await assert_ledger_ok()


async def test_close_and_authorize_racing_never_leave_a_call_on_a_closed_account(db):
    actors = await demo_actors()
    owner = await stocked_owner(actors, minutes=1000)
    _batch, pairs = await make_batch(owner, kind="e-card", count=10, face=10)
    await activate_cards(owner, pairs[0][0], pairs[-1][0])
    rows = await Subscriber.select(Subscriber.id, Subscriber.account_number)

    async def close(subscriber_id: int):
        try:
            await subscribers.close_subscriber(owner, subscriber_id, "race", operation_password=OP)
        except Conflict:
            pass

    await asyncio.gather(*(close(r["id"]) for r in rows), *(switch.authorize(ask(r["account_number"])) for r in rows))
    for row in await Subscriber.select(Subscriber.id, Subscriber.status):
        open_calls = await CallReservation.count().where(CallReservation.subscriber == row["id"])
        assert not (row["status"] == "closed" and open_calls), "a closed account holds a call"
    await assert_ledger_ok()


async def test_batches_of_many_accounts_at_once_do_not_deadlock(db, batches_of_many_processes):
    owner = await stocked_owner(await demo_actors(), minutes=1000)
    _batch, pairs = await make_batch(owner, kind="e-card", count=8, face=60)
    await activate_cards(owner, pairs[0][0], pairs[-1][0])
    numbers = [serial for serial, _secret in pairs]
    # half the batches in one account order, half in the other
    batches = [
        [record(f"b{b}-{n}", number, 30) for n, number in enumerate(numbers[:: 1 if b % 2 else -1])] for b in range(8)
    ]
    results = await asyncio.gather(*(switch.rate_calls(batch) for batch in batches))
    assert all(r["status"] == "rated" for batch in results for r in batch)
    assert [r["call_id"] for r in results[0]] == [r["call_id"] for r in batches[0]]  # answers in the batch's order
    await assert_ledger_ok()


async def test_a_process_rates_one_batch_at_a_time_and_authorize_does_not_queue_behind(db, monkeypatch):
    owner = await stocked_owner(await demo_actors(), minutes=1000)
    _batch, pairs = await make_batch(owner, kind="e-card", count=9, face=60)
    await activate_cards(owner, pairs[0][0], pairs[-1][0])
    numbers = [serial for serial, _secret in pairs]
    arrived, rating, most, finished = 0, 0, 0, []
    all_arrived, first_batch_in = asyncio.Event(), asyncio.Event()
    real_turn, real_state, real_write = switch._rating_turn, switch._batch_state, switch._Batch.write

    def counted_turn():
        nonlocal arrived
        arrived += 1
        if arrived == 8:
            all_arrived.set()
        return real_turn()

    async def counted_state(records):
        nonlocal rating, most
        rating += 1
        most = max(most, rating)
        first_batch_in.set()
        await asyncio.sleep(0.05)  # a batch that takes a while: long enough for the authorize to come
        return await real_state(records)

    async def counted_write(batch):
        nonlocal rating
        try:
            await real_write(batch)
        finally:
            rating -= 1

    monkeypatch.setattr(switch, "_rating_turn", counted_turn)
    monkeypatch.setattr(switch, "_batch_state", counted_state)
    monkeypatch.setattr(switch._Batch, "write", counted_write)

    async def done(name: str, work):
        result = await work
        finished.append(name)
        return result

    async def call_setup():
        await all_arrived.wait()
        await first_batch_in.wait()
        return await switch.authorize(ask(numbers[8]))

    # Eight batches of other accounts arrive; while the first is rated, a call's authorize.
    results = await asyncio.gather(
        *(done(f"batch {n}", switch.rate_calls([record(f"q{n}", number, 30)])) for n, number in enumerate(numbers[:8])),
        done("authorize", call_setup()),
    )
    assert most == 1  # PostgreSQL would take them all at once, each holding a connection
    assert results[-1]["allow"] and all(batch[0]["status"] == "rated" for batch in results[:-1])
    # On SQLite the authorize would wait in the writers' queue behind all eight, and commit with them.
    assert finished.index("authorize") <= 1
    await assert_ledger_ok()


async def test_a_reservation_whose_record_never_came_times_out(db):
    owner, sub = await new_subscriber(10)
    number = sub["account_number"]
    await switch.authorize(ask(number, call_id="lost"))
    assert not (await switch.authorize(ask(number)))["allow"]  # all ten minutes held
    assert await switch.purge_expired_reservations() == 0  # still within its time
    await CallReservation.update({CallReservation.expires_at: now() - dt.timedelta(seconds=1)}).where(
        CallReservation.call_id == "lost"
    )
    assert (await switch.authorize(ask(number, call_id="next")))["max_seconds"] == 600  # timed out: not held
    await switch.rate_calls([record("next", number, 10)])
    assert await switch.purge_expired_reservations() == 1
    closed = await subscribers.close_subscriber(owner, sub["id"], "done", operation_password=OP)
    assert closed["status"] == "closed"
    await assert_ledger_ok()


async def test_a_key_revoked_by_another_process_stops_working_within_its_memory(db, monkeypatch):
    actors = await demo_actors()
    row, key = await switch.create_key(actors["admin"], "edge switch")
    assert await switch.key_for_token(key) == row["id"]
    # Another worker revokes it: this process remembers the key for at most KEY_MEMORY.
    await Call.raw("UPDATE switch_key SET revoked_at = {} WHERE id = {}", now(), row["id"])
    assert await switch.key_for_token(key) == row["id"]
    later = switch.time.monotonic() + switch.KEY_MEMORY
    monkeypatch.setattr(switch.time, "monotonic", lambda: later)
    assert await switch.key_for_token(key) is None
    # Revoked in this process: forgotten at once.
    row, key = await switch.create_key(actors["admin"], "core switch")
    assert await switch.key_for_token(key) == row["id"]
    await switch.revoke_key(actors["admin"], row["id"])
    assert await switch.key_for_token(key) is None


async def index_columns(table: str) -> set[str]:
    """The columns of each index of `table`, comma-separated, in index order."""
    import sqlite3

    import piccolo_conf
    from core import sql

    if sql.engine_type() == "postgres":
        rows = await sql.fetch(
            "SELECT array_to_string(array_agg(a.attname ORDER BY k.n), ',') AS columns "
            "FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid "
            "CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n) "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
            "WHERE t.relname = {} GROUP BY x.indexrelid",
            table,
        )
        return {row["columns"] for row in rows}
    with sqlite3.connect(piccolo_conf.DB.connection_kwargs["database"]) as connection:
        indexes = [row[1] for row in connection.execute(f"PRAGMA index_list('{table}')")]
        return {",".join(row[2] for row in connection.execute(f"PRAGMA index_info('{name}')")) for name in indexes}


async def test_lookups_by_subscriber_have_only_the_indexes_with_time(db):
    """A subscriber's calls of the last hour and its open reservations are read on every authorize.
    With an index of the subscriber alone beside the (subscriber, time) ones, PostgreSQL read them
    through it, i.e. the subscriber's whole history (migration 2026-12-03T00:31:56)."""
    from core import sql

    calls, reservations = await index_columns("call"), await index_columns("call_reservation")
    assert "subscriber" not in calls and "subscriber,started_at" in calls
    assert "subscriber" not in reservations and "subscriber,expires_at" in reservations
    if sql.engine_type() == "postgres":  # and it keeps its pages when VACUUM empties them
        options = await sql.fetch_one("SELECT reloptions FROM pg_class WHERE relname = 'call_reservation'")
        assert "vacuum_truncate=false" in (options["reloptions"] or [])
