"""Fills the columns added by the previous migration (Piccolo runs a migration's raw steps before
its column changes, hence a migration of its own)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T15:19:05:000000"
VERSION = "1.38.0"
DESCRIPTION = "The stored clock figures, outcomes and queue order of tickets opened before; the report index"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="support", description=DESCRIPTION)
    manager.add_raw(fill_stored_clock_figures)
    manager.add_raw(report_index)
    return manager


async def report_index():
    """What the SLA report reads of every ticket of a period, in one index it can scan alone; and
    the few tickets with a clock still running (support.reports.RUNNING), in a partial index."""
    from support.reports import RUNNING
    from support.tables import Ticket

    await Ticket.raw(
        "CREATE INDEX IF NOT EXISTS ticket_report ON ticket (reported_at, first_response_seconds, "
        "first_response_late_by, first_response_outcome, forward_outcome, resolution_outcome, agent)"
    )
    await Ticket.raw(f"CREATE INDEX IF NOT EXISTS ticket_running ON ticket (reported_at) WHERE {RUNNING}")


async def fill_stored_clock_figures():
    """What the SLA report now reads from the row, for tickets opened before: the first-response
    and resolution seconds and lateness on the current calendar, the clocks' outcomes, the queue
    order."""
    from support import sla
    from support.calendars import current_calendar
    from support.tables import Ticket
    from support.tickets import derived

    cal = await current_calendar()
    rows = await Ticket.select(
        Ticket.id,
        Ticket.status,
        Ticket.reported_at,
        Ticket.first_response_due_at,
        Ticket.first_responded_at,
        Ticket.resolution_due_at,
        Ticket.resolved_at,
    )
    for row in rows:
        values = {}
        if (responded := row["first_responded_at"]) is not None:
            values["first_response_seconds"] = max(0, sla.between(cal, row["reported_at"], responded, True))
            values["first_response_late_by"] = sla.late_by(cal, row["first_response_due_at"], responded, True)
        if (resolved := row["resolved_at"]) is not None:
            values["resolution_seconds"] = max(0, sla.between(cal, row["reported_at"], resolved, True))
            if row["resolution_due_at"] is not None:
                values["resolution_late_by"] = sla.late_by(cal, row["resolution_due_at"], resolved, True)
        none = {"first_response_late_by": None, "resolution_late_by": None, "forward_late_by": None}
        values.update(derived({**row, **none, "forward_due_at": None, "forwarded_at": None, **values}))
        await Ticket.update(values).where(Ticket.id == row["id"])
