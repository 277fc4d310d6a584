"""Tables of the agent tree, users, sessions and the audit log."""

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


class Agent(Table):
    """A node of the agent tree. `path` is the materialized path ("/00000001/00000007/")
    so that a whole subtree is one index range scan, never a recursive walk."""

    id = Serial(primary_key=True)
    parent = ForeignKey("self", null=True, index=True)
    path = Varchar(length=200, unique=True)
    level = Integer()
    brand_name = Varchar(length=100, index=True)
    contact_person = Varchar(length=100)
    phone = Varchar(length=32)
    address = Varchar(length=200, default="")
    timezone = Varchar(length=64, default="Asia/Shanghai")
    calling_hours = Varchar(length=16, default="")  # "08:00-19:30" in its time zone; "" = any time
    status = Varchar(length=16, default="active", index=True)
    notice_at = Timestamptz(null=True, default=None)
    terminates_at = Timestamptz(null=True, default=None)
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz()


class User(Table, tablename="app_user"):
    """An operator staff member (agent is null) or a user of one agent."""

    id = Serial(primary_key=True)
    username = Varchar(length=64, unique=True)
    display_name = Varchar(length=100, default="")
    role = Varchar(length=16)
    agent = ForeignKey(Agent, null=True, index=True)
    password_hash = Varchar(length=200)
    operation_password_hash = Varchar(length=200, null=True, default=None)
    is_active = Boolean(default=True)
    created_at = Timestamptz()


class UserSession(Table):
    """A server-side login session; the cookie carries a random token, the table only its hash."""

    id = Serial(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    user = ForeignKey(User, index=True)
    created_at = Timestamptz()
    last_seen_at = Timestamptz()
    expires_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)
    address = Varchar(length=64, default="")
    user_agent = Varchar(length=200, default="")


class ApiToken(Table):
    """A bearer token for the JSON API; only its hash is stored."""

    id = Serial(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    user = ForeignKey(User, index=True)
    name = Varchar(length=64)
    created_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)


class LoginThrottle(Table):
    """Failure counters per key ("user:NAME", "addr:IP", "op:USER_ID") for growing delays."""

    id = Serial(primary_key=True)
    key = Varchar(length=120, unique=True)
    failures = Integer(default=0)
    window_start = Timestamptz()
    locked_until = Timestamptz(null=True, default=None)


class AuditEntry(Table):
    """Append-only record of a state change. `scope_path` is the path of the agent the
    action concerns ("" for operator-level actions), so subtree queries are a range scan."""

    id = Serial(primary_key=True)
    at = Timestamptz(index=True)
    user_id = Integer(null=True, default=None)
    username = Varchar(length=64, default="")
    role = Varchar(length=16, default="")
    actor_agent_id = Integer(null=True, default=None)
    address = Varchar(length=64, default="")
    action = Varchar(length=64, index=True)
    target_type = Varchar(length=32, default="")
    target_id = Varchar(length=64, default="")
    scope_path = Varchar(length=200, default="", index=True)
    before = JSON(null=True, default=None)
    after = JSON(null=True, default=None)


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


class IdempotencyRecord(Table):
    """The first result of a money operation under a client's idempotency key (R-7)."""

    id = Serial(primary_key=True)
    scoped_key = Varchar(length=140, unique=True)  # "<user id>:<client key>"
    request_hash = Varchar(length=64)
    response = JSON()
    created_at = Timestamptz()
