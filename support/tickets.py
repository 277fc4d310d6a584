"""Tickets and their SLA clocks (R-23, R-24). Due times are stored when a ticket is opened (and
moved only for open clocks when the calendar changes); states are derived from them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from accounts.tables import Subscriber
from agency import audit
from agency.agents import valid_id, within_actor_scope
from agency.roles import Actor
from agency.tree import in_subtree
from core import sql, stored_text
from core.clock import now
from core.db import transaction
from core.errors import N_, Conflict, Forbidden, NotFound
from core.uploads import checked_upload
from core.validation import Checker
from support import sla
from support.business_time import BusinessCalendar
from support.calendars import current_calendar
from support.tables import QueueTarget, SlaPolicy, Ticket, TicketAttachment, TicketMessage

PRIORITIES = ("low", "normal", "high", "urgent")
CATEGORIES = ("calls", "balance", "recharge", "account", "other")
STATUSES = ("open", "pending", "resolved", "closed")
# Who answers for a ticket: operator support and admins anywhere; the owning agent's staff.
RESPONDERS = {"operator": ("admin", "support"), "agent": ("owner", "clerk", "support")}
QUEUES = ("operator", "agent")
OPEN = ("open", "pending")
# Per clock: its due time, the time it stopped, and by how much it was late (stored when it stopped).
CLOCK_COLUMNS = {
    "first_response": ("first_response_due_at", "first_responded_at", "first_response_late_by"),
    "forward": ("forward_due_at", "forwarded_at", "forward_late_by"),
    "resolution": ("resolution_due_at", "resolved_at", "resolution_late_by"),
}


async def policy_for(priority: str) -> sla.Policy:
    row = await SlaPolicy.select().where(SlaPolicy.priority == priority).first()
    if row is None:
        return sla.Policy()
    return sla.Policy(row["first_response_seconds"], row["resolution_seconds"], row["at_risk_percent"])


async def queue_targets(queue: str) -> sla.QueueTargets:
    row = await QueueTarget.select().where(QueueTarget.queue == queue).first()
    if row is None:
        return sla.DEFAULT_QUEUE_TARGETS[queue]
    return sla.QueueTargets(
        forward=sla.Target(row["forward_seconds"], row["forward_in_working_time"]) if row["forward_seconds"] else None,
        resolution=sla.Target(row["resolution_seconds"], row["resolution_in_working_time"])
        if row["resolution_seconds"]
        else None,
    )


def next_due(ticket: dict[str, Any]) -> dt.datetime | None:
    """The due time of the most urgent running clock (a paused resolution clock counts as
    running); the first-response due time when every clock has stopped; None once resolved."""
    if ticket["status"] not in OPEN:
        return None
    running = [
        ticket[due]
        for due, stopped, _late in CLOCK_COLUMNS.values()
        if ticket[due] is not None and ticket[stopped] is None
    ]
    return min(running) if running else ticket["first_response_due_at"]


def derived(ticket: dict[str, Any]) -> dict[str, Any]:
    """What follows from a ticket's clocks: the queue order and each clock's outcome so far."""
    return {
        "next_due_at": next_due(ticket),
        **{
            f"{clock}_outcome": sla.outcome(ticket[due], ticket[stopped], ticket[late])
            for clock, (due, stopped, late) in CLOCK_COLUMNS.items()
        },
    }


def _changed(ticket: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` (column name: value) with what follows from them."""
    return {**changes, **derived({**ticket, **changes})}


async def _locked(ticket_id: int) -> dict[str, Any]:
    """The ticket's row, locked until the transaction ends (SQLite: the write transaction is)."""
    query = Ticket.select(*Ticket.all_columns()).where(Ticket.id == ticket_id)
    if sql.engine_type() == "postgres":
        query = query.lock_rows()
    row = await query.first()
    if row is None:
        raise NotFound()
    return row


def _fields(data: dict[str, object]) -> dict[str, object]:
    check = Checker(data)
    check.text("subject", max_len=200)
    check.text("body", max_len=5000)
    for field, choices, default in (("priority", PRIORITIES, "normal"), ("category", CATEGORIES, "other")):
        if data.get(field):
            check.choice(field, choices)
        else:
            check.clean[field] = default
    return check.done()


