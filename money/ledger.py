"""The double-entry ledger (R-4 to R-8).

Every change of money (fen) or airtime (seconds) is one journal transaction whose entries sum to
zero per unit. Customer-facing accounts (wallets, stock, held deposits) keep a cached balance that
moves in the same database transaction, by one conditional UPDATE (`… WHERE balance >= debit`),
never read-modify-write; a CHECK (PostgreSQL) or trigger (SQLite) refuses a negative one as a last
line. System accounts keep no cached balance: their balance is the sum of their entries. Every
purchase touches the operator's system accounts, so a cached balance there would be one row that
all purchases in the country queue on.
Entries are never updated or deleted: a mistake is reversed by a new transaction."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from core import sql, stored_text
from core.clock import now
from core.db import fetch_page
from core.errors import N_, DomainError
from core.units import FEN, SECONDS
from money.tables import JournalEntry, JournalTransaction, LedgerAccount

# Account kinds of an agent (MONEY.md). Wallet, stock, held deposit and sales receipts are
# customer-facing: cached balances that never go below zero.
# - wallet: money the agent's holder (its seller: the operator for level 1, else the parent)
#   holds for it, spendable only with that holder;
# - receipts: money the agent collected from its sub-agents (bundles, fees); it holds it in the
#   real world already, so it is not spendable with its own seller (R-11a);
# - inflow, adjustments: the agent as a holder: money it confirmed as received from its sub-agents,
#   and its corrections and penalties on them; system-like, they may go negative.
WALLET, STOCK, DEPOSIT, ESCROW, SYSTEM = "wallet", "stock", "deposit", "escrow", "system"
RECEIPTS, INFLOW, ADJUSTMENTS = "receipts", "inflow", "adjustments"
AGENT_ACCOUNTS = {
    WALLET: FEN,
    STOCK: SECONDS,
    DEPOSIT: FEN,
    ESCROW: SECONDS,  # minutes on unused cards
    RECEIPTS: FEN,
    INFLOW: FEN,
    ADJUSTMENTS: FEN,
}
# Card escrow is a system account (SPEC R-6) kept per agent: the cards' states guarantee it, and
# without a cached balance every redemption of one agent's cards does not queue on one row.
CACHED_AGENT_ACCOUNTS = (WALLET, STOCK, DEPOSIT)
CUSTOMER_FACING = (*CACHED_AGENT_ACCOUNTS, RECEIPTS)
SUBSCRIBER = "subscriber"

# System accounts: the operator's side of the business; they may go negative by nature.
OPERATOR_ISSUANCE = ("operator:issuance", SECONDS)  # the operator's unlimited stock of airtime
OPERATOR_REVENUE = ("operator:revenue", FEN)  # what agents paid the operator for bundles
OPERATOR_FEES = ("operator:franchise-fees", FEN)
OPERATOR_INFLOW = ("outside:remittances", FEN)  # money the operator confirmed as received from level 1
OPERATOR_ADJUSTMENTS = ("operator:adjustments", FEN)  # the operator's corrections and penalties


class InsufficientBalance(DomainError):
    message = N_("Not enough balance for this operation; nothing was changed.")

    def __init__(self, account_id: int | None = None) -> None:
        self.account_id = account_id  # the account that would have gone below zero
        super().__init__()


class UnbalancedTransaction(Exception):
    """A programming error: entries that do not sum to zero per unit."""


@dataclass(frozen=True)
class Posting:
    account_id: int
    unit: str
    amount: int  # signed: + credit to the account's balance, - debit


def transfer(source: int, target: int, unit: str, amount: int) -> list[Posting]:
    """The two entries that move `amount` of `unit` from one account to another."""
    return [Posting(source, unit, -amount), Posting(target, unit, amount)]


def check_balanced(postings: list[Posting]) -> None:
    """Pure: entries sum to zero per unit, amounts are non-zero integers."""
    totals: dict[str, int] = defaultdict(int)
    for p in postings:
        if not isinstance(p.amount, int) or isinstance(p.amount, bool) or p.amount == 0:
            raise UnbalancedTransaction(f"bad amount {p.amount!r}")
        totals[p.unit] += p.amount
    if any(totals.values()) or not postings:
        raise UnbalancedTransaction(f"entries do not sum to zero: {dict(totals)}")


async def _account(code: str, kind: str, unit: str, agent_id: int | None, customer_facing: bool) -> int:
    """The id of the account with this code, created on first use."""
    row = await sql.fetch_one("SELECT id FROM ledger_account WHERE code = {}", code)
    if row is None:
        await sql.execute(
            "INSERT INTO ledger_account (code, kind, unit, agent, customer_facing, balance) "
            "VALUES ({}, {}, {}, {}, {}, 0) ON CONFLICT (code) DO NOTHING",
            code,
            kind,
            unit,
            agent_id,
            customer_facing,
        )
        row = await sql.fetch_one("SELECT id FROM ledger_account WHERE code = {}", code)
    return row["id"]


async def agent_account(agent_id: int, kind: str) -> int:
    """The id of one of an agent's accounts (AGENT_ACCOUNTS), created on first use."""
    cached = kind in CUSTOMER_FACING
    return await _account(f"agent:{agent_id}:{kind}", kind, AGENT_ACCOUNTS[kind], agent_id, cached)


