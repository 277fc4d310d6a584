"""The review list of calls and usage-rule hits (R-22a): what rating flagged (a call over an hour,
a call the balance did not fully cover) and every usage rule that fired and suspended a
subscriber. Staff of the agent and of the operator see their subtree's and decide each item once:
confirm (it was what it looked like; the subscriber stays as it is), dismiss (a false alarm;
nothing else changes) or resume (a false alarm: the subscriber the rule suspended may call again).
"""

from __future__ import annotations

from typing import Any

from accounts.status import move_status
from agency import audit
from agency.agents import valid_id
from agency.roles import Actor
from agency.tree import subtree_bounds
from core import sql
from core.clock import now
from core.db import transaction
from core.errors import N_, Conflict, Forbidden, NotFound, ValidationFailed

LONG_CALL, UNCOVERED = "long_call", "uncovered"
STATUSES = ("open", "confirmed", "dismissed", "resumed")
DECISIONS = {"confirm": "confirmed", "dismiss": "dismissed", "resume": "resumed"}
PER_PAGE = 50

_COLUMNS = (
    "v.id, v.kind, v.call_id, v.observed, v.threshold, v.suspended, v.created_at, v.status, v.reviewed_at, "
    "v.subscriber AS subscriber_id, s.account_number, s.status AS subscriber_status, a.id AS agent_id, "
    "a.brand_name, u.display_name AS reviewed_by_name, u.username AS reviewed_by_username"
)
_FROM = (
    "FROM call_review v JOIN subscriber s ON s.id = v.subscriber JOIN agent a ON a.id = v.agent "
    "LEFT JOIN app_user u ON u.id = v.reviewed_by"
)


def _may_review(actor: Actor) -> None:
    if not actor.can("review_calls"):
        raise Forbidden()


def _scope(actor: Actor) -> tuple[str, list[Any]]:
    if actor.is_operator:
        return "", []
    return " AND a.path >= {} AND a.path < {}", list(subtree_bounds(actor.agent_path))


async def list_reviews(actor: Actor, *, status: str = "open", page: int = 1) -> tuple[list[dict[str, Any]], int]:
    """A page of the items of the actor's subtree in `status` ("" for all), newest first, and
    how many there are."""
    _may_review(actor)
    if status and status not in STATUSES:
        raise ValidationFailed({"status": N_("Choose a status.")})
    scope, args = _scope(actor)
    where = "WHERE 1 = 1" + (" AND v.status = {}" if status else "") + scope
    args = ([status] if status else []) + args
    page = max(1, min(page, 10_000))
    rows = await sql.fetch(
        f"SELECT {_COLUMNS} {_FROM} {where} ORDER BY v.created_at DESC, v.id DESC LIMIT {PER_PAGE} "
        f"OFFSET {(page - 1) * PER_PAGE}",
        *args,
    )
    total = await sql.fetch_one(f"SELECT COUNT(*) AS n {_FROM} {where}", *args)
    return rows, int(total["n"])


async def count_open(actor: Actor) -> int:
    """How many items wait for a decision in the actor's subtree (0 for who may not review)."""
    if not actor.can("review_calls"):
        return 0
    scope, args = _scope(actor)
    row = await sql.fetch_one(f"SELECT COUNT(*) AS n {_FROM} WHERE v.status = 'open'{scope}", *args)
    return int(row["n"])


async def get_review(actor: Actor, review_id: int) -> dict[str, Any]:
    _may_review(actor)
    if not valid_id(review_id):
        raise NotFound()
    scope, args = _scope(actor)
    row = await sql.fetch_one(f"SELECT {_COLUMNS} {_FROM} WHERE v.id = {{}}{scope}", review_id, *args)
    if row is None:
        raise NotFound()
    return row


async def decide(actor: Actor, review_id: int, decision: object) -> dict[str, Any]:
    """Close an open item: confirm, dismiss, or resume (dismiss, and let the subscriber a rule
    suspended call again). An item is decided once: a second decision is refused."""
    item = await get_review(actor, review_id)
    if decision not in DECISIONS:
        raise ValidationFailed({"decision": N_("Choose confirm, dismiss or resume.")})
    if decision == "resume" and not item["suspended"]:
        raise ValidationFailed({"decision": N_("This item did not suspend the account; dismiss it instead.")})
    status = DECISIONS[decision]
    at = now()
    async with transaction():
        decided = await sql.fetch(
            "UPDATE call_review SET status = {}, reviewed_by = {}, reviewed_at = {} "
            "WHERE id = {} AND status = 'open' RETURNING id",
            status,
            actor.user_id,
            at,
            item["id"],
        )
        if not decided:
            raise Conflict(N_("This item has been reviewed already."))
        resumed = False
        if decision == "resume":
            resumed = await move_status(item["subscriber_id"], ("suspended",), "active")
        await audit.record(
            actor,
            f"call_review.{decision}",
            target_type="call_review",
            target_id=item["id"],
            before={"status": "open"},
            after={"status": status, "subscriber": item["subscriber_id"], "resumed": resumed},
        )
    return await get_review(actor, review_id)


async def flag_calls(flagged: list[tuple[int, int, str, str, int, int]]) -> None:
    """Open an item for each call rating flagged: (subscriber, agent, call id, kind, observed,
    threshold); inside the rating's transaction."""
    if not flagged:
        return
    at = now()
    rows = ", ".join("({}, {}, {}, {}, {}, {}, {}, {}, 'open')" for _ in flagged)
    await sql.execute(
        "INSERT INTO call_review (subscriber, agent, call_id, kind, observed, threshold, suspended, created_at, "
        f"status) VALUES {rows}",
        *(value for item in flagged for value in (*item, False, at)),
    )
