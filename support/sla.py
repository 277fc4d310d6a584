"""The SLA clock's rules (R-24, R-26), pure: due times from a calendar and a policy, and the
state of a clock derived from its stored times against the current time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from support.business_time import BusinessCalendar, add_business_time, business_time_between

MET, ON_TRACK, AT_RISK, BREACHED, PAUSED = "met", "on_track", "at_risk", "breached", "paused"


@dataclass(frozen=True)
class Policy:
    first_response_seconds: int = 4 * 3600
    resolution_seconds: int | None = None
    at_risk_percent: int = 75


@dataclass(frozen=True)
class Targets:
    first_response_due_at: dt.datetime
    first_response_warn_at: dt.datetime
    resolution_due_at: dt.datetime | None


def targets(cal: BusinessCalendar, reported_at: dt.datetime, policy: Policy) -> Targets:
    """Due and warning times of a problem reported at `reported_at`, counted in business time."""
    warn_seconds = policy.first_response_seconds * policy.at_risk_percent // 100
    return Targets(
        first_response_due_at=add_business_time(cal, reported_at, policy.first_response_seconds),
        first_response_warn_at=add_business_time(cal, reported_at, warn_seconds),
        resolution_due_at=add_business_time(cal, reported_at, policy.resolution_seconds)
        if policy.resolution_seconds
        else None,
    )


def first_response_state(
    due_at: dt.datetime, warn_at: dt.datetime, responded_at: dt.datetime | None, now: dt.datetime
) -> str:
    """Met or breached once answered (final either way); before that on track, at risk, or breached
    as soon as the due time has passed (a breach is final: a later reply does not undo it)."""
    if responded_at is not None:
        return MET if responded_at <= due_at else BREACHED
    if now > due_at:
        return BREACHED
    return AT_RISK if now >= warn_at else ON_TRACK


def resolution_state(
    due_at: dt.datetime | None, resolved_at: dt.datetime | None, pending_since: dt.datetime | None, now: dt.datetime
) -> str | None:
    if due_at is None:
        return None
    if resolved_at is not None:
        return MET if resolved_at <= due_at else BREACHED
    if now > due_at:
        return BREACHED
    return PAUSED if pending_since is not None else ON_TRACK


def business_seconds_left(cal: BusinessCalendar, now: dt.datetime, due_at: dt.datetime) -> int:
    """Business time left until the due time; negative when overdue."""
    return business_time_between(cal, now, due_at)


def resume_after_pause(
    cal: BusinessCalendar, due_at: dt.datetime, pending_since: dt.datetime, now: dt.datetime
) -> dt.datetime:
    """The resolution due time moved on by the business time the ticket spent waiting on the customer."""
    return add_business_time(cal, due_at, max(0, business_time_between(cal, pending_since, now)))
