"""Remittances (汇款, R-11): an agent records money it sent to its seller (the operator, or its
parent agent); the seller confirms receipt, which credits the agent's wallet, or rejects it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from agency import audit
from agency.agents import get_agent, valid_id
from agency.roles import Actor
from agency.tree import in_subtree
from agency.users import check_operation_password
from core import sql, stored_text
from core.clock import now
from core.db import fetch_page
from core.errors import N_, Conflict, Forbidden, NotFound, ValidationFailed
from core.units import FEN, parse_yuan
from core.uploads import checked_upload
from core.validation import Checker
from money import ledger
from money.idempotency import NO_KEY, run_once
from money.ledger import transfer
from money.tables import Remittance
from stats import daily

COLUMNS = (
    Remittance.id,
    Remittance.agent,
    Remittance.seller,
    Remittance.amount_fen,
    Remittance.bank_reference,
    Remittance.remitted_on,
    Remittance.status,
    Remittance.note,
    Remittance.slip_name,
    Remittance.created_at,
    Remittance.decided_at,
    Remittance.decision_note,
    Remittance.agent.brand_name.as_alias("agent_name"),
    Remittance.agent.path.as_alias("agent_path"),
)
# A bank reference compared as a bank statement would: case and spaces do not make it another one.
REFERENCE_KEY = "UPPER(REPLACE(bank_reference, ' ', ''))"


class DuplicateBankReference(Conflict):
    """The sender already recorded this bank reference (and it was not rejected): most likely the
    same transfer twice. Recorded anyway only when the sender confirms it is another one."""

    message = N_(
        "You already recorded a remittance with the bank reference %(reference)s (sent on %(day)s). "
        "Record it again only if it is another transfer."
    )


def reference_key(reference: str) -> str:
    return reference.replace(" ", "").upper()


async def _earlier_with_reference(agent_id: int, reference: str) -> dict[str, Any] | None:
    """The sender's own earlier remittance with this reference that was not rejected, if any."""
    rows = await sql.fetch(
        f"SELECT id, remitted_on FROM remittance WHERE agent = {{}} AND status <> 'rejected' "
        f"AND {REFERENCE_KEY} = {{}} ORDER BY id LIMIT 1",
        agent_id,
        reference_key(reference),
    )
    return rows[0] if rows else None


async def record_remittance(
    actor: Actor,
    data: dict[str, object],
    slip: tuple[str, bytes] | None = None,
    *,
    idempotency_key: object = None,
) -> dict[str, Any]:
    """The actor's agent says it sent money to its seller. With an idempotency key (the form
    always sends one; the API accepts one) a retry returns the first record instead of a second
    one; recording moves no money, so a client without a key may still record. A bank reference
    the agent already used is refused (DuplicateBankReference) unless `data["confirm_duplicate"]`."""
    if actor.is_operator or not actor.can("record_remittance"):
        raise Forbidden()
    agent = await get_agent(actor, actor.agent_id)
    amount = parse_yuan("amount", data.get("amount"))
    check = Checker(data)
    check.text("bank_reference", max_len=100)
    check.text("note", max_len=200, required=False)
    fields = check.done()
    try:
        remitted_on = dt.date.fromisoformat(str(data.get("remitted_on", "")))
    except ValueError:
        raise ValidationFailed({"remitted_on": N_("The format is not valid.")}) from None
    if remitted_on > now().date() + dt.timedelta(days=1) or remitted_on < now().date() - dt.timedelta(days=366):
        raise ValidationFailed({"remitted_on": N_("The date must be within the last year.")})
    slip_fields: dict[str, Any] = {}
    if slip is not None and slip[1]:
        name, content = slip
        safe_name, media_type = checked_upload("slip", name, content)
        slip_fields = {"slip_name": safe_name, "slip_type": media_type, "slip": content}

    async def record() -> dict[str, Any]:
        # Checked inside run_once: a retry of the first record gets that record, not this refusal.
        earlier = await _earlier_with_reference(agent["id"], fields["bank_reference"])
        if earlier is not None and data.get("confirm_duplicate") not in (True, "1", "true", "on"):
            raise DuplicateBankReference(reference=fields["bank_reference"], day=str(earlier["remitted_on"]))
        rows = await Remittance.insert(
            Remittance(
                agent=agent["id"],
                seller=agent["parent"],
                amount_fen=amount,
                bank_reference=fields["bank_reference"],
                note=fields.get("note", ""),
                remitted_on=remitted_on,
                status="pending",
                created_by=actor.user_id,
                created_at=now(),
                **slip_fields,
            )
        ).returning(Remittance.id)
        remittance_id = rows[0]["id"]
        await audit.record(
            actor,
            "remittance.record",
            target_type="remittance",
            target_id=remittance_id,
            scope_path=agent["path"],
            after={"amount_fen": amount, "bank_reference": fields["bank_reference"]},
        )
        return {"id": remittance_id}

    params = {**fields, "amount": amount, "remitted_on": remitted_on.isoformat(), "slip": slip_fields.get("slip_name")}
    key = NO_KEY if idempotency_key is None else idempotency_key
    remittance_id = (await run_once(actor, key, "record_remittance", params, record))["id"]
    return await get_remittance(actor, remittance_id)


def _scope(actor: Actor):
    """Remittances of agents in the actor's subtree (its own, and those its sub-agents sent)."""
    return in_subtree(actor, Remittance.agent.path)