async def open_ticket(
    data: dict[str, object], *, subscriber_id: int, actor: Actor | None = None, reported_at: dt.datetime | None = None
) -> dict[str, Any]:
    """A subscriber reports a problem (or an agent's user on its behalf: `actor`). The clock starts
    at `reported_at` (default now). An automatic acknowledgement is posted; it stops no clock."""
    fields = _fields(data)
    query = Subscriber.select(Subscriber.id, Subscriber.agent, Subscriber.agent.path.as_alias("path")).where(
        Subscriber.id == subscriber_id
    )
    if actor is not None:
        if not actor.can("view_cards"):
            raise Forbidden()
        if (scope := in_subtree(actor, Subscriber.agent.path)) is not None:
            query = query.where(scope)
    subscriber = await query.first() if valid_id(subscriber_id) else None
    if subscriber is None:
        raise NotFound()
    at = reported_at or now()
    # A complaint made to the provider starts in its queue, to be forwarded to the agent.
    queue = "operator" if actor is not None and actor.is_operator else "agent"
    due = sla.targets(await current_calendar(), at, await policy_for(fields["priority"]), await queue_targets(queue))
    values = {
        "subscriber": subscriber_id,
        "agent": subscriber["agent"],
        "queue": queue,
        "category": fields["category"],
        "priority": fields["priority"],
        "subject": fields["subject"],
        "status": "open",
        "reported_at": at,
        "created_by": actor.user_id if actor else None,
        **due.columns(),
    }
    stopped = {"first_responded_at": None, "forwarded_at": None, "resolved_at": None}
    values.update(
        derived(
            {**stopped, "first_response_late_by": None, "forward_late_by": None, "resolution_late_by": None, **values}
        )
    )
    async with transaction():
        rows = await Ticket.insert(Ticket(**values)).returning(Ticket.id)
        ticket_id = rows[0]["id"]
        await TicketMessage.insert(
            TicketMessage(
                ticket=ticket_id,
                author_kind="subscriber" if actor is None else "staff",
                author_id=subscriber_id if actor is None else actor.user_id,
                public=True,
                body=fields["body"],
                created_at=at,
            ),
            TicketMessage(
                ticket=ticket_id,
                author_kind="system",
                public=True,
                created_at=at,
                body=stored_text.message(N_("We have received your report and will answer within our service hours.")),
            ),
        )
        await audit.record(
            actor,
            "ticket.open",
            target_type="ticket",
            target_id=ticket_id,
            scope_path=subscriber["path"],
            username=f"subscriber:{subscriber_id}",
            after={"priority": fields["priority"], "subject": fields["subject"]},
        )
    return await _ticket(ticket_id)


async def _ticket(ticket_id: int) -> dict[str, Any]:
    row = (
        await Ticket.select(*Ticket.all_columns(), Ticket.agent.path.as_alias("agent_path"))
        .where(Ticket.id == ticket_id)
        .first()
    )
    if row is None:
        raise NotFound()
    return row


async def get_ticket(actor: Actor, ticket_id: int) -> dict[str, Any]:
    """A ticket the actor may see: the operator's staff all; an agent's users their subtree's."""
    if not valid_id(ticket_id) or not actor.can("view_tickets"):
        raise NotFound()
    ticket = await _ticket(ticket_id)
    if not within_actor_scope(actor, ticket["agent_path"]):
        raise NotFound()
    return ticket


def clock_states(ticket: dict[str, Any], at: dt.datetime | None = None) -> dict[str, str | None]:
    """The state of each clock (None where the ticket has no such clock)."""
    at = at or now()
    return {
        "first_response": sla.clock_state(
            ticket["first_response_due_at"],
            ticket["first_response_warn_at"],
            ticket["first_responded_at"],
            at,
            late_by=ticket["first_response_late_by"],
        ),
        "forward": sla.clock_state(
            ticket["forward_due_at"],
            ticket["forward_warn_at"],
            ticket["forwarded_at"],
            at,
            late_by=ticket["forward_late_by"],
        ),
        "resolution": sla.clock_state(
            ticket["resolution_due_at"],
            ticket["resolution_warn_at"],
            ticket["resolved_at"],
            at,
            paused=ticket["pending_since"] is not None,
            late_by=ticket["resolution_late_by"],
        ),
    }


