"""Tables of the money side: the ledger's accounts and journal, price lists and level policies,
bundle orders, remittances and idempotency records.

They stay registered in the `agency` Piccolo app (`agency/piccolo_app.py` finds tables in this
module too), so the migration history, which created them in that app, stays as it is.
"""

from piccolo.columns import (
    JSON,
    BigInt,
    Boolean,
    Bytea,
    Date,
    ForeignKey,
    Integer,
    Serial,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from agency.tables import Agent


class LedgerAccount(Table):
    """An account of the double-entry ledger (R-6), in one unit: "fen" (money) or "sec"
    (airtime). Customer-facing accounts (agent wallets and stock) never go below zero: the
    database refuses it (a CHECK on PostgreSQL, a trigger on SQLite; see the migration)."""

    id = Serial(primary_key=True)
    code = Varchar(length=80, unique=True)
    agent = ForeignKey(Agent, null=True, index=True)
    kind = Varchar(length=16)
    unit = Varchar(length=4)
    customer_facing = Boolean(default=False)
    balance = BigInt(default=0)


class JournalTransaction(Table):
    """One business event; its entries sum to zero per unit. Never updated or deleted."""

    id = Serial(primary_key=True)
    kind = Varchar(length=32, index=True)
    memo = Varchar(length=200, default="")
    user_id = Integer(null=True, default=None)
    ref_type = Varchar(length=32, default="")
    ref_id = Varchar(length=64, default="")
    created_at = Timestamptz(index=True)


class JournalEntry(Table):
    id = Serial(primary_key=True)
    txn = ForeignKey(JournalTransaction, index=True)
    account = ForeignKey(LedgerAccount, index=True)
    unit = Varchar(length=4)
    amount = BigInt()


class PriceTier(Table):
    """One tier of a price list. `seller` null is the operator's list for agents of `level`;
    otherwise the agent's list for its direct sub-agents (level = seller's level + 1)."""

    id = Serial(primary_key=True)
    seller = ForeignKey(Agent, null=True, index=True)
    level = Integer()
    min_minutes = Integer()
    price = Integer()  # 1/100 fen per minute


class LevelPolicy(Table):
    """The operator's settings per agent level: minimum first purchase, deposit, franchise fee."""

    id = Serial(primary_key=True)
    level = Integer(unique=True)
    min_first_purchase_minutes = Integer(default=0)
    deposit_fen = BigInt(default=0)
    franchise_fee_fen = BigInt(default=0)


class BundleOrder(Table):
    id = Serial(primary_key=True)
    number = Varchar(length=32, unique=True)
    buyer = ForeignKey(Agent, index=True)
    seller = ForeignKey(Agent, null=True, index=True)
    minutes = Integer()
    tier_min_minutes = Integer()
    unit_price = Integer()
    total_fen = BigInt()
    seller_cost_fen = BigInt(default=0)  # what the seller (an agent) would have paid for these minutes then
    txn = ForeignKey(JournalTransaction)
    user_id = Integer(null=True, default=None)
    created_at = Timestamptz(index=True)


class Remittance(Table):
    """Money an agent says it sent to its seller (the operator or its parent), waiting for the
    seller to confirm receipt (which credits the wallet) or reject it."""

    id = Serial(primary_key=True)
    agent = ForeignKey(Agent, index=True)
    seller = ForeignKey(Agent, null=True, index=True)
    amount_fen = BigInt()
    bank_reference = Varchar(length=100)
    remitted_on = Date()
    status = Varchar(length=16, default="pending", index=True)
    note = Varchar(length=200, default="")
    slip_name = Varchar(length=120, default="")
    slip_type = Varchar(length=40, default="")
    slip = Bytea(null=True, default=None)
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz()
    decided_by = Integer(null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    txn = ForeignKey(JournalTransaction, null=True, default=None)
    decision_note = Varchar(length=200, default="")  # the decider's words; a rejection's reason, shown to the sender


class PayeeBankDetails(Table):
    """Where those who remit to a holder send the money: the operator's account, or an agent's for
    its sub-agents. One row per holder; the remittance page of those who pay it shows it."""

    id = Serial(primary_key=True)
    holder = Integer(unique=True)  # the agent's id, or OPERATOR_HOLDER (0): unique, and never a null twice
    bank_name = Varchar(length=100)
    account_name = Varchar(length=100)
    account_number = Varchar(length=40)
    branch = Varchar(length=100, default="")
    updated_by = Integer(null=True, default=None)
    updated_at = Timestamptz()


class IdempotencyRecord(Table):
    """The first result of a money operation under a client's idempotency key (R-7)."""

    id = Serial(primary_key=True)
    scoped_key = Varchar(length=140, unique=True)  # "<user id>:<client key>"
    request_hash = Varchar(length=64)
    response = JSON()
    created_at = Timestamptz()
