"""The forwarding and resolution clocks (issue 14) at their boundaries, pure: due and warning
times in working or wall-clock time, met / at risk / breached / paused, lateness, and breaches
that stay final."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from support import sla
from support.business_time import default_calendar

SH = ZoneInfo("Asia/Shanghai")
CAL = default_calendar()
FRIDAY_17 = dt.datetime(2026, 11, 20, 17, 0, tzinfo=SH)  # an hour before the weekend
SECOND = dt.timedelta(seconds=1)
QUEUE = sla.QueueTargets(forward=sla.Target(12 * 3600), resolution=sla.Target(48 * 3600, working_time=True))


def test_wall_clock_forwarding_ignores_the_weekend_and_working_resolution_does_not():
    due = sla.targets(CAL, FRIDAY_17, sla.Policy(), QUEUE)
    assert due.forward_due_at == FRIDAY_17 + dt.timedelta(hours=12)  # Saturday 05:00
    assert due.forward_warn_at == FRIDAY_17 + dt.timedelta(hours=9)  # 75 %
    assert not due.forward_in_working_time and due.resolution_in_working_time
    # 48 working hours = 1 h on Friday + a week of 5 x 9 h + 2 h: Monday 30 November 11:00
    assert due.resolution_due_at == dt.datetime(2026, 11, 30, 11, 0, tzinfo=SH)
    # a priority's own resolution target replaces the queue's, in working time
    own = sla.targets(CAL, FRIDAY_17, sla.Policy(resolution_seconds=2 * 3600), QUEUE)
    assert own.resolution_due_at == dt.datetime(2026, 11, 23, 10, 0, tzinfo=SH)
    assert sla.targets(CAL, FRIDAY_17, sla.Policy()).forward_due_at is None  # the agent's queue forwards nothing


DUE = FRIDAY_17 + dt.timedelta(hours=12)
WARN = FRIDAY_17 + dt.timedelta(hours=9)


@pytest.mark.parametrize(
    ("stopped", "now", "paused", "late_by", "state"),
    [
        (None, WARN - SECOND, False, None, sla.ON_TRACK),
        (None, WARN, False, None, sla.AT_RISK),
        (None, DUE, False, None, sla.AT_RISK),  # due exactly now is not yet late
        (None, DUE + SECOND, False, None, sla.BREACHED),
        (None, WARN, True, None, sla.PAUSED),
        (None, DUE + SECOND, True, None, sla.BREACHED),  # a pause does not hide an overdue clock
        (DUE, DUE + dt.timedelta(days=9), False, None, sla.MET),  # stopped exactly at the due time
        (DUE + SECOND, DUE + SECOND, False, 1, sla.BREACHED),
        (None, WARN - SECOND, False, 3600, sla.BREACHED),  # restarted after a late stop: stays breached
        (WARN, WARN, False, 0, sla.BREACHED),  # recorded late: final, whatever the times say now
    ],
)
def test_states_at_the_boundaries(stopped, now, paused, late_by, state):
    assert sla.clock_state(DUE, WARN, stopped, now, paused=paused, late_by=late_by) == state


def test_no_clock_has_no_state_and_no_outcome():
    assert sla.clock_state(None, None, None, DUE) is None
    assert sla.outcome(None, None, None) is None
    assert sla.outcome(DUE, None, None) == sla.RUNNING
    assert sla.outcome(DUE, DUE, None) == sla.MET
    assert sla.outcome(DUE, None, 5) == sla.BREACHED


@pytest.mark.parametrize(
    ("stopped", "working", "late"),
    [
        (DUE, False, None),
        (DUE + SECOND, False, 1),
        (DUE + dt.timedelta(hours=3), False, 3 * 3600),
        # Saturday 05:00 + 3 h is still the weekend: late, by no working time at all
        (DUE + dt.timedelta(hours=3), True, 0),
        (dt.datetime(2026, 11, 23, 10, 0, tzinfo=SH), True, 3600),  # Monday 10:00
    ],
)
def test_lateness_counts_as_the_clock_counts(stopped, working, late):
    assert sla.late_by(CAL, DUE, stopped, working) == late


def test_a_pause_moves_a_wall_clock_due_time_by_wall_clock_time():
    pending_since = WARN
    resumed = WARN + dt.timedelta(hours=30)
    assert sla.paused_for(CAL, pending_since, resumed, False) == 30 * 3600
    assert sla.paused_for(CAL, pending_since, resumed, True) == 0  # all of it on the weekend
    assert sla.add(CAL, DUE, 30 * 3600, False) == DUE + dt.timedelta(hours=30)
