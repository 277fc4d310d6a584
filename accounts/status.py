"""A subscriber's status moved by one conditional statement, the same for every path that moves
it: staff suspending or resuming (accounts.services), a usage rule suspending (accounts.controls)
and a review resuming (accounts.review). Of concurrent moves, one changes the row; the others find
it in another status and do nothing. A move also takes the subscriber out of a bulk suspension's
hold (accounts.bulk): a status set one by one is not the bulk's to undo."""

from __future__ import annotations

from core import sql


async def move_status(subscriber_id: int, allowed_from: tuple[str, ...], new_status: str) -> bool:
    """Set the status if it is one of `allowed_from`; whether it was. In the caller's transaction."""
    marks = sql.marks(allowed_from)
    moved = await sql.fetch(
        f"UPDATE subscriber SET status = {{}}, hold = NULL WHERE id = {{}} AND status IN ({marks}) RETURNING id",
        new_status,
        subscriber_id,
        *allowed_from,
    )
    return bool(moved)