async def holder_account(holder_id: int | None, kind: str) -> int:
    """A holder's inflow or adjustments account: the operator's (holder None) or an agent's."""
    if holder_id is None:
        return await system_account(OPERATOR_INFLOW if kind == INFLOW else OPERATOR_ADJUSTMENTS)
    return await agent_account(holder_id, kind)


def subscriber_code(subscriber_id: int) -> str:
    return f"subscriber:{subscriber_id}"


async def subscriber_account(subscriber_id: int, agent_id: int) -> int:
    """The balance (seconds) of a subscriber account, kept under its owning agent."""
    return await _account(subscriber_code(subscriber_id), SUBSCRIBER, SECONDS, agent_id, True)


async def subscriber_balance(subscriber_id: int) -> int:
    """A subscriber's balance in seconds, in one query (0 before the account's first entry)."""
    row = (
        await LedgerAccount.select(LedgerAccount.balance)
        .where(LedgerAccount.code == subscriber_code(subscriber_id))
        .first()
    )
    return row["balance"] if row else 0


async def account_balance(account_id: int) -> int:
    return (await sql.fetch_one("SELECT balance FROM ledger_account WHERE id = {}", account_id))["balance"]


async def system_account(spec: tuple[str, str]) -> int:
    code, unit = spec
    return await _account(code, SYSTEM, unit, None, False)


async def post(
    kind: str,
    postings: list[Posting],
    *,
    memo: str = "",
    user_id: int | None = None,
    ref_type: str = "",
    ref_id: object = "",
    at: dt.datetime | None = None,
) -> int:
    """Record one journal transaction (at `at`, now by default) and move the cached balances. Call
    inside the use case's database transaction; raises InsufficientBalance (and the caller's
    transaction rolls back) when a customer-facing account would go below zero."""
    check_balanced(postings)
    ids = sorted({p.account_id for p in postings})
    # Fixed SQL (core/sql.py): every purchase, card and recharge passes here.
    cached = {
        row["id"]
        for row in await sql.fetch(
            f"SELECT id FROM ledger_account WHERE id IN ({sql.marks(ids)}) AND customer_facing", *ids
        )
    }
    # Same order in every transaction, so two transactions never wait on each other in a cycle.
    for posting in sorted(postings, key=lambda p: p.account_id):
        if posting.account_id not in cached:
            continue  # a system account: its balance is the sum of its entries
        if posting.amount < 0:
            moved = await sql.fetch(
                "UPDATE ledger_account SET balance = balance + {} WHERE id = {} AND balance >= {} RETURNING id",
                posting.amount,
                posting.account_id,
                -posting.amount,
            )
        else:
            moved = await sql.fetch(
                "UPDATE ledger_account SET balance = balance + {} WHERE id = {} RETURNING id",
                posting.amount,
                posting.account_id,
            )
        if not moved:
            raise InsufficientBalance(posting.account_id)
    txn = await sql.fetch_one(
        "INSERT INTO journal_transaction (kind, memo, user_id, ref_type, ref_id, created_at) "
        "VALUES ({}, {}, {}, {}, {}, {}) RETURNING id",
        kind,
        memo[:200],
        user_id,
        ref_type,
        str(ref_id),
        at or now(),
    )
    values = ", ".join("({}, {}, {}, {})" for _ in postings)
    await sql.execute(
        f"INSERT INTO journal_entry (txn, account, unit, amount) VALUES {values}",
        *(value for p in postings for value in (txn["id"], p.account_id, p.unit, p.amount)),
    )
    return txn["id"]


@dataclass(frozen=True)
class JournalItem:
    """One journal transaction of a batch (post_many): its entries, memo and unique reference."""

    postings: list[Posting]
    memo: str
    ref_id: str


