"""Onboarding fees (R-11): activating an applied agent charges its level's refundable deposit
(held until termination) and non-refundable franchise fee from its wallet, in one transaction;
activation is refused until the wallet covers both; the deposit goes back to the wallet when the
agent's notice has run out. A new agent's level decides whether it must be onboarded first."""

from __future__ import annotations

import datetime as dt
from typing import Any

from agency import agents, audit
from agency.agents import get_managed
from agency.roles import Actor
from agency.tables import Agent
from agency.users import check_operation_password
from core import stored_text
from core.db import transaction
from core.errors import N_, Conflict
from core.units import FEN
from money import ledger
from money.idempotency import run_once
from money.ledger import transfer
from money.prices import level_policy


class FeesNotCovered(Conflict):
    message = N_("The agent's wallet does not cover the deposit and franchise fee yet; nothing was changed.")


async def activate_agent(
    actor: Actor, agent_id: int, *, operation_password: object, idempotency_key: object
) -> dict[str, Any]:
    agent = await get_managed(actor, agent_id, "activate_agent", allow_own=False)
    await check_operation_password(actor, operation_password)

    async def activate() -> dict[str, Any]:
        moved = (
            await Agent.update({Agent.status: "active"})
            .where((Agent.id == agent_id) & (Agent.status == "applied"))
            .returning(Agent.id)
        )
        if not moved:
            raise Conflict(N_("This cannot be done in the agent's current status."))
        policy = await level_policy(agent["level"])
        wallet = await ledger.agent_account(agent_id, ledger.WALLET)
        postings = []
        if policy["deposit_fen"]:
            deposit = await ledger.agent_account(agent_id, ledger.DEPOSIT)
            postings += transfer(wallet, deposit, FEN, policy["deposit_fen"])
        if policy["franchise_fee_fen"]:  # to the holder: the operator, or the parent's receipts
            if agent["parent"] is None:
                fees = await ledger.system_account(ledger.OPERATOR_FEES)
            else:
                fees = await ledger.agent_account(agent["parent"], ledger.RECEIPTS)
            postings += transfer(wallet, fees, FEN, policy["franchise_fee_fen"])
        if postings:
            try:
                await ledger.post(
                    "onboarding",
                    postings,
                    memo=stored_text.message(N_("Deposit and franchise fee")),
                    user_id=actor.user_id,
                    ref_type="agent",
                    ref_id=agent_id,
                )
            except ledger.InsufficientBalance:
                raise FeesNotCovered() from None
        await audit.record(
            actor,
            "agent.activate",
            target_type="agent",
            target_id=agent_id,
            scope_path=agent["path"],
            before={"status": "applied"},
            after={"status": "active", **policy},
        )
        return {
            "id": agent_id,
            "status": "active",
            "deposit_fen": policy["deposit_fen"],
            "franchise_fee_fen": policy["franchise_fee_fen"],
        }

    return await run_once(actor, idempotency_key, "activate_agent", {"id": agent_id}, activate)


async def level_charges_fees(level: int) -> bool:
    policy = await level_policy(level)
    return bool(policy["deposit_fen"] or policy["franchise_fee_fen"])


async def create_agent(actor: Actor, parent_id: int | None, data: dict[str, object], **options: Any) -> dict[str, Any]:
    """agency.agents.create_agent, starting `applied` where the level charges a deposit or a
    franchise fee, so that activation collects them first."""
    return await agents.create_agent(actor, parent_id, data, needs_onboarding=level_charges_fees, **options)


async def apply_due_terminations(at: dt.datetime | None = None) -> int:
    """Terminate the agents whose notice has run out, and return their deposits to their
    wallets (R-11), in one transaction."""
    async with transaction():
        terminated = await agents.terminate_due_agents(at)
        for agent_id in terminated:
            await ledger.return_deposit(agent_id)
    return len(terminated)
