"""The SLA clocks' rules (R-24, R-26, issue 14), pure: due times from a calendar and the targets,
elapsed and late time, and the state of a clock derived from its stored times and the current time.

A ticket has up to three clocks, all started when the problem is reported:
- first response (per priority, always in working time), stopped by the first public staff reply;
- forwarding (operator queue only: the provider hands a complaint to the responsible agent),
  stopped when the ticket is forwarded down, or resolved where it is;
- resolution (per queue, or the priority's own target), paused while pending on the customer,
  stopped when the ticket is resolved.
Forwarding and resolution targets count working time or wall-clock time, as the operator chooses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from support.business_time import BusinessCalendar, add_business_time, business_time_between

MET, ON_TRACK, AT_RISK, BREACHED, PAUSED = "met", "on_track", "at_risk", "breached", "paused"
HOUR = 3600


@dataclass(frozen=True)
class Policy:
    """A priority's targets: first response in working seconds; a resolution target that replaces
    the queue's (in working seconds; None: the queue's); the share after which a clock is at risk."""

    first_response_seconds: int = 4 * HOUR
    resolution_seconds: int | None = None
    at_risk_percent: int = 75


@dataclass(frozen=True)
class Target:
    seconds: int
    working_time: bool = False  # False: wall-clock time


@dataclass(frozen=True)
class QueueTargets:
    """A queue's forwarding target (operator queue: hand the complaint to the agent) and resolution
    target; None where the queue has none."""

    forward: Target | None = None
    resolution: Target | None = None


DEFAULT_QUEUE_TARGETS = {
    "operator": QueueTargets(forward=Target(12 * HOUR), resolution=Target(48 * HOUR)),
    "agent": QueueTargets(forward=None, resolution=Target(48 * HOUR)),
}


def add(cal: BusinessCalendar, start: dt.datetime, seconds: int, working_time: bool) -> dt.datetime:
    if working_time:
        return add_business_time(cal, start, seconds)
    return (start + dt.timedelta(seconds=seconds)).replace(microsecond=0)


def between(cal: BusinessCalendar, start: dt.datetime, end: dt.datetime, working_time: bool) -> int:
    """Seconds from start to end counted as the clock counts; negative when end is before start."""
    if working_time:
        return business_time_between(cal, start, end)
    return int(end.timestamp()) - int(start.timestamp())


@dataclass(frozen=True)
class Targets:
    first_response_due_at: dt.datetime
    first_response_warn_at: dt.datetime
    resolution_due_at: dt.datetime | None
    resolution_warn_at: dt.datetime | None = None
    resolution_in_working_time: bool = True
    forward_due_at: dt.datetime | None = None
    forward_warn_at: dt.datetime | None = None
    forward_in_working_time: bool = False

    def columns(self) -> dict[str, object]:
        return dict(self.__dict__)


def targets(
    cal: BusinessCalendar, reported_at: dt.datetime, policy: Policy, queue: QueueTargets | None = None
) -> Targets:
    """Due and warning times of a problem reported at `reported_at` into a queue with `queue`'s
    targets (none: only the priority's)."""
    queue = queue or QueueTargets()

    def due(target: Target | None) -> tuple[dt.datetime | None, dt.datetime | None]:
        if target is None:
            return None, None
        warn = target.seconds * policy.at_risk_percent // 100
        return add(cal, reported_at, target.seconds, target.working_time), add(
            cal, reported_at, warn, target.working_time
        )

    first = Target(policy.first_response_seconds, working_time=True)
    resolution = Target(policy.resolution_seconds, True) if policy.resolution_seconds else queue.resolution
    first_due, first_warn = due(first)
    resolution_due, resolution_warn = due(resolution)
    forward_due, forward_warn = due(queue.forward)
    return Targets(
        first_response_due_at=first_due,
        first_response_warn_at=first_warn,
        resolution_due_at=resolution_due,
        resolution_warn_at=resolution_warn,
        resolution_in_working_time=resolution.working_time if resolution else True,
        forward_due_at=forward_due,
        forward_warn_at=forward_warn,
        forward_in_working_time=queue.forward.working_time if queue.forward else False,
    )


def clock_state(
    due_at: dt.datetime | None,
    warn_at: dt.datetime | None,
    stopped_at: dt.datetime | None,
    now: dt.datetime,
    *,
    paused: bool = False,
    late_by: int | None = None,
) -> str | None:
    """Met or breached once stopped (final either way); before that on track, at risk, paused, or
    breached as soon as the due time has passed. A breach recorded at the stop (`late_by`) stays
    final even if the clock is started again (a reopened ticket). None: the ticket has no such clock."""
    if due_at is None:
        return None
    if late_by is not None:
        return BREACHED
    if stopped_at is not None:
        return MET if stopped_at <= due_at else BREACHED
    if now > due_at:
        return BREACHED
    if paused:
        return PAUSED
    return AT_RISK if warn_at is not None and now >= warn_at else ON_TRACK


RUNNING = "running"


def outcome(due_at: dt.datetime | None, stopped_at: dt.datetime | None, late_by: int | None) -> str | None:
    """A clock's outcome so far as the report counts it: None (no such clock), RUNNING, MET, or
    BREACHED when it stopped late (final: a clock started again keeps it). Whether a running clock
    is overdue depends on the current time, so it is worked out when read."""
    if due_at is None:
        return None
    if late_by is not None:
        return BREACHED
    return RUNNING if stopped_at is None else MET


def first_response_state(
    due_at: dt.datetime, warn_at: dt.datetime, responded_at: dt.datetime | None, now: dt.datetime
) -> str:
    """The first-response clock: a later reply does not undo a breach."""
    return clock_state(due_at, warn_at, responded_at, now)


def late_by(cal: BusinessCalendar, due_at: dt.datetime, stopped_at: dt.datetime, working_time: bool) -> int | None:
    """How late a clock stopped at `stopped_at` was, counted as the clock counts; None when in time.
    A stop after the due time is late even when no working time lies in between (0)."""
    return max(0, between(cal, due_at, stopped_at, working_time)) if stopped_at > due_at else None


def paused_for(cal: BusinessCalendar, pending_since: dt.datetime, now: dt.datetime, working_time: bool) -> int:
    """The time a ticket spent waiting on the customer, counted as its resolution clock counts."""
    return max(0, between(cal, pending_since, now, working_time))
