"""The daily figures of every agent (SPEC R-29)."""

from piccolo.columns import BigInt, Integer, Serial, Varchar
from piccolo.table import Table


class AgentDay(Table):
    """What happened on one of the operator's calendar days, for one agent: its own figures
    (`scope` "own"), or those of its whole subtree, itself included ("subtree"), which equal the sum
    of the own figures of the agents whose path starts with this one's (stats verify checks it).
    Kept in the transaction of each operation (stats.daily); one row per (agent, scope, day)."""

    id = Serial(primary_key=True)
    agent = Integer()
    scope = Varchar(length=8)
    day = Varchar(length=10)  # "YYYY-MM-DD" in the operator's time zone; a month is its first 7 characters
    path = Varchar(length=200)  # the agent's path, so that the own rows of a subtree are one range
    bought_seconds = BigInt(default=0)
    sold_seconds = BigInt(default=0)
    carded_seconds = BigInt(default=0)
    returned_seconds = BigInt(default=0)
    activated_cards = BigInt(default=0)
    activated_seconds = BigInt(default=0)
    redeemed_cards = BigInt(default=0)
    redeemed_seconds = BigInt(default=0)
    consumed_seconds = BigInt(default=0)
    calls = BigInt(default=0)
    opened_accounts = BigInt(default=0)
    closed_accounts = BigInt(default=0)
    remitted_fen = BigInt(default=0)
    paid_fen = BigInt(default=0)
    received_fen = BigInt(default=0)
    margin_fen = BigInt(default=0)


class AgentOpenAccounts(Table):
    """How many accounts are open now, per agent and scope (and network stripe): `active_accounts`
    at the end of a period is this, less what the days since then opened and closed, so no query
    reads all the history for it. Kept with the daily rows (stats.daily)."""

    id = Serial(primary_key=True)
    agent = Integer()
    scope = Varchar(length=8)
    accounts = BigInt(default=0)
