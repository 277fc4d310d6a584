"""Keeping the daily figures (SPEC R-29) in the transaction of the operation that changes them.

A use case counts what it did (`count(agent, at, sold_seconds=…)`); the transaction gathers the
counts and, just before it commits, adds them in one statement to the agent's own row of the day,
to the subtree row of the agent and of each of its ancestors (read from the stored path, never by
walking the tree) and to one of the network's stripes; and the accounts it opened or closed to
the counts of accounts open now. So a figure is never late, the rows are locked only for the
commit, and a rating batch of a thousand calls writes one statement, not a thousand.

Why a subtree row per ancestor rather than summing the own rows of a subtree when asked: a
level-1 agent with half of 10,000 agents below it has 1.8 million own rows a year; its subtree
rows are 365. `stats verify` checks that each subtree row is the sum of the own rows below it.

The figures, METRICS, are exact integers: airtime in seconds, money in fen.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from core import sql
from core.clock import local_day
from core.db import before_commit

METRICS = (
    "bought_seconds",  # bought from the seller (the operator or the parent)
    "sold_seconds",  # sold to sub-agents
    "carded_seconds",  # put on cards (batches generated)
    "returned_seconds",  # voided or expired cards, back to stock
    "activated_cards",
    "activated_seconds",
    "redeemed_cards",  # recharge cards redeemed and e-cards that opened an account
    "redeemed_seconds",
    "consumed_seconds",  # charged for the calls of the agent's subscribers
    "calls",
    "opened_accounts",
    "closed_accounts",
    "remitted_fen",  # remittances confirmed into the wallet
    "paid_fen",  # paid for bundles
    "received_fen",  # received from sub-agents for bundles
    "margin_fen",  # on sales to sub-agents: what they paid minus the seller's own cost then
)
OWN, SUBTREE = "own", "subtree"
NETWORK_STRIPES = 16
NETWORK_PATH = "/"
Key = tuple[int, str, str]  # agent, scope, day
ROWS_PER_STATEMENT = 40  # 20 parameters a row, well within SQLite's limit on parameters


@dataclass
class _Pending:
    """What a transaction counted: figures by (agent, day), and the agents' paths its callers knew."""

    figures: dict[tuple[int, str], Counter] = field(default_factory=dict)
    paths: dict[int, str] = field(default_factory=dict)


def count(agent_id: int, at: dt.datetime, *, path: str | None = None, **figures: int) -> None:
    """Add to the agent's figures of the operator's day of `at`, when the current transaction
    commits. `path`: the agent's stored path, when the caller read it in this transaction (else
    it is read before the write)."""
    unknown = set(figures) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown figures: {sorted(unknown)}")
    pending = before_commit("stats.daily", _Pending, _write)
    pending.figures.setdefault((agent_id, local_day(at)), Counter()).update(figures)
    if path is not None:
        pending.paths[agent_id] = path


def ancestors(path: str) -> list[tuple[int, str]]:
    """(agent id, path) of the agent of `path` and of each of its ancestors, from the root down."""
    parts = [part for part in path.split("/") if part]
    return [(int(part), "/" + "/".join(parts[: i + 1]) + "/") for i, part in enumerate(parts)]


def network_stripe(agent_id: int) -> int:
    """The network row an agent's figures also go to: the operator's whole network is the sum of
    NETWORK_STRIPES rows a day (agents -1 to -NETWORK_STRIPES, path "/"), so that concurrent
    operations anywhere in the tree rarely wait for the same row, and the network's figures are
    still read from a few rows a day."""
    return -1 - agent_id % NETWORK_STRIPES


def expand(own: dict[tuple[int, str], Counter], paths: dict[int, str]) -> dict[Key, tuple[str, Counter]]:
    """The rows that agents' own figures of a day go to: (agent, scope, day) -> (path, figures):
    the agent's own row, the subtree row of it and of each ancestor, and its network stripe."""
    rows: dict[Key, tuple[str, Counter]] = {}
    for (agent, day), figures in own.items():
        path = paths[agent]
        targets = [(agent, OWN, path), *((a, SUBTREE, p) for a, p in ancestors(path))]
        targets.append((network_stripe(agent), SUBTREE, NETWORK_PATH))
        for target, scope, target_path in targets:
            rows.setdefault((target, scope, day), (target_path, Counter()))[1].update(figures)
    return rows


def open_changes(rows: dict[Key, tuple[str, Counter]]) -> Counter:
    """(agent, scope) -> how many more accounts are open, from rows of expand()."""
    changes: Counter = Counter()
    for (agent, scope, _day), (_path, figures) in rows.items():
        changes[(agent, scope)] += figures["opened_accounts"] - figures["closed_accounts"]
    return changes


async def _write(pending: _Pending) -> None:
    if not pending.figures:
        return
    paths = dict(pending.paths)
    if missing := sorted({agent for agent, _day in pending.figures} - set(paths)):
        found = await sql.fetch(f"SELECT id, path FROM agent WHERE id IN ({sql.marks(missing)})", *missing)
        paths.update((row["id"], row["path"]) for row in found)
    rows = expand(pending.figures, paths)
    await add_rows([(*key, path, figures) for key, (path, figures) in rows.items()])
    await add_open_accounts(open_changes(rows))


async def add_open_accounts(changes: Counter) -> None:
    """Add to the accounts open now per (agent, scope): what `active_accounts` counts back from,
    so that no query reads all the history for it."""
    changed = sorted((key, n) for key, n in changes.items() if n)
    for start in range(0, len(changed), ROWS_PER_STATEMENT):
        chunk = changed[start : start + ROWS_PER_STATEMENT]
        await sql.execute(
            "INSERT INTO agent_open_accounts (agent, scope, accounts) VALUES "
            + ", ".join("({}, {}, {})" for _ in chunk)
            + " ON CONFLICT (agent, scope) DO UPDATE SET accounts = agent_open_accounts.accounts + excluded.accounts",
            *(value for (agent, scope), n in chunk for value in (agent, scope, n)),
        )


async def add_rows(rows: list[tuple[int, str, str, str, Counter]]) -> None:
    """Add (agent, scope, day, path, figures) to the stored rows, creating those that are missing;
    in key order, so that two transactions never wait for each other's rows in a cycle."""
    rows = sorted(rows, key=lambda row: row[:3])
    columns = ", ".join(METRICS)
    additions = ", ".join(f"{name} = agent_day.{name} + excluded.{name}" for name in METRICS)
    row_marks = "(" + ", ".join("{}" for _ in range(4 + len(METRICS))) + ")"
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        await sql.execute(
            f"INSERT INTO agent_day (agent, scope, day, path, {columns}) VALUES "
            + ", ".join(row_marks for _ in chunk)
            + f" ON CONFLICT (agent, scope, day) DO UPDATE SET {additions}",
            *(
                value
                for agent, scope, day, path, figures in chunk
                for value in (agent, scope, day, path, *(figures.get(name, 0) for name in METRICS))
            ),
        )
