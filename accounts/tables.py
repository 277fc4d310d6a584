"""Tables of subscriber accounts."""

from piccolo.columns import Boolean, ForeignKey, Integer, OnDelete, Serial, Timestamptz, Varchar
from piccolo.table import Table

from agency.tables import Agent


class SubscriberHold(Table, tablename="bulk_suspension"):
    """The operator's bulk suspension of the active subscribers of an agent's subtree (R-2): the
    subscribers it suspended name it (`Subscriber.hold`) until it is reversed, or until anything
    else changes their status. `created_by` and `resumed_by` are user ids. (Its table is not named
    "subscriber_hold": that is the name of the index on `subscriber.hold`.)"""

    id = Serial(primary_key=True)
    agent = ForeignKey(Agent, index=True)
    reason = Varchar(length=200)
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz()
    subscribers = Integer(default=0)  # how many it suspended
    resumed_by = Integer(null=True, default=None)
    resumed_at = Timestamptz(null=True, default=None)  # null while in force


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
    # The bulk suspension holding this subscriber: set with status "suspended" by it, cleared by
    # its reversal and by any other change of status.
    hold = ForeignKey(SubscriberHold, null=True, default=None, index=True, on_delete=OnDelete.set_null)
    # The SIP digest credentials the switch authenticates the subscriber's phone with (accounts.sip):
    # HA1 = md5("{account_number}:{realm}:{SIP password}") in lowercase hex, and the realm it was
    # computed for (a change of the configured realm makes it unusable, not silently wrong). The
    # SIP password itself is never stored. Null until the subscriber sets one or staff reset it.
    sip_ha1 = Varchar(length=32, null=True, default=None)
    sip_realm = Varchar(length=64, null=True, default=None)
    # How many calls it may have at once (R-22a); null: the operator's default (SwitchSettings).
    call_cap = Integer(null=True, default=None)


class SubscriberSession(Table):
    """A subscriber's portal session; like staff sessions, only the token's hash is stored."""

    id = Serial(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    subscriber = ForeignKey(Subscriber, index=True)
    created_at = Timestamptz()
    last_seen_at = Timestamptz()
    expires_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)


class SwitchKey(Table):
    """An API key of a softswitch (SPEC §10): shown once, only its SHA-256 is stored."""

    id = Serial(primary_key=True)
    name = Varchar(length=64)
    key_hash = Varchar(length=64, unique=True)
    prefix = Varchar(length=12)  # the key's first characters, to tell keys apart in lists
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)


class CallReservation(Table):
    """Airtime granted to a call by `authorize` (R-20), held until the call's record arrives (which
    deletes it) or it times out. A subscriber's spendable balance is the balance minus the
    reservations that have not timed out."""

    id = Serial(primary_key=True)
    call_id = Varchar(length=64, unique=True)
    # Looked up by call_reservation_subscriber_expires (subscriber, expires_at; a migration): with
    # an index of the subscriber alone, PostgreSQL chose the one of expires_at for a subscriber's
    # open reservations, and walked every reservation of the last hour, deleted ones included.
    subscriber = ForeignKey(Subscriber, index=False)
    destination = Varchar(length=32)
    max_seconds = Integer()
    reserved = Integer()  # airtime seconds held: the charge of a call of max_seconds
    created_at = Timestamptz()
    expires_at = Timestamptz(index=True)


class Call(Table):
    """A rated call (R-21), one per call id."""

    id = Serial(primary_key=True)
    call_id = Varchar(length=64, unique=True)
    # No index of its own: call_subscriber_started (subscriber, started_at; a migration) serves
    # every lookup by subscriber, and with both, PostgreSQL read a subscriber's whole history
    # through this one to count the calls of the last hour (a usage rule, on every authorize).
    subscriber = ForeignKey(Subscriber, index=False)
    agent = ForeignKey(Agent, index=True)  # the subscriber's owner when the call was rated
    destination = Varchar(length=32)
    started_at = Timestamptz(index=True)
    answered_at = Timestamptz(null=True, default=None)
    ended_at = Timestamptz()
    duration = Integer()  # answered seconds
    billed = Integer()  # seconds after blocks and increments
    charged = Integer()  # airtime seconds taken from the balance
    uncollected = Integer(default=0)  # charge the balance could not cover (flagged)
    multiplier = Integer(default=100)  # percent
    flagged = Boolean(default=False)  # over an hour, or not fully covered: for review
    rated_at = Timestamptz()


