"""The open tickets of an agent by due time, in one index: an agent's queue counts its tickets
(up to the cap) from the index alone, without reading each ticket's row."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T19:45:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Tickets: an index of each agent's tickets by queue order"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="support", description=DESCRIPTION)
    manager.add_raw(agent_queue_index)
    return manager


async def agent_queue_index():
    from support.tables import Ticket

    await Ticket.raw("CREATE INDEX IF NOT EXISTS ticket_agent_due ON ticket (agent, next_due_at)")
