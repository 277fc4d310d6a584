"""Business calendars as stored (R-25) and as used by the SLA clock.

With no stored calendar, support works Monday to Friday 09:00-18:00 Asia/Shanghai with China's
official holidays and make-up workdays for every year the `holidays` package publishes; a year
it does not publish is reported as unconfirmed, never guessed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from agency.clock import now
from support.business_time import BusinessCalendar, china_holidays, china_published_years, default_calendar
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


def builtin_calendar(years: range | None = None) -> BusinessCalendar:
    """Mon-Fri 09:00-18:00 Asia/Shanghai with China's published holidays around the given years."""
    this_year = now().year
    wanted = set(years or range(this_year - 1, this_year + 2)) & set(china_published_years())
    closed, extra = china_holidays(sorted(wanted)) if wanted else (set(), {})
    return default_calendar(closed_dates=closed, extra_workdays=extra)


async def current_calendar() -> BusinessCalendar:
    row = await SupportCalendar.select().output(load_json=True).where(SupportCalendar.name == DEFAULT_NAME).first()
    return _from_row(row) if row else builtin_calendar()


def unconfirmed_years(confirmed: list[int] | None = None) -> list[int]:
    """This year and next, unless confirmed by an admin or published by the `holidays` package."""
    this_year = now().year
    known = set(confirmed or []) | set(china_published_years())
    return [year for year in (this_year, this_year + 1) if year not in known]
