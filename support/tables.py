"""Tables of support: business calendars, SLA policies, tickets and their messages."""

from piccolo.columns import JSON, Boolean, Bytea, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from accounts.tables import Subscriber
from agency.tables import Agent


class SupportCalendar(Table):
    """A business calendar (R-25), the stored form of support.business_time.BusinessCalendar.
    `weekly` maps "0".."6" (Monday first) to [["09:00", "18:00"], …]; dates are ISO strings."""

    id = Serial(primary_key=True)
    name = Varchar(length=64, unique=True)
    tz = Varchar(length=64, default="Asia/Shanghai")
    weekly = JSON(default={})
    closed_dates = JSON(default=[])
    extra_workdays = JSON(default={})
    closures = JSON(default=[])
    confirmed_years = JSON(default=[])
    updated_at = Timestamptz()


class SlaPolicy(Table):
    """Targets per priority (R-24): first response in business seconds (default 4 working hours),
    an optional resolution target, and the share of the target after which a ticket is at risk."""

    id = Serial(primary_key=True)
    priority = Varchar(length=16, unique=True)
    first_response_seconds = Integer(default=4 * 3600)
    resolution_seconds = Integer(null=True, default=None)
    at_risk_percent = Integer(default=75)


class QueueTarget(Table):
    """A queue's forwarding and resolution targets (support.sla.QueueTargets), each counted in
    working or wall-clock time; a queue without a row has sla.DEFAULT_QUEUE_TARGETS."""

    id = Serial(primary_key=True)
    queue = Varchar(length=16, unique=True)
    forward_seconds = Integer(null=True, default=None)
    forward_in_working_time = Boolean(default=False)
    resolution_seconds = Integer(null=True, default=None)
    resolution_in_working_time = Boolean(default=False)


class Ticket(Table):
    """A support ticket (R-23) and its clocks (support.sla): first response, forwarding (operator
    queue) and resolution, each with due and warning times stored when the ticket is opened. Met,
    at risk, breached are derived from the stored times against the current time, never by a
    periodic job. What the SLA report needs is stored when a clock stops: the elapsed seconds and,
    when late, by how much (`*_late_by`, final). `next_due_at` is the due time of the most urgent
    running clock, the queue's order; None once resolved or closed."""

    id = Serial(primary_key=True)
    subscriber = ForeignKey(Subscriber, null=True, index=True)
    agent = ForeignKey(Agent, index=True)
    queue = Varchar(length=16, default="agent", index=True)  # "agent" (first line) or "operator"
    category = Varchar(length=32, default="other")
    priority = Varchar(length=16, default="normal")
    subject = Varchar(length=200)
    status = Varchar(length=16, default="open", index=True)  # open, pending, resolved, closed
    assignee = Integer(null=True, default=None)
    reported_at = Timestamptz()
    first_response_due_at = Timestamptz(index=True)
    first_response_warn_at = Timestamptz()
    first_responded_at = Timestamptz(null=True, default=None)
    first_responder = Integer(null=True, default=None)  # the staff user whose public reply stopped the clock
    first_response_seconds = Integer(null=True, default=None)  # working seconds to the first response
    first_response_late_by = Integer(null=True, default=None)  # working seconds past due; None: met or running
    forward_due_at = Timestamptz(null=True, default=None)
    forward_warn_at = Timestamptz(null=True, default=None)
    forward_in_working_time = Boolean(default=False)
    forwarded_at = Timestamptz(null=True, default=None)  # the forwarding clock stopped (forwarded or resolved)
    forward_seconds = Integer(null=True, default=None)
    forward_late_by = Integer(null=True, default=None)
    resolution_due_at = Timestamptz(null=True, default=None)
    resolution_warn_at = Timestamptz(null=True, default=None)
    resolution_in_working_time = Boolean(default=True)
    pending_since = Timestamptz(null=True, default=None)  # "pending customer" pauses the resolution clock
    paused_seconds = Integer(default=0)  # time spent pending, counted as the resolution clock counts
    resolved_at = Timestamptz(null=True, default=None)
    resolution_seconds = Integer(null=True, default=None)  # to the resolution, pauses left out
    resolution_late_by = Integer(null=True, default=None)
    next_due_at = Timestamptz(null=True, default=None, index=True)
    # Each clock's outcome so far, for the report's counts: None (no such clock), "running", "met"
    # or "breached" (final). Kept with first_response_seconds in the index `ticket_report`.
    first_response_outcome = Varchar(length=8, null=True, default=None)
    forward_outcome = Varchar(length=8, null=True, default=None)
    resolution_outcome = Varchar(length=8, null=True, default=None)
    created_by = Integer(null=True, default=None)


class TicketMessage(Table):
    id = Serial(primary_key=True)
    ticket = ForeignKey(Ticket, index=True)
    author_kind = Varchar(length=16)  # subscriber, staff, system
    author_id = Integer(null=True, default=None)
    public = Boolean(default=True)  # False: an internal note, never shown to the subscriber
    body = Text()
    created_at = Timestamptz()


class TicketAttachment(Table):
    """A file attached to a ticket message: PNG, JPEG or PDF (checked by content), at most 2 MB."""

    id = Serial(primary_key=True)
    ticket = ForeignKey(Ticket, index=True)
    message = ForeignKey(TicketMessage, null=True, default=None)
    filename = Varchar(length=120)
    content_type = Varchar(length=40)
    size = Integer()
    data = Bytea()
    created_at = Timestamptz()