async def list_remittances(
    actor: Actor,
    *,
    status: str = "",
    to_me: bool = False,
    mine: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """`to_me`: only those the actor's side must decide (sent to the operator, or to its agent);
    `mine`: only those the actor's own agent sent (none for the operator, who sends none)."""
    if not actor.can("view_money") and not actor.can("confirm_remittance"):
        raise Forbidden()
    if mine and actor.is_operator:
        return [], 0
    conditions = [_scope(actor)]
    if status in ("pending", "confirmed", "rejected"):
        conditions.append(Remittance.status == status)
    if to_me:
        conditions.append(Remittance.seller.is_null() if actor.is_operator else Remittance.seller == actor.agent_id)
    if mine:
        conditions.append(Remittance.agent == actor.agent_id)
    return await fetch_page(
        Remittance.select(*COLUMNS), Remittance.count(), conditions, Remittance.id, page=page, per_page=per_page
    )


async def shared_references(actor: Actor, rows: list[dict[str, Any]]) -> set[int]:
    """The ids among `rows` (remittances sent to the actor's side) whose bank reference another
    remittance to the same side also carries, rejected ones aside: the decider is warned, since
    one transfer may have been recorded twice, or by two senders."""
    keys = {reference_key(row["bank_reference"]) for row in rows}
    if not keys:
        return set()
    seller = "seller IS NULL" if actor.is_operator else "seller = {}"
    found = await sql.fetch(
        f"SELECT {REFERENCE_KEY} AS reference, COUNT(*) AS n FROM remittance "
        f"WHERE {seller} AND status <> 'rejected' AND {REFERENCE_KEY} IN ({sql.marks(keys)}) "
        f"GROUP BY {REFERENCE_KEY}",
        *([] if actor.is_operator else [actor.agent_id]),
        *keys,
    )
    shared = {row["reference"] for row in found if row["n"] > 1}
    return {row["id"] for row in rows if reference_key(row["bank_reference"]) in shared}


async def get_remittance(actor: Actor, remittance_id: int) -> dict[str, Any]:
    if not valid_id(remittance_id):
        raise NotFound()
    query = Remittance.select(*COLUMNS, Remittance.slip_type).where(Remittance.id == remittance_id)
    if (scope := _scope(actor)) is not None:
        query = query.where(scope)
    row = await query.first()
    if row is None:
        raise NotFound()
    return row


async def slip_of(actor: Actor, remittance_id: int) -> tuple[str, str, bytes]:
    row = await get_remittance(actor, remittance_id)
    data = await Remittance.select(Remittance.slip).where(Remittance.id == remittance_id).first()
    if not data["slip"]:
        raise NotFound()
    return row["slip_name"], row["slip_type"], bytes(data["slip"])


def _decision_note(note: object, confirm: bool) -> str:
    """The decider's words, required for a rejection. (Checked only while the remittance is
    pending: a decided one answers with its conflict, or a retry with its first answer.)"""
    check = Checker({"note": note})
    check.text("note", max_len=200, required=not confirm)
    if check.errors.get("note") == N_("This field is required."):
        check.errors["note"] = N_("Say why it is rejected: the sender sees this reason.")
    return str(check.done().get("note", ""))


async def decide_remittance(
    actor: Actor,
    remittance_id: int,
    *,
    confirm: bool,
    operation_password: object,
    idempotency_key: object,
    note: object = "",
) -> dict[str, Any]:
    """The seller confirms (crediting the agent's wallet) or rejects a pending remittance. A
    rejection needs a reason (`note`), which the sender sees beside its remittance."""
    if not actor.can("confirm_remittance"):
        raise Forbidden()
    remittance = await get_remittance(actor, remittance_id)
    is_seller = remittance["seller"] is None if actor.is_operator else remittance["seller"] == actor.agent_id
    if not is_seller:
        raise Forbidden()
    note_text = _decision_note(note, confirm) if remittance["status"] == "pending" else ""
    await check_operation_password(actor, operation_password)

    async def decide() -> dict[str, Any]:
        at = now()
        moved = (
            await Remittance.update(
                {
                    Remittance.status: "confirmed" if confirm else "rejected",
                    Remittance.decided_by: actor.user_id,
                    Remittance.decided_at: at,
                    Remittance.decision_note: note_text,
                }
            )
            .where((Remittance.id == remittance_id) & (Remittance.status == "pending"))
            .returning(Remittance.id)
        )
        if not moved:
            raise Conflict(N_("This remittance was already decided."))
        if confirm:
            amount = remittance["amount_fen"]
            # The seller is the agent's holder: the money comes from what it confirmed as received.
            source = await ledger.holder_account(remittance["seller"], ledger.INFLOW)
            wallet = await ledger.agent_account(remittance["agent"], ledger.WALLET)
            txn_id = await ledger.post(
                "remittance",
                transfer(source, wallet, FEN, amount),
                memo=stored_text.message(N_("Remittance %(reference)s"), reference=remittance["bank_reference"]),
                user_id=actor.user_id,
                ref_type="remittance",
                ref_id=remittance_id,
                at=at,
            )
            await Remittance.update({Remittance.txn: txn_id}).where(Remittance.id == remittance_id)
            daily.count(remittance["agent"], at, remitted_fen=amount)
        await audit.record(
            actor,
            "remittance.confirm" if confirm else "remittance.reject",
            target_type="remittance",
            target_id=remittance_id,
            scope_path=remittance["agent_path"],
            before={"status": "pending"},
            after={"status": "confirmed" if confirm else "rejected", **({"note": note_text} if note_text else {})},
        )
        return {
            "id": remittance_id,
            "status": "confirmed" if confirm else "rejected",
            "amount_fen": remittance["amount_fen"],
        }

    return await run_once(
        actor, idempotency_key, "decide_remittance", {"id": remittance_id, "confirm": confirm}, decide
    )
