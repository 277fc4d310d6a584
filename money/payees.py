"""Where to send a remittance (R-11): each holder (the operator, or an agent for its sub-agents)
keeps the bank details its payers see beside "Record a remittance" and under a quote their wallet
cannot cover. Saving them needs the operation password: a changed account number redirects money."""

from __future__ import annotations

import re
from typing import Any

from agency import audit
from agency.agents import get_agent
from agency.roles import Actor
from agency.tables import Agent
from agency.users import check_operation_password
from core.clock import now
from core.db import transaction
from core.errors import N_, Forbidden
from core.validation import Checker
from money.tables import PayeeBankDetails

OPERATOR_HOLDER = 0  # PayeeBankDetails.holder of the operator's own account
FIELDS = ("bank_name", "account_name", "account_number", "branch")
# Bank account numbers as printed: digits, in groups split by spaces or hyphens (6 to 40 characters).
ACCOUNT_NUMBER = re.compile(r"^[0-9][0-9 \-]{4,38}[0-9]$")


def bank_details_fields(data: dict[str, object]) -> dict[str, object]:
    check = Checker(data)
    check.text("bank_name", max_len=100)
    check.text("account_name", max_len=100)
    check.text(
        "account_number",
        max_len=40,
        pattern=ACCOUNT_NUMBER,
        pattern_message=N_("Digits only, in groups split by spaces or hyphens if you like."),
    )
    check.text("branch", max_len=100, required=False)
    return check.done()


def _holder_of(actor: Actor) -> int:
    """The holder whose details the actor keeps: its own side, never another's."""
    if not actor.can("confirm_remittance"):
        raise Forbidden()
    return OPERATOR_HOLDER if actor.is_operator else int(actor.agent_id or 0)


async def _details(holder: int) -> dict[str, Any] | None:
    columns = [getattr(PayeeBankDetails, name) for name in FIELDS]
    return (
        await PayeeBankDetails.select(*columns, PayeeBankDetails.updated_at)
        .where(PayeeBankDetails.holder == holder)
        .first()
    )


async def own_bank_details(actor: Actor) -> dict[str, Any] | None:
    """The details the actor's side shows to those who remit to it (None while unset)."""
    return await _details(_holder_of(actor))


async def save_bank_details(actor: Actor, data: dict[str, object], *, operation_password: object) -> dict[str, Any]:
    """Set or replace the actor's side's details; audited with what they were before."""
    holder = _holder_of(actor)
    fields = bank_details_fields(data)
    await check_operation_password(actor, operation_password)
    scope_path = "" if actor.is_operator else (await get_agent(actor, holder))["path"]
    async with transaction():
        before = await _details(holder)
        values = {name: fields.get(name, "") for name in FIELDS}
        values.update(updated_by=actor.user_id, updated_at=now())
        # One row per holder even when two first saves race: the second one updates the first's row.
        await PayeeBankDetails.insert(PayeeBankDetails(holder=holder, **values)).on_conflict(
            target=PayeeBankDetails.holder,
            action="DO UPDATE",
            values=[getattr(PayeeBankDetails, name) for name in values],
        )
        await audit.record(
            actor,
            "payee.bank_details",
            target_type="agent" if holder else "operator",
            target_id=holder or "",
            scope_path=scope_path,
            before={name: before[name] for name in FIELDS} if before else None,
            after={name: fields.get(name, "") for name in FIELDS},
        )
    return await _details(holder) or {}


async def payee_of(actor: Actor) -> dict[str, Any] | None:
    """Whom the actor's agent remits to and where: {"name", "is_operator", "details"} (details None
    while the payee has not set them); None for operator staff, who remit to nobody."""
    if actor.is_operator or actor.agent_id is None:
        return None
    agent = await get_agent(actor, actor.agent_id)
    if agent["parent"] is None:
        return {"name": "", "is_operator": True, "details": await _details(OPERATOR_HOLDER)}
    # The parent's name: R-1 lets the names of ancestors show.
    parent = await Agent.select(Agent.brand_name).where(Agent.id == agent["parent"]).first()
    return {"name": parent["brand_name"], "is_operator": False, "details": await _details(agent["parent"])}