def running_clock(ticket: dict[str, Any]) -> tuple[str, dt.datetime, bool] | None:
    """The clock the queue sorts by: its name, due time and whether it counts working time."""
    due = ticket["next_due_at"]
    if due is None:
        return None
    if ticket["first_responded_at"] is None and ticket["first_response_due_at"] == due:
        return "first_response", due, True
    if ticket["forward_due_at"] == due and ticket["forwarded_at"] is None:
        return "forward", due, ticket["forward_in_working_time"]
    if ticket["resolution_due_at"] == due and ticket["resolved_at"] is None:
        return "resolution", due, ticket["resolution_in_working_time"]
    return "first_response", due, True


def _may_respond(actor: Actor, ticket: dict[str, Any]) -> bool:
    if actor.is_operator:
        return actor.role in RESPONDERS["operator"]
    return ticket["agent"] == actor.agent_id and ticket["queue"] == "agent" and actor.role in RESPONDERS["agent"]


async def add_staff_message(
    actor: Actor,
    ticket_id: int,
    body: object,
    *,
    public: bool,
    at: dt.datetime | None = None,
    upload: tuple[str, bytes] | None = None,
) -> dict[str, Any]:
    """A reply (public) or an internal note. The first public reply of responsible staff stops the
    first-response clock; notes never do."""
    check = Checker({"body": body})
    check.text("body", max_len=5000)
    text = check.done()["body"]
    ticket = await get_ticket(actor, ticket_id)
    if not _may_respond(actor, ticket):
        raise Forbidden()
    _check_upload(upload)
    at = at or now()
    cal = await current_calendar()
    async with transaction():
        rows = await TicketMessage.insert(
            TicketMessage(
                ticket=ticket_id, author_kind="staff", author_id=actor.user_id, public=public, body=text, created_at=at
            )
        ).returning(TicketMessage.id)
        await attach(ticket_id, rows[0]["id"], upload)
        locked = await _locked(ticket_id) if public else None
        if locked is not None and locked["first_responded_at"] is None:
            changes = first_response_changes(cal, locked, at, actor.user_id)
            await Ticket.update(_changed(locked, changes)).where(Ticket.id == ticket_id)
        await audit.record(
            actor,
            "ticket.reply" if public else "ticket.note",
            target_type="ticket",
            target_id=ticket_id,
            scope_path=ticket["agent_path"],
        )
    return await _ticket(ticket_id)


async def add_subscriber_message(
    subscriber_id: int,
    ticket_id: int,
    body: object,
    at: dt.datetime | None = None,
    upload: tuple[str, bytes] | None = None,
) -> dict[str, Any]:
    """The subscriber writes again: no clock stops; a ticket pending on the customer resumes."""
    check = Checker({"body": body})
    check.text("body", max_len=5000)
    text = check.done()["body"]
    ticket = await subscriber_ticket(subscriber_id, ticket_id)
    _check_upload(upload)
    at = at or now()
    async with transaction():
        rows = await TicketMessage.insert(
            TicketMessage(
                ticket=ticket_id,
                author_kind="subscriber",
                author_id=subscriber_id,
                public=True,
                body=text,
                created_at=at,
            )
        ).returning(TicketMessage.id)
        await attach(ticket_id, rows[0]["id"], upload)
        if ticket["status"] == "pending":
            locked = await _locked(ticket_id)
            if locked["status"] == "pending":
                changes = {**_resumed(await current_calendar(), locked, at), "status": "open"}
                await Ticket.update(_changed(locked, changes)).where(Ticket.id == ticket_id)
    return await _ticket(ticket_id)


