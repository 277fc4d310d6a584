"""Tables of subscriber accounts."""

from piccolo.columns import Boolean, ForeignKey, Serial, Timestamptz, Varchar
from piccolo.table import Table

from agency.tables import Agent


class Subscriber(Table):
    """A prepaid subscriber account (R-16, R-18). Its balance in seconds is a customer-facing
    ledger account; `password_hash` is null until the initial password (the e-card's secret) has
    been replaced at first login."""

    id = Serial(primary_key=True)
    account_number = Varchar(length=20, unique=True)
    agent = ForeignKey(Agent, index=True)
    status = Varchar(length=16, default="active", index=True)  # active, suspended, closed
    password_hash = Varchar(length=200, null=True, default=None)
    must_change_password = Boolean(default=True)
    expires_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)


class SubscriberSession(Table):
    """A subscriber's portal session; like staff sessions, only the token's hash is stored."""

    id = Serial(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    subscriber = ForeignKey(Subscriber, index=True)
    created_at = Timestamptz()
    last_seen_at = Timestamptz()
    expires_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)
