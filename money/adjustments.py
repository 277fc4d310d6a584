"""Adjustments (调帐) and penalties (扣款), R-11b: the holder of an agent's accounts (operator
finance for a level-1 agent, the parent's owner below) credits or debits the agent's wallet or
stock, with a reason, a reference and the operation password. Each is one journal transaction of
its own kind, listed on the agent's journal and statement.

Money moves between the agent's wallet and the holder's `adjustments` account (MONEY.md), so the
holder's books still account for every fen it confirmed; airtime between the agent's stock and
the holder's stock (the operator's: issuance)."""

from __future__ import annotations

from typing import Any

from agency import audit
from agency.agents import get_agent
from agency.roles import Actor
from agency.users import check_operation_password
from core.errors import N_, Conflict, Forbidden, ValidationFailed
from core.units import FEN, SECONDS, parse_minutes, parse_yuan
from core.validation import Checker
from money import ledger
from money.idempotency import run_once
from money.ledger import transfer

ACCOUNTS = (ledger.WALLET, ledger.STOCK)
KINDS = ("adjustment", "penalty")  # a penalty is always a debit
DIRECTIONS = ("credit", "debit")


class NotCovered(Conflict):
    message = N_("The agent's balance does not cover this debit; nothing was changed.")


class HolderShort(Conflict):
    message = N_("Your stock does not cover this credit; nothing was changed.")


def adjustment_fields(data: dict[str, object]) -> dict[str, Any]:
    """The form's or the API's fields, checked: account, direction, kind, amount (fen or seconds),
    reason and reference."""
    check = Checker(data)
    check.choice("account", ACCOUNTS)
    check.choice("direction", DIRECTIONS)
    check.choice("kind", KINDS)
    check.text("reason", max_len=200)
    check.text("reference", max_len=100)
    fields = check.done()
    if fields["kind"] == "penalty" and fields["direction"] != "debit":
        raise ValidationFailed({"direction": N_("A penalty is a debit.")})
    if fields["account"] == ledger.WALLET:
        fields["amount"] = parse_yuan("amount", data.get("amount"))
    else:
        fields["amount"] = parse_minutes("amount", data.get("amount")) * 60
    return fields


def may_adjust(actor: Actor, agent: dict[str, Any]) -> bool:
    """Whether the actor holds this agent's accounts: operator finance for a level-1 agent, the
    parent's owner below."""
    if not actor.can("adjust_balances"):
        return False
    return actor.is_operator if agent["parent"] is None else actor.agent_id == agent["parent"]


async def adjust(
    actor: Actor, agent_id: int, data: dict[str, object], *, operation_password: object, idempotency_key: object
) -> dict[str, Any]:
    agent = await get_agent(actor, agent_id)
    if not may_adjust(actor, agent):
        raise Forbidden()
    fields = adjustment_fields(data)
    await check_operation_password(actor, operation_password)

    async def post() -> dict[str, Any]:
        account, amount = fields["account"], fields["amount"]
        holder = agent["parent"]
        if account == ledger.WALLET:
            own, unit = await ledger.agent_account(agent_id, ledger.WALLET), FEN
            other = await ledger.holder_account(holder, ledger.ADJUSTMENTS)
        else:
            own, unit = await ledger.agent_account(agent_id, ledger.STOCK), SECONDS
            if holder is None:
                other = await ledger.system_account(ledger.OPERATOR_ISSUANCE)
            else:
                other = await ledger.agent_account(holder, ledger.STOCK)
        postings = (
            transfer(other, own, unit, amount)
            if fields["direction"] == "credit"
            else transfer(own, other, unit, amount)
        )
        try:
            txn_id = await ledger.post(
                fields["kind"],
                postings,
                memo=f"{fields['reason']} ({fields['reference']})",
                user_id=actor.user_id,
                ref_type="agent",
                ref_id=agent_id,
            )
        except ledger.InsufficientBalance as short:
            raise NotCovered() if short.account_id == own else HolderShort() from None
        result = {"txn_id": txn_id, "agent_id": agent_id, **fields}
        await audit.record(
            actor,
            f"ledger.{fields['kind']}",
            target_type="agent",
            target_id=agent_id,
            scope_path=agent["path"],
            after=result,
        )
        return result

    return await run_once(actor, idempotency_key, "adjust", {"agent_id": agent_id, **fields}, post)
