"""Fills the columns added by the previous migration (Piccolo runs a migration's raw steps before
its column changes, hence a migration of its own)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T15:00:05:000000"
VERSION = "1.38.0"
DESCRIPTION = "The stored clock figures and queue order of tickets opened before"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="support", description=DESCRIPTION)
    manager.add_raw(fill_stored_clock_figures)
    return manager


async def fill_stored_clock_figures():
    """What the SLA report now reads from the row, for tickets opened before: the first-response
    and resolution seconds and lateness, on the current calendar, and the queue order."""
    from support import sla
    from support.calendars import current_calendar
    from support.tables import Ticket
    from support.tickets import next_due

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
        values["next_due_at"] = next_due({**row, "forward_due_at": None, "forwarded_at": None})
        await Ticket.update(values).where(Ticket.id == row["id"])
