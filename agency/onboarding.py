"""Onboarding fees (R-11): activating an applied agent charges its level's refundable deposit
(held until termination) and non-refundable franchise fee from its wallet, in one transaction;
activation is refused until the wallet covers both."""

from __future__ import annotations

from typing import Any

from agency import audit, ledger
from agency.agents import get_managed
from agency.errors import N_, Conflict
from agency.idempotency import run_once
from agency.ledger import transfer
from agency.prices import level_policy
from agency.roles import Actor
from agency.tables import Agent
from agency.units import FEN
from agency.users import check_operation_password


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
        if policy["franchise_fee_fen"]:
            fees = await ledger.system_account(ledger.OPERATOR_FEES)
            postings += transfer(wallet, fees, FEN, policy["franchise_fee_fen"])
        if postings:
            try:
                await ledger.post(
                    "onboarding",
                    postings,
                    memo="deposit and franchise fee",
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