def _resumed(cal: BusinessCalendar, ticket: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
    """The changes that take a pending ticket off hold: the resolution clock's due and warning
    times moved on by the time it was paused, counted as that clock counts."""
    changes: dict[str, Any] = {"pending_since": None}
    if ticket["pending_since"] is None:
        return changes
    working = ticket["resolution_in_working_time"]
    paused = sla.paused_for(cal, ticket["pending_since"], at, working)
    changes["paused_seconds"] = ticket["paused_seconds"] + paused
    if ticket["resolution_due_at"] is not None and ticket["resolved_at"] is None:
        for column in ("resolution_due_at", "resolution_warn_at"):
            if ticket[column] is not None:
                changes[column] = sla.add(cal, ticket[column], paused, working)
    return changes


def first_response_changes(
    cal: BusinessCalendar, ticket: dict[str, Any], at: dt.datetime, responder: int
) -> dict[str, Any]:
    """The first-response clock stopped at `at` by `responder`'s public reply: what the SLA report
    reads is stored now (working seconds taken, and how late)."""
    return {
        "first_responded_at": at,
        "first_responder": responder,
        "first_response_seconds": max(0, sla.between(cal, ticket["reported_at"], at, True)),
        "first_response_late_by": sla.late_by(cal, ticket["first_response_due_at"], at, True),
    }


def forwarding_changes(cal: BusinessCalendar, ticket: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
    """The forwarding clock stopped at `at`, if it is running."""
    if ticket["forward_due_at"] is None or ticket["forwarded_at"] is not None:
        return {}
    working = ticket["forward_in_working_time"]
    return {
        "forwarded_at": at,
        "forward_seconds": max(0, sla.between(cal, ticket["reported_at"], at, working)),
        "forward_late_by": sla.late_by(cal, ticket["forward_due_at"], at, working),
    }


def resolution_changes(cal: BusinessCalendar, ticket: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
    """The resolution clock stopped at `at` (a breach recorded earlier stays), and the forwarding
    clock too: the provider handled the complaint itself."""
    if ticket["resolved_at"] is not None:
        return {}
    working = ticket["resolution_in_working_time"]
    changes = {
        "resolved_at": at,
        "resolution_seconds": max(0, sla.between(cal, ticket["reported_at"], at, working) - ticket["paused_seconds"]),
        **forwarding_changes(cal, ticket, at),
    }
    if ticket["resolution_due_at"] is not None and ticket["resolution_late_by"] is None:
        changes["resolution_late_by"] = sla.late_by(cal, ticket["resolution_due_at"], at, working)
    return changes


async def set_status(actor: Actor, ticket_id: int, status: str, at: dt.datetime | None = None) -> dict[str, Any]:
    """open ⇄ pending (pauses only the resolution clock) → resolved → closed; resolved or closed
    tickets can be reopened. Status changes never stop the first-response clock."""
    ticket = await get_ticket(actor, ticket_id)
    if not _may_respond(actor, ticket):
        raise Forbidden()
    at = at or now()
    allowed = {
        "open": ("pending", "resolved", "closed"),
        "pending": ("open", "resolved", "closed"),
        "resolved": ("open", "closed"),
        "closed": ("open",),
    }
    cal = await current_calendar()
    async with transaction():
        ticket = {**ticket, **await _locked(ticket_id)}
        if status not in allowed.get(ticket["status"], ()):
            raise Conflict(N_("This cannot be done in the ticket's current status."))
        changes: dict[str, Any] = {"status": status}
        if ticket["status"] == "pending":
            changes.update(_resumed(cal, ticket, at))
        if status == "pending":
            changes["pending_since"] = at
        if status in ("resolved", "closed"):
            changes.update(resolution_changes(cal, {**ticket, **changes}, at))
        if status == "open" and ticket["status"] in ("resolved", "closed"):
            changes["resolved_at"] = None
            if ticket["resolution_late_by"] is None:  # met so far; the clock runs again
                changes["resolution_seconds"] = None
        await Ticket.update(_changed(ticket, changes)).where(Ticket.id == ticket_id)
        await audit.record(
            actor,
            "ticket.status",
            target_type="ticket",
            target_id=ticket_id,
            scope_path=ticket["agent_path"],
            before={"status": ticket["status"]},
            after={"status": status},
        )
    return await _ticket(ticket_id)


async def escalate(actor: Actor, ticket_id: int) -> dict[str, Any]:
    """From the agent's first line to operator support; the clock keeps running."""
    ticket = await get_ticket(actor, ticket_id)
    if not _may_respond(actor, ticket):
        raise Conflict(N_("This cannot be done in the ticket's current status."))
    async with transaction():
        if (await _locked(ticket_id))["queue"] != "agent":
            raise Conflict(N_("This cannot be done in the ticket's current status."))
        await Ticket.update({Ticket.queue: "operator"}).where(Ticket.id == ticket_id)
        await audit.record(
            actor,
            "ticket.escalate",
            target_type="ticket",
            target_id=ticket_id,
            scope_path=ticket["agent_path"],
            after={"queue": "operator"},
        )
    return await _ticket(ticket_id)


async def forward(actor: Actor, ticket_id: int, at: dt.datetime | None = None) -> dict[str, Any]:
    """Operator support hands a complaint down to the responsible agent's queue; this stops the
    forwarding clock (the agreements: within 12 hours). The ticket is unassigned, for the agent's
    staff to take; the other clocks keep running."""
    ticket = await get_ticket(actor, ticket_id)
    if not (actor.is_operator and _may_respond(actor, ticket)):
        raise Forbidden()
    at = at or now()
    cal = await current_calendar()
    async with transaction():
        locked = await _locked(ticket_id)
        if locked["queue"] != "operator" or locked["status"] not in OPEN:
            raise Conflict(N_("This cannot be done in the ticket's current status."))
        changes = {"queue": "agent", "assignee": None, **forwarding_changes(cal, locked, at)}
        await Ticket.update(_changed(locked, changes)).where(Ticket.id == ticket_id)
        await audit.record(
            actor,
            "ticket.forward",
            target_type="ticket",
            target_id=ticket_id,
            scope_path=ticket["agent_path"],
            before={"queue": "operator"},
            after={"queue": "agent"},
        )
    return await _ticket(ticket_id)


async def retarget_open_clocks() -> int:
    """After a calendar edit: open first-response clocks get new due times from their report time;
    met and breached results stay as they were (a breach is final)."""
    cal = await current_calendar()
    at = now()
    async with transaction():
        rows = await Ticket.select(*Ticket.all_columns()).where(
            Ticket.first_responded_at.is_null() & (Ticket.first_response_due_at >= at)
        )
        policies = {priority: await policy_for(priority) for priority in PRIORITIES}
        for row in rows:
            due = sla.targets(cal, row["reported_at"], policies[row["priority"]])
            changes = {
                "first_response_due_at": due.first_response_due_at,
                "first_response_warn_at": due.first_response_warn_at,
            }
            await Ticket.update(_changed(row, changes)).where(Ticket.id == row["id"])
    return len(rows)


async def messages(ticket_id: int, *, include_internal: bool) -> list[dict[str, Any]]:
    query = TicketMessage.select().where(TicketMessage.ticket == ticket_id).order_by(TicketMessage.id)
    if not include_internal:
        query = query.where(TicketMessage.public == True)  # noqa: E712 (SQL, not Python)
    return await query


async def subscriber_tickets(subscriber_id: int) -> list[dict[str, Any]]:
    return (
        await Ticket.select(Ticket.id, Ticket.subject, Ticket.status, Ticket.reported_at)
        .where(Ticket.subscriber == subscriber_id)
        .order_by(Ticket.id, ascending=False)
    )


async def subscriber_ticket(subscriber_id: int, ticket_id: int) -> dict[str, Any]:
    """One of the subscriber's own tickets; any other is not found."""
    if not valid_id(ticket_id):
        raise NotFound()
    ticket = await _ticket(ticket_id)
    if ticket["subscriber"] != subscriber_id:
        raise NotFound()
    return ticket


async def assign(actor: Actor, ticket_id: int, user_id: int | None) -> dict[str, Any]:
    """Give a ticket to a staff member who may answer it (or to nobody)."""
    from agency.users import get_user

    ticket = await get_ticket(actor, ticket_id)
    if not _may_respond(actor, ticket):
        raise Forbidden()
    if user_id is not None:
        user = (
            await get_user(actor, user_id)
            if user_id != actor.user_id
            else {"agent": actor.agent_id, "role": actor.role}
        )
        is_operator_staff = user["agent"] is None and user["role"] in RESPONDERS["operator"]
        is_agent_staff = user["agent"] == ticket["agent"] and user["role"] in RESPONDERS["agent"]
        if not (is_operator_staff or is_agent_staff):
            raise Conflict(N_("This user cannot answer this ticket."))
    async with transaction():
        await Ticket.update({Ticket.assignee: user_id}).where(Ticket.id == ticket_id)
        await audit.record(
            actor,
            "ticket.assign",
            target_type="ticket",
            target_id=ticket_id,
            scope_path=ticket["agent_path"],
            before={"assignee": ticket["assignee"]},
            after={"assignee": user_id},
        )
    return await _ticket(ticket_id)


async def take_next(actor: Actor) -> dict[str, Any] | None:
    """Assign to me the most urgent unassigned open ticket I may answer; None when there is none."""
    if not actor.can("answer_tickets"):
        raise Forbidden()
    condition = Ticket.assignee.is_null() & Ticket.status.is_in(["open", "pending"])
    condition &= (
        (Ticket.queue == "operator")
        if actor.is_operator
        else ((Ticket.agent == actor.agent_id) & (Ticket.queue == "agent"))
    )
    async with transaction():
        candidate = await Ticket.select(Ticket.id).where(condition).order_by(Ticket.next_due_at).first()
        if candidate is None:
            return None
        await Ticket.update({Ticket.assignee: actor.user_id}).where(
            (Ticket.id == candidate["id"]) & Ticket.assignee.is_null()
        )
        await audit.record(
            actor, "ticket.take", target_type="ticket", target_id=candidate["id"], after={"assignee": actor.user_id}
        )
    return await _ticket(candidate["id"])


def _check_upload(upload: tuple[str, bytes] | None) -> None:
    """Refuse a bad file before anything is written."""
    if upload is not None and upload[1]:
        checked_upload("attachment", upload[0], upload[1])


async def attach(ticket_id: int, message_id: int | None, upload: tuple[str, bytes] | None) -> None:
    """Store a checked file with a message (call inside the message's transaction)."""
    if upload is None or not upload[1]:
        return
    name, media_type = checked_upload("attachment", upload[0], upload[1])
    await TicketAttachment.insert(
        TicketAttachment(
            ticket=ticket_id,
            message=message_id,
            filename=name,
            content_type=media_type,
            size=len(upload[1]),
            data=upload[1],
            created_at=now(),
        )
    )


async def attachments(ticket_id: int, *, include_internal: bool) -> list[dict[str, Any]]:
    query = TicketAttachment.select(
        TicketAttachment.id, TicketAttachment.message, TicketAttachment.filename, TicketAttachment.size
    ).where(TicketAttachment.ticket == ticket_id)
    if not include_internal:
        query = query.where(TicketAttachment.message.public == True)  # noqa: E712 (SQL, not Python)
    return await query.order_by(TicketAttachment.id)


async def attachment_file(ticket_id: int, attachment_id: int, *, include_internal: bool) -> tuple[str, str, bytes]:
    """The file, only through a ticket the caller may see (checked by the caller)."""
    if not valid_id(attachment_id):
        raise NotFound()
    query = TicketAttachment.select(
        TicketAttachment.filename, TicketAttachment.content_type, TicketAttachment.data
    ).where((TicketAttachment.id == attachment_id) & (TicketAttachment.ticket == ticket_id))
    if not include_internal:
        query = query.where(TicketAttachment.message.public == True)  # noqa: E712
    row = await query.first()
    if row is None:
        raise NotFound()
    return row["filename"], row["content_type"], bytes(row["data"])


async def list_policies() -> list[dict[str, Any]]:
    """The policy of every priority (the default where none is stored)."""
    stored = {row["priority"]: row for row in await SlaPolicy.select()}
    default = sla.Policy()
    return [
        {
            "priority": p,
            "first_response_seconds": stored.get(p, {}).get("first_response_seconds", default.first_response_seconds),
            "resolution_seconds": stored.get(p, {}).get("resolution_seconds", default.resolution_seconds),
            "at_risk_percent": stored.get(p, {}).get("at_risk_percent", default.at_risk_percent),
        }
        for p in PRIORITIES
    ]


async def save_policy(
    actor: Actor, priority: str, first_response_minutes: object, resolution_minutes: object, at_risk_percent: object
) -> dict[str, Any]:
    """Operator admins and support set a priority's targets (in working minutes); new tickets use them."""
    from core.errors import ValidationFailed
    from core.units import parse_minutes, parse_whole

    if not may_set_targets(actor):
        raise Forbidden()
    if priority not in PRIORITIES:
        raise ValidationFailed({"priority": N_("Choose one of the offered values.")})
    first = parse_minutes("first_response_minutes", first_response_minutes, maximum=60 * 24 * 30)
    resolution = (
        parse_minutes("resolution_minutes", resolution_minutes, maximum=60 * 24 * 365)
        if resolution_minutes not in (None, "")
        else None
    )
    percent = parse_whole(
        "at_risk_percent",
        at_risk_percent,
        minimum=1,
        maximum=99,
        digits=3,
        message=N_("A whole percentage from 1 to 99."),
    )
    values = {
        "first_response_seconds": first * 60,
        "resolution_seconds": resolution * 60 if resolution else None,
        "at_risk_percent": percent,
    }
    async with transaction():
        await SlaPolicy.delete().where(SlaPolicy.priority == priority)
        await SlaPolicy.insert(SlaPolicy(priority=priority, **values))
        await audit.record(actor, "support.policy", target_type="priority", target_id=priority, after=values)
    return {"priority": priority, **values}


def may_set_targets(actor: Actor) -> bool:
    return actor.is_operator and actor.role in RESPONDERS["operator"]


async def list_queue_targets() -> list[dict[str, Any]]:
    """Each queue's forwarding and resolution targets (the defaults where none are stored)."""
    rows = []
    for queue in QUEUES:
        targets = await queue_targets(queue)
        rows.append(
            {
                "queue": queue,
                "forward_seconds": targets.forward.seconds if targets.forward else None,
                "forward_in_working_time": targets.forward.working_time if targets.forward else False,
                "resolution_seconds": targets.resolution.seconds if targets.resolution else None,
                "resolution_in_working_time": targets.resolution.working_time if targets.resolution else False,
            }
        )
    return rows


async def save_queue_targets(
    actor: Actor,
    queue: str,
    *,
    forward_minutes: object,
    forward_in_working_time: bool,
    resolution_minutes: object,
    resolution_in_working_time: bool,
) -> dict[str, Any]:
    """Operator admins and support set a queue's targets, in minutes (empty: no such clock), each
    counted in working or wall-clock time; tickets opened afterwards use them. Only the operator's
    queue forwards."""
    from core.errors import ValidationFailed
    from core.units import parse_minutes

    if not may_set_targets(actor):
        raise Forbidden()
    if queue not in QUEUES:
        raise ValidationFailed({"queue": N_("Choose one of the offered values.")})

    def minutes(field: str, value: object) -> int | None:
        if value in (None, ""):
            return None
        number = parse_minutes(field, value)
        if not 1 <= number <= 60 * 24 * 365:
            raise ValidationFailed({field: N_("The number is out of range.")})
        return number

    forward = minutes("forward_minutes", forward_minutes) if queue == "operator" else None
    resolution = minutes("resolution_minutes", resolution_minutes)
    values = {
        "forward_seconds": forward * 60 if forward else None,
        "forward_in_working_time": bool(forward_in_working_time) and forward is not None,
        "resolution_seconds": resolution * 60 if resolution else None,
        "resolution_in_working_time": bool(resolution_in_working_time) and resolution is not None,
    }
    async with transaction():
        await QueueTarget.delete().where(QueueTarget.queue == queue)
        await QueueTarget.insert(QueueTarget(queue=queue, **values))
        await audit.record(actor, "support.queue_targets", target_type="queue", target_id=queue, after=values)
    return {"queue": queue, **values}


async def staff_view(actor: Actor, ticket_id: int) -> dict[str, Any]:
    """A ticket as staff see it: its clocks, the whole conversation with internal notes, and files."""
    ticket = await get_ticket(actor, ticket_id)
    return {
        "ticket": ticket,
        "clocks": clock_states(ticket),
        "messages": await messages(ticket_id, include_internal=True),
        "files": await attachments(ticket_id, include_internal=True),
    }