MAX_ITEMS = 1000  # journal transactions a post_many writes at once (bounded by statement parameters)


async def post_many(kind: str, ref_type: str, items: list[JournalItem], *, at: dt.datetime | None = None) -> None:
    """Record many journal transactions of one kind at once (a batch of call records), with the
    rules of `post`: each balanced, no customer-facing balance below zero (InsufficientBalance,
    and the caller's transaction rolls back). A handful of statements whatever the count: the
    cached balances move by each account's net change in one UPDATE, and the transactions and
    their entries are inserted in one statement each. References are unique within the batch."""
    if not items:
        return
    if len(items) > MAX_ITEMS or len({item.ref_id for item in items}) != len(items):
        raise ValueError("post_many takes at most MAX_ITEMS items with unique references")
    for item in items:
        check_balanced(item.postings)
    ids = sorted({p.account_id for item in items for p in item.postings})
    # The customer-facing accounts, locked in id order as `post` takes them (PostgreSQL), so that two
    # batches, or a batch and a posting, never wait for each other in a cycle.
    lock = " ORDER BY id FOR UPDATE" if sql.engine_type() == "postgres" else ""
    facing = {
        row["id"]
        for row in await sql.fetch(
            f"SELECT id FROM ledger_account WHERE id IN ({sql.marks(ids)}) AND customer_facing{lock}", *ids
        )
    }
    net: dict[int, int] = defaultdict(int)
    for item in items:
        for posting in item.postings:
            if posting.account_id in facing:
                net[posting.account_id] += posting.amount
    moving = sorted((account, amount) for account, amount in net.items() if amount)
    if moving:
        changes = " UNION ALL ".join("SELECT CAST({} AS BIGINT) AS id, CAST({} AS BIGINT) AS amount" for _ in moving)
        moved = await sql.fetch(
            f"UPDATE ledger_account SET balance = ledger_account.balance + v.amount FROM ({changes}) AS v "
            "WHERE ledger_account.id = v.id AND (v.amount >= 0 OR ledger_account.balance + v.amount >= 0) "
            "RETURNING ledger_account.id",
            *(value for change in moving for value in change),
        )
        if len(moved) < len(moving):
            short = sorted({account for account, _amount in moving} - {row["id"] for row in moved})
            raise InsufficientBalance(short[0])
    at = at or now()
    rows = ", ".join("({}, {}, {}, {}, {}, {})" for _ in items)
    made = await sql.fetch(
        f"INSERT INTO journal_transaction (kind, memo, user_id, ref_type, ref_id, created_at) VALUES {rows} "
        "RETURNING id, ref_id",
        *(value for item in items for value in (kind, item.memo[:200], None, ref_type, item.ref_id, at)),
    )
    txn_of = {row["ref_id"]: row["id"] for row in made}
    entries = [(txn_of[item.ref_id], p.account_id, p.unit, p.amount) for item in items for p in item.postings]
    values = ", ".join("({}, {}, {}, {})" for _ in entries)
    await sql.execute(
        f"INSERT INTO journal_entry (txn, account, unit, amount) VALUES {values}",
        *(value for entry in entries for value in entry),
    )


async def entries_total(code: str) -> int:
    """The balance of an account kept without a cache: the sum of its entries (0 if none)."""
    rows = await JournalEntry.raw(
        "SELECT COALESCE(SUM(e.amount), 0) AS total FROM journal_entry e JOIN ledger_account a ON a.id = e.account "
        "WHERE a.code = {}",
        code,
    )
    return int(rows[0]["total"])


async def system_balance(spec: tuple[str, str]) -> int:
    """The balance of a system account: the sum of its entries."""
    return await entries_total(spec[0])


async def balances(agent_id: int) -> dict[str, int]:
    """An agent's wallet (fen), stock (seconds), held deposit (fen) and card escrow (seconds, the
    sum of its entries); 0 where never used."""
    escrow = await entries_total(f"agent:{agent_id}:{ESCROW}")
    return {**await _cached_balances(agent_id, list(CACHED_AGENT_ACCOUNTS)), ESCROW: escrow}


async def _cached_balances(agent_id: int, kinds: list[str]) -> dict[str, int]:
    """The cached balances of these of an agent's accounts, in one query; 0 where never used."""
    rows = await LedgerAccount.select(LedgerAccount.kind, LedgerAccount.balance).where(
        (LedgerAccount.agent == agent_id) & LedgerAccount.kind.is_in(kinds)
    )
    found = {r["kind"]: r["balance"] for r in rows}
    return {kind: found.get(kind, 0) for kind in kinds}


