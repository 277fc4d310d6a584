"""Business calendars as stored (R-25) and as used by the SLA clock.

With no stored calendar, support works Monday to Friday 09:00-18:00 Asia/Shanghai with China's
official holidays and make-up workdays for every year the `holidays` package publishes; a year
it does not publish is reported as unconfirmed, never guessed."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from typing import Any

from core import sql
from core.clock import now
from support.business_time import (
    DEFAULT_TZ,
    DEFAULT_WINDOWS,
    BusinessCalendar,
    china_holidays,
    china_published_years,
    default_calendar,
)
from support.tables import SupportCalendar

DEFAULT_NAME = "default"


def _from_row(row: dict[str, Any]) -> BusinessCalendar:
    return BusinessCalendar(
        tz=row["tz"],
        weekly={int(day): [tuple(w) for w in windows] for day, windows in row["weekly"].items()},
        closed_dates={dt.date.fromisoformat(d) for d in row["closed_dates"]},
        extra_workdays={
            dt.date.fromisoformat(d): [tuple(w) for w in windows] for d, windows in row["extra_workdays"].items()
        },
        closures=[(dt.datetime.fromisoformat(a), dt.datetime.fromisoformat(b)) for a, b in row["closures"]],
    )


def _around_now() -> tuple[int, ...]:
    this_year = now().year
    return (this_year - 1, this_year, this_year + 1)


def builtin_calendar(years: range | None = None) -> BusinessCalendar:
    """Mon-Fri 09:00-18:00 Asia/Shanghai with China's published holidays around the given years
    (by default last year to next year)."""
    return _builtin(tuple(years or _around_now()))


@cache
def _published_holidays(years: tuple[int, ...]) -> tuple[set[dt.date], dict[dt.date, list[tuple[str, str]]]]:
    """China's days off and make-up workdays of those `years` the holidays package publishes; read
    once per set of years, as reading the package costs milliseconds a time (not to be mutated)."""
    wanted = set(years) & set(china_published_years())
    return china_holidays(sorted(wanted)) if wanted else (set(), {})


@cache
def _builtin(years: tuple[int, ...]) -> BusinessCalendar:
    closed, extra = _published_holidays(years)
    return default_calendar(closed_dates=closed, extra_workdays=extra)


_stored: dict[str, tuple[dt.datetime, BusinessCalendar]] = {}  # the last calendar built, by when it was saved


async def current_calendar() -> BusinessCalendar:
    """The stored calendar (built again only when it was saved since), else the built-in one.
    Every queue page asks: the check is one fixed-SQL lookup by the unique name."""
    saved = await sql.lookup("SELECT updated_at FROM support_calendar WHERE name = {}", DEFAULT_NAME)
    if saved is None:
        return builtin_calendar()
    known = _stored.get(DEFAULT_NAME)
    if known is None or known[0] != saved["updated_at"]:
        row = await SupportCalendar.select().output(load_json=True).where(SupportCalendar.name == DEFAULT_NAME).first()
        if row is None:
            return builtin_calendar()
        # Keyed by the lookup's value: a save in between only means one more build next time.
        known = _stored[DEFAULT_NAME] = (saved["updated_at"], _from_row(row))
    return known[1]


def unconfirmed_years(confirmed: list[int] | None = None) -> list[int]:
    """This year and next, unless an admin has confirmed their holidays (R-25: never guessed)."""
    this_year = now().year
    return [year for year in (this_year, this_year + 1) if year not in set(confirmed or [])]


def _clock_pairs(text: str) -> list[list[str]]:
    """ "09:00-12:00, 13:30-18:00" -> [["09:00", "12:00"], ["13:30", "18:00"]]."""
    pairs = []
    for part in text.replace("，", ",").split(","):
        part = part.strip()
        if part:
            start, _, end = part.partition("-")
            pairs.append([start.strip(), end.strip()])
    return pairs


def parse_calendar_form(data: dict[str, str]) -> dict[str, Any]:
    """The editing form (one text field per weekday, one date per line, "DATE HH:MM-HH:MM" for
    extra workdays, "START END" ISO instants for closures) as the stored JSON shapes; checked by
    building the BusinessCalendar, whose errors name what is wrong."""
    from core.errors import N_, ValidationFailed

    try:
        stored = {
            "tz": (data.get("tz") or "Asia/Shanghai").strip(),
            "weekly": {str(day): _clock_pairs(data.get(f"day_{day}", "")) for day in range(7)},
            "closed_dates": sorted(
                {
                    dt.date.fromisoformat(line.strip()).isoformat()
                    for line in data.get("closed_dates", "").splitlines()
                    if line.strip()
                }
            ),
            "extra_workdays": {
                dt.date.fromisoformat(day).isoformat(): _clock_pairs(windows)
                for day, _, windows in (
                    line.strip().partition(" ") for line in data.get("extra_workdays", "").splitlines() if line.strip()
                )
            },
            "closures": [
                [dt.datetime.fromisoformat(a).isoformat(), dt.datetime.fromisoformat(b).isoformat()]
                for a, _, b in (
                    line.strip().partition(" ") for line in data.get("closures", "").splitlines() if line.strip()
                )
            ],
        }
        _from_row(stored)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(
            {"calendar": N_("The calendar is not valid: %(reason)s")}, reason=str(exc)[:200]
        ) from None
    return stored


async def stored_calendar() -> dict[str, Any]:
    """The stored calendar, or the built-in default in the stored shape (for the editing form)."""
    row = await SupportCalendar.select().output(load_json=True).where(SupportCalendar.name == DEFAULT_NAME).first()
    if row:
        return row
    closed, extra = _published_holidays(_around_now())
    return {
        "tz": DEFAULT_TZ,
        "weekly": {str(d): [list(w) for w in DEFAULT_WINDOWS] if d < 5 else [] for d in range(7)},
        "closed_dates": sorted(d.isoformat() for d in closed),
        "extra_workdays": {d.isoformat(): [list(w) for w in windows] for d, windows in sorted(extra.items())},
        "closures": [],
        "confirmed_years": [],
    }


async def confirmed_years() -> list[int]:
    """The years whose holidays an admin has confirmed (none while no calendar is stored)."""
    row = await sql.lookup("SELECT confirmed_years FROM support_calendar WHERE name = {}", DEFAULT_NAME)
    return (json.loads(row["confirmed_years"] or "[]") or []) if row else []


async def save_calendar(actor, data: dict[str, str], *, confirm_year: int | None = None) -> int:
    """Operator admins edit the calendar (and may confirm a year's holidays); open clocks are then
    re-targeted, met and breached results stay. Returns how many open tickets moved."""
    from agency import audit
    from core.db import transaction
    from core.errors import Forbidden
    from support.tickets import retarget_open_clocks

    if not (actor.is_operator and actor.role == "admin"):
        raise Forbidden()
    stored = parse_calendar_form(data)
    confirmed = set(await confirmed_years())
    if confirm_year is not None:
        confirmed.add(confirm_year)
    async with transaction():
        await SupportCalendar.delete().where(SupportCalendar.name == DEFAULT_NAME)
        await SupportCalendar.insert(
            SupportCalendar(name=DEFAULT_NAME, confirmed_years=sorted(confirmed), updated_at=now(), **stored)
        )
        await audit.record(
            actor,
            "support.calendar",
            target_type="calendar",
            target_id=DEFAULT_NAME,
            after={"confirmed_years": sorted(confirmed), "tz": stored["tz"]},
        )
    return await retarget_open_clocks()
