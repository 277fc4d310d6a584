"""Call records with impossible times are refused as `invalid`, with the field and the reason,
and never rated (issue 11, point 8e): the answer before the start, the end before either, a start
or end more than 5 minutes ahead of the server's clock, a start more than 31 days ago (or the age
given to rate_calls), a call of more than a day."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts import switch
from accounts.tables import Call
from core.clock import now
from core.errors import ValidationFailed
from tests.integration.test_switch import balance, new_subscriber
from tests.money import assert_ledger_ok

T = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)  # when the record arrives
S, M, D = dt.timedelta(seconds=1), dt.timedelta(minutes=1), dt.timedelta(days=1)
FIVE_MINUTES, MONTH = 5 * M, 31 * D


def times(start: dt.datetime, answer: dt.datetime | None, end: dt.datetime) -> dict:
    return {
        "call_id": "c-1",
        "account": "8600000000017",
        "destination": "8613800138000",
        "start": start.isoformat(),
        "answer": answer.isoformat() if answer else None,
        "end": int(end.timestamp()) if end.microsecond == 0 else end.isoformat(),
    }


# (case, start, answer, end, max_age or None, the refused fields with their reasons, or {} when accepted)
CASES = [
    ("in order", T - 2 * M, T - 2 * M + 7 * S, T - M, None, {}),
    ("answered at once", T - M, T - M, T - S, None, {}),
    ("unanswered, zero length", T - M, None, T - M, None, {}),
    ("answer a second before the start", T - M, T - M - S, T - S, None, {"answer": "The answer is before the start."}),
    ("end a second before the answer", T - M, T - 10 * S, T - 11 * S, None, {"end": "The end is before the answer."}),
    ("unanswered, end before the start", T - M, None, T - M - S, None, {"end": "The end is before the start."}),
    ("end exactly 5 minutes ahead", T - M, T - M, T + FIVE_MINUTES, None, {}),
    (
        "end 5 minutes and a second ahead",
        T - M,
        T - M,
        T + FIVE_MINUTES + S,
        None,
        {"end": "The end is in the future."},
    ),
    (
        "start and end far in the future",
        T + D,
        T + D + S,
        T + D + M,
        None,
        {"start": "The start is in the future.", "end": "The end is in the future."},
    ),
    ("start exactly 5 minutes ahead", T + FIVE_MINUTES, None, T + FIVE_MINUTES, None, {}),
    (
        "start 5 minutes and a second ahead",
        T + FIVE_MINUTES + S,
        None,
        T + FIVE_MINUTES + S,
        None,
        {"start": "The start is in the future.", "end": "The end is in the future."},
    ),
    ("start exactly 31 days ago", T - MONTH, T - MONTH + S, T - MONTH + M, None, {}),
    (
        "start 31 days and a second ago",
        T - MONTH - S,
        T - MONTH,
        T - MONTH + M,
        None,
        {"start": "The call is too old to be rated."},
    ),
    ("a year ago", T - 365 * D, T - 365 * D, T - 365 * D + M, None, {"start": "The call is too old to be rated."}),
    ("7 days ago, 7 days allowed", T - 7 * D, T - 7 * D, T - 7 * D + M, 7 * D, {}),
    (
        "7 days and a second ago, 7 days allowed",
        T - 7 * D - S,
        T - 7 * D,
        T - 7 * D + M,
        7 * D,
        {"start": "The call is too old to be rated."},
    ),
    ("lasting exactly a day", T - D - M, T - D - M, T - M, None, {}),
    ("lasting a day and a second", T - D - M - S, T - D - M, T - M, None, {"end": "The call lasts more than a day."}),
]


@pytest.mark.parametrize(
    ("start", "answer", "end", "max_age", "refused"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_boundaries_of_possible_times(start, answer, end, max_age, refused):
    limits = {"received_at": T} | ({"max_age": max_age} if max_age else {})
    if not refused:
        record = switch.parse_record(times(start, answer, end), **limits)
        assert (record.started_at, record.answered_at, record.ended_at) == (start, answer, end)
        return
    with pytest.raises(ValidationFailed) as refusal:
        switch.parse_record(times(start, answer, end), **limits)
    assert refusal.value.errors == refused


async def test_records_with_impossible_times_are_refused_and_charge_nothing(db):
    _owner, sub = await new_subscriber(300)
    number = sub["account_number"]
    at = now().replace(microsecond=0)

    def call(call_id: str, start: dt.datetime, answer: dt.datetime | None, end: dt.datetime) -> dict:
        return {**times(start, answer, end), "call_id": call_id, "account": number}

    results = await switch.rate_calls(
        [
            call("fine", at - 3 * M, at - 3 * M + 5 * S, at - 2 * M + 5 * S),  # 60 s
            call("answer-first", at - 3 * M, at - 4 * M, at - 2 * M),
            call("end-first", at - 3 * M, at - 2 * M, at - 3 * M + 30 * S),
            call("from-the-future", at + D, at + D, at + D + 10 * M),
            call("ends-in-an-hour", at - M, at - M, at + 60 * M),
            call("last-month", at - MONTH - D, at - MONTH - D, at - MONTH - D + 10 * M),
            call("fine-late", at - MONTH + D, at - MONTH + D, at - MONTH + D + 2 * M),  # 120 s
        ]
    )
    statuses = {r["call_id"]: (r["status"], r.get("charged"), r.get("errors")) for r in results}
    assert statuses == {
        "fine": ("rated", 60, None),
        "answer-first": ("invalid", None, {"answer": "The answer is before the start."}),
        "end-first": ("invalid", None, {"end": "The end is before the answer."}),
        "from-the-future": (
            "invalid",
            None,
            {"start": "The start is in the future.", "end": "The end is in the future."},
        ),
        "ends-in-an-hour": ("invalid", None, {"end": "The end is in the future."}),
        "last-month": ("invalid", None, {"start": "The call is too old to be rated."}),
        "fine-late": ("rated", 120, None),
    }
    assert await balance(sub["id"]) == 300 * 60 - 180
    assert {row["call_id"] for row in await Call.select(Call.call_id)} == {"fine", "fine-late"}
    # A shorter age, as a deployment may set it, refuses an eight-day-old call.
    [late] = await switch.rate_calls(
        [call("week-old", at - 8 * D, at - 8 * D, at - 8 * D + M)], max_age=dt.timedelta(days=7)
    )
    assert late["status"] == "invalid" and late["errors"] == {"start": "The call is too old to be rated."}
    await assert_ledger_ok()