async def wallet_and_stock(agent_id: int) -> dict[str, int]:
    """An agent's wallet (fen) and stock (seconds): what the header of every page shows its users."""
    return await _cached_balances(agent_id, [WALLET, STOCK])


async def receipts_of(agent_id: int) -> int:
    """Fen an agent collected from its sub-agents (bundles, fees): not spendable with its seller."""
    row = await sql.fetch_one("SELECT balance FROM ledger_account WHERE code = {}", f"agent:{agent_id}:{RECEIPTS}")
    return row["balance"] if row else 0


@dataclass
class JournalFilter:
    kind: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    counterparty: int | None = None  # an agent id: entries of transactions that touched its accounts


async def journal(
    agent_id: int, account_kind: str, flt: JournalFilter, *, page: int = 1, per_page: int = 50
) -> tuple[list[dict[str, Any]], int]:
    """Entries of one of an agent's accounts, newest first, with their transaction."""
    return await entries_of(await agent_account(agent_id, account_kind), flt, page=page, per_page=per_page)


async def entries_of(
    account_id: int, flt: JournalFilter, *, page: int = 1, per_page: int = 50
) -> tuple[list[dict[str, Any]], int]:
    """Entries of one account, newest first, with their transaction."""
    condition = JournalEntry.account == account_id
    if flt.kind:
        condition &= JournalEntry.txn.kind == flt.kind
    if flt.since:
        condition &= JournalEntry.txn.created_at >= flt.since
    if flt.until:
        condition &= JournalEntry.txn.created_at < flt.until
    if flt.counterparty is not None:
        touched = JournalEntry.select(JournalEntry.txn).where(JournalEntry.account.agent == flt.counterparty)
        condition &= JournalEntry.txn.is_in(touched)
    query = JournalEntry.select(
        JournalEntry.id,
        JournalEntry.amount,
        JournalEntry.unit,
        JournalEntry.txn.id.as_alias("txn_id"),
        JournalEntry.txn.kind.as_alias("kind"),
        JournalEntry.txn.memo.as_alias("memo"),
        JournalEntry.txn.created_at.as_alias("at"),
        JournalEntry.txn.ref_type.as_alias("ref_type"),
        JournalEntry.txn.ref_id.as_alias("ref_id"),
    )
    return await fetch_page(query, JournalEntry.count(), [condition], JournalEntry.id, page=page, per_page=per_page)


@dataclass
class VerifyReport:
    """What `voipagency ledger verify` prints (R-8)."""

    transactions: int = 0
    entries: int = 0
    accounts: int = 0
    breaches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaches


async def verify() -> VerifyReport:
    """Check every invariant of the ledger with set-based queries (fast at millions of rows)."""
    report = VerifyReport(
        transactions=await JournalTransaction.count(),
        entries=await JournalEntry.count(),
        accounts=await LedgerAccount.count(),
    )
    for row in await JournalEntry.raw(
        "SELECT txn, unit, SUM(amount) AS total FROM journal_entry GROUP BY txn, unit HAVING SUM(amount) <> 0"
    ):
        report.breaches.append(f"transaction {row['txn']} does not sum to zero in {row['unit']}: {row['total']}")
    for row in await JournalEntry.raw(
        "SELECT a.id, a.code, a.balance, COALESCE(e.total, 0) AS total FROM ledger_account a "
        "LEFT JOIN (SELECT account, SUM(amount) AS total FROM journal_entry GROUP BY account) e ON e.account = a.id "
        "WHERE a.customer_facing AND a.balance <> COALESCE(e.total, 0)"
    ):
        report.breaches.append(f"account {row['code']}: cached balance {row['balance']} != entries {row['total']}")
    for row in await LedgerAccount.raw(
        "SELECT code, balance FROM ledger_account WHERE NOT customer_facing AND balance <> 0"
    ):
        report.breaches.append(f"system account {row['code']} carries a cached balance {row['balance']}")
    for row in await JournalEntry.raw(
        "SELECT e.id, e.unit, a.code, a.unit AS account_unit FROM journal_entry e "
        "JOIN ledger_account a ON a.id = e.account WHERE e.unit <> a.unit"
    ):
        report.breaches.append(f"entry {row['id']} in {row['unit']} on {row['code']} kept in {row['account_unit']}")
    for row in await LedgerAccount.raw(
        "SELECT code, balance FROM ledger_account WHERE customer_facing AND balance < 0"
    ):
        report.breaches.append(f"customer-facing account {row['code']} is negative: {row['balance']}")
    # All accounts together: customer balances (cached) plus system balances (their entries).
    for row in await LedgerAccount.raw(
        "SELECT unit, SUM(total) AS total FROM ("
        " SELECT unit, balance AS total FROM ledger_account WHERE customer_facing"
        " UNION ALL SELECT e.unit, e.amount FROM journal_entry e JOIN ledger_account a ON a.id = e.account"
        " WHERE NOT a.customer_facing) AS parts GROUP BY unit HAVING SUM(total) <> 0"
    ):
        report.breaches.append(f"all accounts in {row['unit']} sum to {row['total']}, not zero")
    await _check_holders(report)
    return report


