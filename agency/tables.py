"""Tables of the agent tree, users, sessions and the audit log."""

from piccolo.columns import (
    JSON,
    Boolean,
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
    hotline = Varchar(length=32, default="")  # the number its subscribers call for help (shown in the portal)
    service_hours = Varchar(length=64, default="")  # when the hotline answers, free text (shown in the portal)
    call_cap = Integer(null=True, default=None)  # calls at once in its whole subtree, set from above (R-22a)
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
    # Chosen at creation, at most API_TOKEN_MAX_DAYS later; null only before the migration that
    # gave the tokens made before expiries existed 90 days (a null one is refused anyway).
    expires_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)  # written at most once a minute
    revoked_at = Timestamptz(null=True, default=None)


class TwoFactor(Table):
    """A user's TOTP second factor: the secret while enrolling (enabled_at null), then in use.
    `last_step` is the last time step a code was accepted for, so that no code works twice."""

    id = Serial(primary_key=True)
    user = ForeignKey(User, unique=True)
    secret = Varchar(length=64)
    created_at = Timestamptz()
    enabled_at = Timestamptz(null=True, default=None)
    last_step = Integer(default=0)


class RecoveryCode(Table):
    """A one-time recovery code of a user with two-factor login; only its SHA-256 is stored."""

    id = Serial(primary_key=True)
    user = ForeignKey(User, index=True)
    code_hash = Varchar(length=64)
    used_at = Timestamptz(null=True, default=None)


class RememberedDevice(Table):
    """A browser that skips the second factor until `expires_at`; the cookie's hash only."""

    id = Serial(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    user = ForeignKey(User, index=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()


class PendingLogin(Table):
    """A correct password still waiting for its second factor: not a session, good for a few
    minutes and one use. The browser holds a random token, the table its hash."""

    id = Serial(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    user = ForeignKey(User, index=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()


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
