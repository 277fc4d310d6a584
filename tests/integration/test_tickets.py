"""The first-response clock (R-24) on a real database: what stops it, what does not, pauses,
final breaches, calendar edits; and who sees which ticket and message (R-1, R-23)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from accounts.tables import Subscriber
from core.clock import now
from core.db import transaction
from core.errors import Forbidden, NotFound
from stats import daily
from support import tickets
from support.calendars import builtin_calendar
from support.tables import SlaPolicy, SupportCalendar, Ticket
from tests.helpers import demo_actors

SH = ZoneInfo("Asia/Shanghai")
MONDAY_10 = dt.datetime(2026, 11, 16, 10, 0, tzinfo=SH)  # an ordinary working Monday


def at(day_offset: int, hour: int, minute: int = 0) -> dt.datetime:
    return (MONDAY_10 + dt.timedelta(days=day_offset)).replace(hour=hour, minute=minute)


async def subscriber_of(agent_id: int) -> int:
    """An account without a card behind it (tickets need no airtime), counted as opened like any."""
    number = f"9{agent_id:04d}{await Subscriber.count():08d}"
    async with transaction():
        opened = now()
        rows = await Subscriber.insert(
            Subscriber(account_number=number, agent=agent_id, status="active", created_at=opened)
        ).returning(Subscriber.id)
        daily.count(agent_id, opened, opened_accounts=1)
    return rows[0]["id"]


async def new_ticket(actors, **extra):
    sid = await subscriber_of(actors["huaxin"].agent_id)
    data = {"subject": "无法拨打", "body": "Calls fail since this morning", **extra}
    return await tickets.open_ticket(data, subscriber_id=sid, reported_at=MONDAY_10), sid


def state(ticket, when):
    return tickets.clock_states(ticket, when)["first_response"]


async def test_due_in_four_working_hours_and_at_risk_at_75_percent(db):
    ticket, _sid = await new_ticket(await demo_actors())
    assert ticket["first_response_due_at"] == at(0, 14)
    assert ticket["first_response_warn_at"] == at(0, 13)
    assert state(ticket, at(0, 12, 59)) == "on_track"
    assert state(ticket, at(0, 13)) == "at_risk"
    assert state(ticket, at(0, 14)) == "at_risk"  # due exactly now is not yet late
    assert state(ticket, at(0, 14, 1)) == "breached"
    # Friday 16:00 + 4 working hours = Monday 11:00.
    friday = await tickets.open_ticket({"subject": "x", "body": "y"}, subscriber_id=_sid, reported_at=at(-3, 16))
    assert friday["first_response_due_at"] == at(0, 11)


async def test_notes_acknowledgements_and_subscriber_replies_do_not_stop_it(db):
    actors = await demo_actors()
    ticket, sid = await new_ticket(actors)
    support = actors["pearl.support"]  # another agent's support user may not even see it
    with pytest.raises(NotFound):
        await tickets.add_staff_message(support, ticket["id"], "hi", public=True)
    ticket = await tickets.add_staff_message(
        actors["support"], ticket["id"], "checking logs", public=False, at=at(0, 11)
    )
    ticket = await tickets.add_subscriber_message(sid, ticket["id"], "still broken", at=at(0, 12))
    ticket = await tickets.set_status(actors["huaxin"], ticket["id"], "pending", at=at(0, 12, 30))
    assert ticket["first_responded_at"] is None
    assert state(ticket, at(0, 15)) == "breached"


async def test_public_staff_reply_stops_it_and_a_breach_is_final(db):
    actors = await demo_actors()
    met, _ = await new_ticket(actors)
    met = await tickets.add_staff_message(actors["huaxin"], met["id"], "We are on it.", public=True, at=at(0, 11))
    assert state(met, at(2, 9)) == "met"
    late, _ = await new_ticket(actors)
    late = await tickets.add_staff_message(actors["support"], late["id"], "Sorry.", public=True, at=at(0, 15))
    assert state(late, at(0, 16)) == "breached"
    with pytest.raises(Forbidden):  # a viewer may not answer
        await tickets.add_staff_message(actors["huaxin.view"], met["id"], "x", public=True)


async def test_pending_customer_pauses_only_the_resolution_clock(db):
    actors = await demo_actors()
    await SlaPolicy.insert(
        SlaPolicy(priority="high", first_response_seconds=3600, resolution_seconds=8 * 3600, at_risk_percent=75)
    )
    ticket, sid = await new_ticket(actors, priority="high")
    assert ticket["first_response_due_at"] == at(0, 11)
    assert ticket["resolution_due_at"] == at(0, 18)  # 10:00-18:00 is 8 hours; due may be at closing
    ticket = await tickets.set_status(actors["huaxin"], ticket["id"], "pending", at=at(0, 10, 30))
    assert tickets.clock_states(ticket, at(0, 17))["resolution"] == "paused"
    assert state(ticket, at(0, 11, 1)) == "breached"  # the first-response clock did not pause
    ticket = await tickets.add_subscriber_message(sid, ticket["id"], "here are the details", at=at(1, 10, 30))
    assert ticket["status"] == "open"
    # Paused from Monday 10:30 to Tuesday 10:30: 7.5 + 1.5 = 9 working hours added to Monday 18:00.
    assert ticket["resolution_due_at"] == at(1, 18)


async def test_calendar_edit_moves_open_clocks_only(db):
    actors = await demo_actors()
    sid = await subscriber_of(actors["huaxin"].agent_id)
    reported = now().astimezone(SH)
    open_one = await tickets.open_ticket({"subject": "open", "body": "b"}, subscriber_id=sid, reported_at=reported)
    met = await tickets.open_ticket({"subject": "met", "body": "b"}, subscriber_id=sid, reported_at=reported)
    met = await tickets.add_staff_message(actors["support"], met["id"], "done", public=True, at=reported)
    breached, _ = await new_ticket(actors)  # reported on 2026-11-16, long overdue
    await SupportCalendar.insert(
        SupportCalendar(
            name="default",
            tz="Asia/Shanghai",
            weekly={str(d): [["00:00", "24:00"]] for d in range(7)},
            updated_at=now(),
        )
    )
    assert await tickets.retarget_open_clocks() == 1
    moved = await tickets.get_ticket(actors["admin"], open_one["id"])
    assert moved["first_response_due_at"] == reported.replace(microsecond=0) + dt.timedelta(hours=4)
    assert (await tickets.get_ticket(actors["admin"], met["id"]))["first_response_due_at"] == met[
        "first_response_due_at"
    ]
    assert (await tickets.get_ticket(actors["admin"], breached["id"]))["first_response_due_at"] == breached[
        "first_response_due_at"
    ]


async def test_visibility_of_tickets_and_internal_notes(db):
    actors = await demo_actors()
    ticket, _sid = await new_ticket(actors)
    await tickets.add_staff_message(actors["huaxin"], ticket["id"], "internal: check the trunk", public=False)
    await tickets.add_staff_message(actors["huaxin"], ticket["id"], "We are checking.", public=True)
    with pytest.raises(NotFound):
        await tickets.get_ticket(actors["pearl"], ticket["id"])
    with pytest.raises(NotFound):  # a sub-agent does not see its parent's tickets
        await tickets.get_ticket(actors["huaxin.pudong"], ticket["id"])
    public = await tickets.messages(ticket["id"], include_internal=False)
    assert all(m["public"] for m in public) and not any("internal" in m["body"] for m in public)
    assert len(await tickets.messages(ticket["id"], include_internal=True)) == len(public) + 1
    escalated = await tickets.escalate(actors["huaxin"], ticket["id"])
    assert escalated["queue"] == "operator"


def test_builtin_calendar_knows_national_day_2025():
    from support.business_time import business_time_between

    cal = builtin_calendar(range(2025, 2026))
    start = dt.datetime(2025, 9, 30, 17, 0, tzinfo=SH)
    # 1 hour on Sep 30, then nothing until Oct 9 (Oct 1-8 off; Oct 11 is a make-up Saturday).
    assert business_time_between(cal, start, dt.datetime(2025, 10, 9, 10, 0, tzinfo=SH)) == 2 * 3600


async def test_report_compliance_response_times_and_breaches(db):
    from support.reports import sla_report

    actors = await demo_actors()
    fast, _ = await new_ticket(actors)
    await tickets.add_staff_message(actors["huaxin"], fast["id"], "on it", public=True, at=at(0, 11))  # 1 h
    slow, _ = await new_ticket(actors)
    await tickets.add_staff_message(actors["support"], slow["id"], "sorry", public=True, at=at(0, 16))  # 6 h
    never, _ = await new_ticket(actors)  # unanswered, long past due
    report = await sla_report(actors["admin"], since=at(0, 0), until=at(7, 0), dimension="staff")
    assert report["tickets"] == 3 and report["compliance_percent"] == 33.3
    by_staff = {g["key"]: g for g in report["groups"]}
    assert by_staff["huaxin"]["met"] == 1  # staff by name (the demo's display names are the user names)
    assert by_staff["support"]["breached"] == 1
    assert by_staff["—"]["breached"] == 1
    weekly = await sla_report(actors["admin"], since=at(0, 0), until=at(7, 0), dimension="week")
    week = weekly["groups"][0]
    assert week["median_first_response_seconds"] == 3 * 3600 + 1800  # of 1 h and 6 h, in working time
    assert week["p90_first_response_seconds"] == 6 * 3600
    breached = {b["id"]: b["breached_by_seconds"] for b in report["breaches"]}
    assert breached[slow["id"]] == 2 * 3600  # due 14:00, answered 16:00
    assert never["id"] in breached
    sibling = await sla_report(actors["pearl"], since=at(0, 0), until=at(7, 0))
    assert sibling["tickets"] == 0


async def test_take_next_assigns_the_most_urgent(db):
    actors = await demo_actors()
    later, sid = await new_ticket(actors)
    sooner = await tickets.open_ticket({"subject": "sooner", "body": "b"}, subscriber_id=sid,
                                       reported_at=at(-1, 10))
    taken = await tickets.take_next(actors["huaxin.clerk"])
    assert taken["id"] == sooner["id"] and taken["assignee"] == actors["huaxin.clerk"].user_id
    assert (await tickets.take_next(actors["huaxin.clerk"]))["id"] == later["id"]
    assert await tickets.take_next(actors["huaxin.clerk"]) is None
    with pytest.raises(Forbidden):
        await tickets.take_next(actors["huaxin.view"])


async def test_queue_filters_and_order(db):
    from support.queues import list_queue

    actors = await demo_actors()
    later, sid = await new_ticket(actors)
    sooner = await tickets.open_ticket({"subject": "sooner", "body": "b"}, subscriber_id=sid, reported_at=at(-1, 10))
    rows, total = await list_queue(actors["support"])
    assert total == 2 and [r["id"] for r in rows] == [sooner["id"], later["id"]]
    assert all(r["state"] == "breached" and r["seconds_left"] < 0 for r in rows)
    await tickets.take_next(actors["huaxin.clerk"])
    mine, _ = await list_queue(actors["huaxin.clerk"], assignee="me")
    assert [r["id"] for r in mine] == [sooner["id"]]
    nobody, _ = await list_queue(actors["huaxin.clerk"], assignee="none")
    assert [r["id"] for r in nobody] == [later["id"]]
    assert (await list_queue(actors["admin"], agent_id=actors["pearl"].agent_id))[1] == 0
    assert (await list_queue(actors["pearl"]))[1] == 0


async def test_policies_per_priority(db):
    actors = await demo_actors()
    assert {p["priority"]: p["first_response_seconds"] for p in await tickets.list_policies()}["urgent"] == 4 * 3600
    await tickets.save_policy(actors["admin"], "urgent", 60, 240, 50)
    with pytest.raises(Forbidden):  # operator admins and support set targets; agents do not
        await tickets.save_policy(actors["huaxin"], "urgent", 30, None, 50)
    from core.errors import ValidationFailed

    for bad in (("urgent", 0, None, 50), ("urgent", 60, None, 100), ("vip", 60, None, 50), ("urgent", "x", None, 5)):
        with pytest.raises(ValidationFailed):
            await tickets.save_policy(actors["admin"], *bad)
    ticket, _ = await new_ticket(actors, priority="urgent")
    assert ticket["first_response_due_at"] == at(0, 11) and ticket["first_response_warn_at"] == at(0, 10, 30)
    assert ticket["resolution_due_at"] == at(0, 14)


async def test_forwarding_and_resolution_clocks_and_their_final_breaches(db):
    """A complaint made to the provider starts in its queue with a 12-hour wall-clock forwarding
    target; forwarding it late is a breach that no later move undoes; the resolution clock (48
    wall-clock hours) likewise; the report counts both."""
    from support.reports import sla_report

    actors = await demo_actors()
    sid = await subscriber_of(actors["huaxin"].agent_id)
    complaint = await tickets.open_ticket(
        {"subject": "投诉", "body": "nobody answers"}, subscriber_id=sid, actor=actors["support"], reported_at=MONDAY_10
    )
    assert complaint["queue"] == "operator" and complaint["forward_due_at"] == at(0, 22)
    assert complaint["forward_warn_at"] == at(0, 19) and complaint["resolution_due_at"] == at(2, 10)
    assert tickets.clock_states(complaint, at(0, 19))["forward"] == "at_risk"
    assert complaint["next_due_at"] == complaint["first_response_due_at"]  # the most urgent clock
    with pytest.raises(Forbidden):  # an agent's staff cannot forward
        await tickets.forward(actors["huaxin"], complaint["id"], at=at(0, 12))
    forwarded = await tickets.forward(actors["support"], complaint["id"], at=at(0, 23))
    assert forwarded["queue"] == "agent" and forwarded["forward_late_by"] == 3600
    assert tickets.clock_states(forwarded, at(0, 23))["forward"] == "breached"
    from core.errors import Conflict

    with pytest.raises(Conflict):  # already with the agent
        await tickets.forward(actors["support"], complaint["id"], at=at(0, 23))
    escalated = await tickets.escalate(actors["huaxin"], complaint["id"])
    again = await tickets.forward(actors["support"], escalated["id"], at=at(1, 9))
    assert again["forward_late_by"] == 3600 and again["forwarded_at"] == at(0, 23)  # the first forward stands
    assert (await tickets.take_next(actors["huaxin.clerk"]))["id"] == complaint["id"]  # the agent's to answer

    # resolved 2 hours late, reopened, resolved again: the breach stays
    late = await tickets.set_status(actors["huaxin"], complaint["id"], "resolved", at=at(2, 12))
    assert late["resolution_late_by"] == 2 * 3600 and late["resolution_outcome"] == "breached"
    assert late["next_due_at"] is None  # out of the open queue
    reopened = await tickets.set_status(actors["huaxin"], complaint["id"], "open", at=at(2, 13))
    assert reopened["resolution_outcome"] == "breached" and reopened["next_due_at"] is not None
    assert tickets.clock_states(reopened, at(2, 13))["resolution"] == "breached"

    # an agent-queue ticket: no forwarding clock; resolved in time
    ticket, _ = await new_ticket(actors)
    assert ticket["forward_due_at"] is None and ticket["forward_outcome"] is None
    done = await tickets.set_status(actors["huaxin"], ticket["id"], "resolved", at=at(1, 10))
    assert done["resolution_outcome"] == "met" and done["resolution_seconds"] == 24 * 3600

    report = await sla_report(actors["admin"], since=at(0, 0), until=at(7, 0), dimension="queue")
    assert report["forward_compliance_percent"] == 0.0 and report["resolution_compliance_percent"] == 50.0


async def test_a_big_subtree_queue_is_read_along_the_due_times(db):
    """Over COUNT_CAP open tickets in an agent's subtree: the page is still the most urgent 50 of
    that subtree only (SQLite reads it another way then), and the count says "more"."""
    import random

    from agency.tables import Agent
    from core.db import bulk_insert
    from support.queues import COUNT_CAP, list_queue

    actors = await demo_actors()
    agents = {row["id"]: row["path"] for row in await Agent.select(Agent.id, Agent.path)}
    pearl_path = agents[actors["pearl"].agent_id]
    rng = random.Random(14)
    rows = []
    for agent_id, count in ((actors["pearl"].agent_id, COUNT_CAP + 60), (actors["huaxin"].agent_id, 300)):
        for _ in range(count):
            due = MONDAY_10 + dt.timedelta(minutes=rng.randint(0, 60 * 24 * 30))
            rows.append((agent_id, "x", "open", MONDAY_10, due, due, due))
    columns = ("agent", "subject", "status", "reported_at", "first_response_due_at", "first_response_warn_at")
    async with transaction():
        await bulk_insert("ticket", (*columns, "next_due_at"), rows)
    page, total = await list_queue(actors["pearl.support"])
    assert total == COUNT_CAP + 1
    expected = (
        await Ticket.select(Ticket.id)
        .where(Ticket.agent.is_in([a for a, path in agents.items() if path.startswith(pearl_path)]))
        .order_by(Ticket.next_due_at)
        .order_by(Ticket.id)
        .limit(50)
    )
    dues = [row["next_due_at"] for row in page]
    assert dues == sorted(dues) and len(page) == 50
    assert {row["agent"] for row in page} == {actors["pearl"].agent_id}
    assert sorted(row["id"] for row in page) == sorted(row["id"] for row in expected) or len(set(dues)) < 50
    small, small_total = await list_queue(actors["huaxin"])
    assert small_total == 300 and {row["agent"] for row in small} <= {
        a for a, path in agents.items() if path.startswith(agents[actors["huaxin"].agent_id])
    }


async def test_the_dashboard_counts_the_tickets_whose_first_response_is_at_risk(db):
    """urgent_count: open tickets not yet answered whose first response's warning time has come,
    within the actor's reach; answered, not yet at risk and closed tickets do not count."""
    from core.db import bulk_insert
    from support.queues import urgent_count

    actors = await demo_actors()
    past, future = now() - dt.timedelta(hours=1), now() + dt.timedelta(hours=1)
    pearl, huaxin = actors["pearl"].agent_id, actors["huaxin"].agent_id
    rows = [
        # agent, warning time, answered at, next due (None: closed)
        (pearl, past, None, future),  # at risk
        (pearl, past - dt.timedelta(days=1), None, past),  # overdue
        (pearl, past, past, future),  # answered: the first response's clock has stopped
        (pearl, future, None, future),  # not yet at risk
        (pearl, past, None, None),  # closed
        (huaxin, past, None, future),  # at risk, outside pearl's subtree
    ]
    columns = ("agent", "subject", "status", "reported_at", "first_response_due_at", "first_response_warn_at")
    async with transaction():
        await bulk_insert(
            "ticket",
            (*columns, "first_responded_at", "next_due_at"),
            [(agent, "x", "open", MONDAY_10, warn, warn, answered, due) for agent, warn, answered, due in rows],
        )
    assert await urgent_count(actors["pearl.support"]) == 2
    assert await urgent_count(actors["support"]) == 3