# Who may credit what (R-11a): a wallet only from its holder's inflow or adjustments, or from its
# own held deposit; sales receipts only from the wallets of the holder's own sub-agents.
_CREDIT_FROM_WHOM = """
SELECT DISTINCT c.txn, t.code AS target, s.code AS source FROM journal_entry c
JOIN ledger_account t ON t.id = c.account
JOIN agent g ON g.id = t.agent
JOIN journal_entry d ON d.txn = c.txn AND d.amount < 0 AND d.unit = c.unit
JOIN ledger_account s ON s.id = d.account
LEFT JOIN agent sg ON sg.id = s.agent
WHERE c.amount > 0 AND (
  (t.kind = 'wallet' AND NOT (
     (s.kind = 'deposit' AND s.agent = t.agent)
     OR (s.kind IN ('inflow', 'adjustments') AND s.agent = g.parent)
     OR (g.parent IS NULL AND s.code IN ({}, {}))))
  OR (t.kind = 'receipts' AND NOT (s.kind = 'wallet' AND sg.parent = t.agent)))
"""


async def _check_holders(report: VerifyReport) -> None:
    """No wallet grew except by its holder, and each holder accounts for every fen it confirmed:
    what came in (less its adjustments' net) equals what its sub-agents hold in wallets and
    deposits, plus what it took from them (the operator: revenue and fees; an agent: receipts)."""
    for row in await sql.fetch(_CREDIT_FROM_WHOM, OPERATOR_INFLOW[0], OPERATOR_ADJUSTMENTS[0]):
        report.breaches.append(f"transaction {row['txn']} credits {row['target']} from {row['source']}")
    balances = await sql.fetch(
        "SELECT a.code, a.kind, a.agent, g.parent, "
        "CASE WHEN a.customer_facing THEN a.balance ELSE COALESCE(e.total, 0) END AS balance "
        "FROM ledger_account a LEFT JOIN agent g ON g.id = a.agent "
        "LEFT JOIN (SELECT account, SUM(amount) AS total FROM journal_entry GROUP BY account) e ON e.account = a.id "
        "WHERE a.unit = {}",
        FEN,
    )
    came_in: dict[int | None, int] = defaultdict(int)  # per holder (None: the operator)
    accounted: dict[int | None, int] = defaultdict(int)
    for row in balances:
        kind, balance = row["kind"], int(row["balance"])
        if kind in (INFLOW, ADJUSTMENTS):
            came_in[row["agent"]] -= balance
        elif kind in (WALLET, DEPOSIT):
            accounted[row["parent"]] += balance
        elif kind == RECEIPTS:
            accounted[row["agent"]] += balance
        elif row["code"] in (OPERATOR_INFLOW[0], OPERATOR_ADJUSTMENTS[0]):
            came_in[None] -= balance
        elif row["code"] in (OPERATOR_REVENUE[0], OPERATOR_FEES[0]):
            accounted[None] += balance
    for holder in sorted(set(came_in) | set(accounted), key=lambda h: -1 if h is None else h):
        if came_in[holder] != accounted[holder]:
            who = "the operator" if holder is None else f"agent {holder}"
            report.breaches.append(
                f"{who} confirmed {came_in[holder]} fen but its sub-agents and takings account for {accounted[holder]}"
            )


async def return_deposit(agent_id: int) -> int:
    """Move an agent's whole held deposit back to its wallet (at termination); returns fen."""
    deposit = await agent_account(agent_id, DEPOSIT)
    held = await account_balance(deposit)
    if held:
        wallet = await agent_account(agent_id, WALLET)
        await post(
            "deposit_return",
            transfer(deposit, wallet, FEN, held),
            memo=stored_text.message(N_("Deposit returned at termination")),
            ref_type="agent",
            ref_id=agent_id,
        )
    return held