class DestinationRate(Table):
    """Billing of the destinations that start with `prefix` (the longest prefix wins): a multiplier
    in percent (150 bills 1.5 seconds of airtime a second) and the first block and increment."""

    id = Serial(primary_key=True)
    prefix = Varchar(length=20, unique=True)
    multiplier = Integer(default=100)
    first_block = Integer(default=60)
    increment = Integer(default=60)
    note = Varchar(length=100, default="")


class SwitchSettings(Table):
    """The operator's settings of calls (R-22a), one row (id 1): the longest call `authorize`
    grants, and how many calls at once a subscriber may have unless its own cap says otherwise."""

    id = Serial(primary_key=True)
    max_call_seconds = Integer(default=3600)
    subscriber_call_cap = Integer(default=1)
    updated_by = Integer(null=True, default=None)
    updated_at = Timestamptz(null=True, default=None)


class CallSlot(Table):
    """One place for a call in the subtree of an agent with a cap on calls at once (R-22a): the
    agent has `call_cap` of them, numbered from 0. `authorize` takes a free one (on PostgreSQL
    with SKIP LOCKED, so authorizations in one subtree do not wait for each other) and the call's
    record frees it; one whose call never reported is free again when `expires_at` has passed."""

    id = Serial(primary_key=True)
    agent = ForeignKey(Agent)  # unique with slot (an index of the migration)
    slot = Integer()
    call_id = Varchar(length=64, null=True, default=None, index=True)
    expires_at = Timestamptz(null=True, default=None)


class BarredPrefix(Table):
    """Destinations starting with `prefix` may not be called (R-22a) by the subscribers of the
    subtree whose root path is `scope` ("" for the operator: everyone). `reason` is a code of
    controls.BAR_REASONS, which the switch gets beside the refusal."""

    id = Serial(primary_key=True)
    scope = Varchar(length=200)
    prefix = Varchar(length=20, index=True)
    reason = Varchar(length=16)
    note = Varchar(length=100, default="")
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz()


class UsageRule(Table):
    """A usage rule (R-22a) over the subscribers of the subtree whose root path is `scope` (""
    for everyone): more than `threshold` of what `kind` counts within an hour suspends the
    subscriber at once, with a review item saying which rule fired."""

    id = Serial(primary_key=True)
    scope = Varchar(length=200)
    kind = Varchar(length=24)  # controls.RULE_KINDS
    threshold = Integer()
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz()


class CallReview(Table):
    """Something for staff to review (R-22a): a call flagged when rated (over an hour, or not fully
    covered by the balance) or a usage rule that fired (and suspended the subscriber). Open until
    someone confirms it, dismisses it, or resumes the subscriber."""

    id = Serial(primary_key=True)
    subscriber = ForeignKey(Subscriber, index=True)
    agent = ForeignKey(Agent, index=True)  # the subscriber's agent when it was flagged
    kind = Varchar(length=24)  # long call, uncovered, or a rule kind
    call_id = Varchar(length=64, null=True, default=None)
    observed = Integer(default=0)  # what was counted (seconds, calls, countries)
    threshold = Integer(default=0)  # the limit it went over
    suspended = Boolean(default=False)  # this hit suspended the subscriber
    created_at = Timestamptz(index=True)
    status = Varchar(length=16, default="open", index=True)  # open, confirmed, dismissed, resumed
    reviewed_by = Integer(null=True, default=None)
    reviewed_at = Timestamptz(null=True, default=None)
