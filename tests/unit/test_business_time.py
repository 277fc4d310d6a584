"""R-25: business-time arithmetic (support/business_time.py) — a table of explicit cases, errors, property tests.

China's official 2025 and 2026 holiday arrangements, as published by the General Office of the State Council
(the notices referenced in the `holidays` package's holidays/countries/china.py:
2025 https://www.gov.cn/gongbao/2024/issue_11726/202411/content_6989767.html,
2026 https://www.gov.cn/zhengce/content/202511/content_7047090.htm):

2025  New Year Jan 1 · Spring Festival Jan 28 - Feb 4, work Sun Jan 26 and Sat Feb 8 · Qingming Apr 4-6 ·
      Labour Day May 1-5, work Sun Apr 27 · Dragon Boat May 31 - Jun 2 · National Day and Mid-Autumn Oct 1-8,
      work Sun Sep 28 and Sat Oct 11.
2026  New Year Jan 1-3, work Sun Jan 4 · Spring Festival Feb 15-23, work Sat Feb 14 and Sat Feb 28 ·
      Qingming Apr 4-6 · Labour Day May 1-5, work Sat May 9 · Dragon Boat Jun 19-21 · Mid-Autumn Sep 25-27 ·
      National Day Oct 1-7, work Sun Sep 20 and Sat Oct 10.

The table's calendars use these dates directly; `test_holidays_package_*` checks that the package agrees.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.business_time import (
    BusinessCalendar,
    HolidaysNotPublishedError,
    NaiveDatetimeError,
    NoWorkingTimeError,
    add_business_time,
    business_time_between,
    china_holidays,
    china_published_years,
    default_calendar,
)

H = 3600
SH = ZoneInfo("Asia/Shanghai")
WEEKDAYS = range(5)
EVERY_DAY = range(7)


def _days(first: str, last: str) -> set[date]:
    day, end = date.fromisoformat(first), date.fromisoformat(last)
    days = set()
    while day <= end:
        days.add(day)
        day += timedelta(days=1)
    return days


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


OFFICIAL_DAYS_OFF = {
    2025: {date(2025, 1, 1)} | _days("2025-01-28", "2025-02-04") | _days("2025-04-04", "2025-04-06")
    | _days("2025-05-01", "2025-05-05") | _days("2025-05-31", "2025-06-02") | _days("2025-10-01", "2025-10-08"),
    2026: _days("2026-01-01", "2026-01-03") | _days("2026-02-15", "2026-02-23") | _days("2026-04-04", "2026-04-06")
    | _days("2026-05-01", "2026-05-05") | _days("2026-06-19", "2026-06-21") | _days("2026-09-25", "2026-09-27")
    | _days("2026-10-01", "2026-10-07"),
}
OFFICIAL_MAKE_UP_WORKDAYS = {
    2025: {date(2025, 1, 26), date(2025, 2, 8), date(2025, 4, 27), date(2025, 9, 28), date(2025, 10, 11)},
    2026: {date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9), date(2026, 9, 20),
           date(2026, 10, 10)},
}
OFFICIAL_CLOSED = OFFICIAL_DAYS_OFF[2025] | OFFICIAL_DAYS_OFF[2026]
OFFICIAL_EXTRA = {day: [("09:00", "18:00")] for year in (2025, 2026) for day in OFFICIAL_MAKE_UP_WORKDAYS[year]}


def _every(days, *windows) -> dict[int, list[tuple[str, str]]]:
    return {weekday: list(windows) for weekday in days}


LUNCH_WEEK = _every(WEEKDAYS, ("09:00", "12:00"), ("13:30", "18:00"))
NIGHT_WEEK = _every(WEEKDAYS, ("22:00", "02:00"))

CALENDARS = {
    "default": default_calendar(),
    "lunch": BusinessCalendar(tz="Asia/Shanghai", weekly=LUNCH_WEEK),
    "china": default_calendar(closed_dates=OFFICIAL_CLOSED, extra_workdays=OFFICIAL_EXTRA),
    "short_monday": default_calendar(extra_workdays={date(2025, 6, 9): [("10:00", "12:00")]}),
    "night": BusinessCalendar(tz="Asia/Shanghai", weekly=NIGHT_WEEK),
    "night_tue_closed": BusinessCalendar(tz="Asia/Shanghai", weekly=NIGHT_WEEK, closed_dates={date(2025, 6, 10)}),
    "evening_24": BusinessCalendar(tz="Asia/Shanghai", weekly=_every(WEEKDAYS, ("18:00", "24:00"))),
    # Europe/Berlin: 2025-03-30 02:00 CET -> 03:00 CEST (02:xx does not exist);
    #                2025-10-26 03:00 CEST -> 02:00 CET (02:xx happens twice).
    "berlin_01_04": BusinessCalendar(tz="Europe/Berlin", weekly=_every(EVERY_DAY, ("01:00", "04:00"))),
    "berlin_0230_0330": BusinessCalendar(tz="Europe/Berlin", weekly=_every(EVERY_DAY, ("02:30", "03:30"))),
    "berlin_00_0230": BusinessCalendar(tz="Europe/Berlin", weekly=_every(EVERY_DAY, ("00:00", "02:30"))),
    "berlin_02_03": BusinessCalendar(tz="Europe/Berlin", weekly=_every(EVERY_DAY, ("02:00", "03:00"))),
    "berlin_24_7": BusinessCalendar(tz="Europe/Berlin", weekly=_every(EVERY_DAY, ("00:00", "24:00"))),
    # America/New_York: 2025-03-09 02:00 EST -> 03:00 EDT; 2025-11-02 02:00 EDT -> 01:00 EST.
    "ny_night": BusinessCalendar(tz="America/New_York", weekly=_every(EVERY_DAY, ("22:00", "02:30"))),
    "typhoon": default_calendar(closures=[
        (_at("2025-06-09T13:00:00+08:00"), _at("2025-06-09T15:00:00+08:00")),  # part of Monday afternoon
        (_at("2025-06-10T12:00:00+08:00"), _at("2025-06-12T10:00:00+08:00")),  # Tuesday noon to Thursday 10:00
        (_at("2025-06-13T01:00:00+00:00"), _at("2025-06-13T02:00:00+00:00")),  # Friday 09:00-10:00, given in UTC
    ]),
}

# (id, calendar, operation, start, seconds to add | end, expected result (ISO with offset) | seconds between)
# 2025-06-09 is a Monday; 2025-06-14/15 are Saturday/Sunday.
CASES = [
    # Monday to Friday 09:00-18:00 Asia/Shanghai
    ("within-one-day", "default", "add", "2025-06-09T09:00:00+08:00", 4 * H, "2025-06-09T13:00:00+08:00"),
    ("into-next-morning", "default", "add", "2025-06-09T16:00:00+08:00", 4 * H, "2025-06-10T11:00:00+08:00"),
    ("due-exactly-at-closing", "default", "add", "2025-06-09T14:00:00+08:00", 4 * H, "2025-06-09T18:00:00+08:00"),
    ("one-second-past-closing", "default", "add", "2025-06-09T14:00:00+08:00", 4 * H + 1,
     "2025-06-10T09:00:01+08:00"),
    ("zero-at-closing", "default", "add", "2025-06-09T18:00:00+08:00", 0, "2025-06-09T18:00:00+08:00"),
    ("zero-outside-hours-is-start", "default", "add", "2025-06-14T10:00:00+08:00", 0, "2025-06-14T10:00:00+08:00"),
    ("before-opening", "default", "add", "2025-06-09T07:30:00+08:00", 4 * H, "2025-06-09T13:00:00+08:00"),
    ("from-closing-time", "default", "add", "2025-06-09T18:00:00+08:00", 1 * H, "2025-06-10T10:00:00+08:00"),
    ("friday-over-weekend", "default", "add", "2025-06-13T17:00:00+08:00", 4 * H, "2025-06-16T12:00:00+08:00"),
    ("from-saturday", "default", "add", "2025-06-14T10:00:00+08:00", 4 * H, "2025-06-16T13:00:00+08:00"),
    ("sunday-last-second", "default", "add", "2025-06-15T23:59:59+08:00", 1, "2025-06-16T09:00:01+08:00"),
    ("start-given-in-utc", "default", "add", "2025-06-09T01:00:00+00:00", 1 * H, "2025-06-09T10:00:00+08:00"),
    ("between-friday-monday", "default", "between", "2025-06-13T17:00:00+08:00", "2025-06-16T10:00:00+08:00", 2 * H),
    ("between-whole-day", "default", "between", "2025-06-09T08:00:00+08:00", "2025-06-09T20:00:00+08:00", 9 * H),
    ("between-reversed-is-negative", "default", "between", "2025-06-09T20:00:00+08:00", "2025-06-09T08:00:00+08:00",
     -9 * H),
    ("between-weekend-is-zero", "default", "between", "2025-06-14T00:00:00+08:00", "2025-06-16T00:00:00+08:00", 0),
    ("between-one-week", "default", "between", "2025-06-09T00:00:00+08:00", "2025-06-16T00:00:00+08:00", 45 * H),
    # lunch break 12:00-13:30
    ("lunch-skipped", "lunch", "add", "2025-06-09T10:00:00+08:00", 4 * H, "2025-06-09T15:30:00+08:00"),
    ("due-at-lunch-start", "lunch", "add", "2025-06-09T11:00:00+08:00", 1 * H, "2025-06-09T12:00:00+08:00"),
    ("lunch-one-second-more", "lunch", "add", "2025-06-09T11:00:00+08:00", 1 * H + 1, "2025-06-09T13:30:01+08:00"),
    ("start-during-lunch", "lunch", "add", "2025-06-09T12:30:00+08:00", 1 * H, "2025-06-09T14:30:00+08:00"),
    ("between-over-lunch", "lunch", "between", "2025-06-09T11:00:00+08:00", "2025-06-09T14:00:00+08:00", 5400),
    ("lunch-into-next-day", "lunch", "add", "2025-06-09T16:00:00+08:00", 4 * H, "2025-06-10T11:00:00+08:00"),
    ("lunch-whole-day", "lunch", "between", "2025-06-09T00:00:00+08:00", "2025-06-10T00:00:00+08:00", 27000),
    ("extra-workday-replaces-weekly-hours", "short_monday", "between", "2025-06-09T00:00:00+08:00",
     "2025-06-10T00:00:00+08:00", 2 * H),
    ("extra-workday-hours-then-weekly", "short_monday", "add", "2025-06-09T11:00:00+08:00", 2 * H,
     "2025-06-10T10:00:00+08:00"),
    # second precision; microseconds are truncated towards the past
    ("one-second-after-opening", "default", "add", "2025-06-09T09:00:01+08:00", 4 * H, "2025-06-09T13:00:01+08:00"),
    ("seconds-across-night", "default", "add", "2025-06-09T17:59:59+08:00", 2, "2025-06-10T09:00:01+08:00"),
    ("between-one-second-short", "default", "between", "2025-06-09T09:00:01+08:00", "2025-06-10T09:00:00+08:00",
     9 * H - 1),
    ("microseconds-truncated-add", "default", "add", "2025-06-09T10:00:00.999999+08:00", 60,
     "2025-06-09T10:01:00+08:00"),
    ("microseconds-cross-a-second", "default", "between", "2025-06-09T10:00:00.900000+08:00",
     "2025-06-09T10:00:01.100000+08:00", 1),
    ("microseconds-within-a-second", "default", "between", "2025-06-09T10:00:00.100000+08:00",
     "2025-06-09T10:00:00.900000+08:00", 0),
    # China's official holidays and make-up workdays (调休), 2025 and 2026
    ("national-day-2025", "china", "add", "2025-09-30T16:00:00+08:00", 4 * H, "2025-10-09T11:00:00+08:00"),
    ("make-up-sunday-2025-09-28", "china", "add", "2025-09-26T17:00:00+08:00", 4 * H, "2025-09-28T12:00:00+08:00"),
    ("make-up-saturday-2025-10-11", "china", "add", "2025-10-10T17:00:00+08:00", 4 * H, "2025-10-11T12:00:00+08:00"),
    ("between-over-national-day-2025", "china", "between", "2025-09-30T09:00:00+08:00", "2025-10-09T09:00:00+08:00",
     9 * H),
    ("spring-festival-2025", "china", "add", "2025-01-27T16:00:00+08:00", 4 * H, "2025-02-05T11:00:00+08:00"),
    ("make-up-sunday-2025-01-26", "china", "add", "2025-01-24T17:00:00+08:00", 4 * H, "2025-01-26T12:00:00+08:00"),
    ("labour-day-2025", "china", "between", "2025-04-30T09:00:00+08:00", "2025-05-06T09:00:00+08:00", 9 * H),
    ("new-year-2026-from-2025", "china", "add", "2025-12-31T17:00:00+08:00", 4 * H, "2026-01-04T12:00:00+08:00"),
    ("make-up-saturday-2026-02-14", "china", "add", "2026-02-13T17:00:00+08:00", 4 * H, "2026-02-14T12:00:00+08:00"),
    ("spring-festival-2026", "china", "add", "2026-02-14T16:00:00+08:00", 4 * H, "2026-02-24T11:00:00+08:00"),
    ("national-day-2026", "china", "add", "2026-09-30T17:00:00+08:00", 4 * H, "2026-10-08T12:00:00+08:00"),
    ("make-up-sunday-2026-09-20", "china", "add", "2026-09-18T17:00:00+08:00", 4 * H, "2026-09-20T12:00:00+08:00"),
    ("make-up-saturday-2026-10-10", "china", "between", "2026-10-09T09:00:00+08:00", "2026-10-12T09:00:00+08:00",
     18 * H),
    # DST, Europe/Berlin, window 01:00-04:00 every day
    ("spring-forward-window-is-2h", "berlin_01_04", "between", "2025-03-30T00:00:00+01:00",
     "2025-03-31T00:00:00+02:00", 2 * H),
    ("add-across-the-gap", "berlin_01_04", "add", "2025-03-30T01:30:00+01:00", 1 * H, "2025-03-30T03:30:00+02:00"),
    ("fall-back-window-is-4h", "berlin_01_04", "between", "2025-10-26T00:00:00+02:00", "2025-10-27T00:00:00+01:00",
     4 * H),
    ("overlap-first-0230", "berlin_01_04", "add", "2025-10-26T01:30:00+02:00", 1 * H, "2025-10-26T02:30:00+02:00"),
    ("overlap-second-0230", "berlin_01_04", "add", "2025-10-26T01:30:00+02:00", 2 * H, "2025-10-26T02:30:00+01:00"),
    # window edges inside the gap move to 03:00 CEST; inside the overlap they take the first occurrence
    ("start-in-gap", "berlin_0230_0330", "between", "2025-03-30T00:00:00+01:00", "2025-03-31T00:00:00+02:00", 1800),
    ("start-in-gap-opens-0300", "berlin_0230_0330", "add", "2025-03-30T00:00:00+01:00", 1,
     "2025-03-30T03:00:01+02:00"),
    ("start-in-overlap-first", "berlin_0230_0330", "between", "2025-10-26T00:00:00+02:00",
     "2025-10-27T00:00:00+01:00", 2 * H),
    ("end-in-gap", "berlin_00_0230", "between", "2025-03-30T00:00:00+01:00", "2025-03-30T12:00:00+02:00", 2 * H),
    ("end-in-overlap-first", "berlin_00_0230", "between", "2025-10-26T00:00:00+02:00", "2025-10-26T12:00:00+01:00",
     9000),
    ("window-inside-gap-is-empty", "berlin_02_03", "between", "2025-03-30T00:00:00+01:00",
     "2025-03-31T00:00:00+02:00", 0),
    ("skips-the-empty-window", "berlin_02_03", "add", "2025-03-29T12:00:00+01:00", 1, "2025-03-31T02:00:01+02:00"),
    ("overlap-window-is-2h", "berlin_02_03", "between", "2025-10-26T00:00:00+02:00", "2025-10-27T00:00:00+01:00",
     2 * H),
    ("24-7-across-spring-forward", "berlin_24_7", "add", "2025-03-29T12:00:00+01:00", 24 * H,
     "2025-03-30T13:00:00+02:00"),
    ("24-7-fall-back-day-is-25h", "berlin_24_7", "between", "2025-10-26T00:00:00+02:00", "2025-10-27T00:00:00+01:00",
     25 * H),
    # DST, America/New_York, night window 22:00-02:30 every day
    ("ny-night-spring-forward", "ny_night", "between", "2025-03-08T12:00:00-05:00", "2025-03-09T12:00:00-04:00",
     4 * H),
    ("ny-night-fall-back", "ny_night", "between", "2025-11-01T12:00:00-04:00", "2025-11-02T12:00:00-05:00",
     5 * H + 1800),
    ("ny-overlap-first-0130", "ny_night", "add", "2025-11-02T00:30:00-04:00", 1 * H, "2025-11-02T01:30:00-04:00"),
    ("ny-overlap-second-0130", "ny_night", "add", "2025-11-02T00:30:00-04:00", 2 * H, "2025-11-02T01:30:00-05:00"),
    # windows across midnight: Monday to Friday 22:00-02:00 Asia/Shanghai
    ("night-past-midnight", "night", "add", "2025-06-09T23:00:00+08:00", 2 * H, "2025-06-10T01:00:00+08:00"),
    ("night-due-at-0200", "night", "add", "2025-06-09T23:00:00+08:00", 3 * H, "2025-06-10T02:00:00+08:00"),
    ("night-next-shift", "night", "add", "2025-06-09T23:00:00+08:00", 3 * H + 1, "2025-06-10T22:00:01+08:00"),
    ("friday-shift-runs-into-saturday", "night", "add", "2025-06-14T01:00:00+08:00", 2 * H,
     "2025-06-16T23:00:00+08:00"),
    ("monday-small-hours-are-free", "night", "add", "2025-06-09T01:00:00+08:00", 1 * H, "2025-06-09T23:00:00+08:00"),
    ("closed-date-keeps-window-started-before", "night_tue_closed", "add", "2025-06-10T01:00:00+08:00", 2 * H,
     "2025-06-11T23:00:00+08:00"),
    # "24:00": Monday to Friday 18:00-24:00
    ("due-at-2400", "evening_24", "add", "2025-06-09T23:00:00+08:00", 1 * H, "2025-06-10T00:00:00+08:00"),
    ("after-2400", "evening_24", "add", "2025-06-09T23:00:00+08:00", 1 * H + 1, "2025-06-10T18:00:01+08:00"),
    ("between-two-evenings", "evening_24", "between", "2025-06-09T00:00:00+08:00", "2025-06-11T00:00:00+08:00",
     12 * H),
    # one-off closures
    ("closure-in-afternoon", "typhoon", "add", "2025-06-09T12:00:00+08:00", 2 * H, "2025-06-09T16:00:00+08:00"),
    ("due-when-closure-starts", "typhoon", "add", "2025-06-09T12:00:00+08:00", 1 * H, "2025-06-09T13:00:00+08:00"),
    ("closure-over-days", "typhoon", "add", "2025-06-10T10:00:00+08:00", 4 * H, "2025-06-12T12:00:00+08:00"),
    ("between-over-closure", "typhoon", "between", "2025-06-10T09:00:00+08:00", "2025-06-13T09:00:00+08:00", 11 * H),
    ("closure-given-in-utc", "typhoon", "add", "2025-06-13T09:00:00+08:00", 1 * H, "2025-06-13T11:00:00+08:00"),
    ("start-inside-closure", "typhoon", "add", "2025-06-11T15:00:00+08:00", 1 * H, "2025-06-12T11:00:00+08:00"),
]


@pytest.mark.parametrize(("calendar", "operation", "start", "argument", "expected"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_table(calendar, operation, start, argument, expected):
    cal = CALENDARS[calendar]
    if operation == "add":
        due = add_business_time(cal, _at(start), argument)
        assert due.isoformat() == expected  # same instant, same offset: the result is in the calendar's zone
        assert due.tzinfo == cal.zone and due.microsecond == 0
    else:
        assert business_time_between(cal, _at(start), _at(argument)) == expected


def test_table_is_big_enough():
    assert len(CASES) >= 30 and len({case[0] for case in CASES}) == len(CASES)


# --- refusals ---------------------------------------------------------------------------------------------------

NAIVE = datetime(2025, 6, 9, 10, 0)
AWARE = datetime(2025, 6, 9, 10, 0, tzinfo=SH)
MON_9_18 = _every(WEEKDAYS, ("09:00", "18:00"))

ERRORS = [
    ("naive-start-add", lambda: add_business_time(default_calendar(), NAIVE, 60), NaiveDatetimeError, "naive"),
    ("naive-start-between", lambda: business_time_between(default_calendar(), NAIVE, AWARE), NaiveDatetimeError,
     "naive"),
    ("naive-end-between", lambda: business_time_between(default_calendar(), AWARE, NAIVE), NaiveDatetimeError,
     "naive"),
    ("naive-closure", lambda: default_calendar(closures=[(NAIVE, AWARE)]), NaiveDatetimeError, "naive"),
    ("date-not-datetime", lambda: add_business_time(default_calendar(), date(2025, 6, 9), 60), TypeError,
     "datetime"),
    ("float-seconds", lambda: add_business_time(default_calendar(), AWARE, 1.5), TypeError, "int"),
    ("negative-seconds", lambda: add_business_time(default_calendar(), AWARE, -1), ValueError, "negative"),
    ("hour-without-zero", lambda: BusinessCalendar("Asia/Shanghai", {0: [("9:00", "18:00")]}), ValueError, "HH:MM"),
    ("hour-25", lambda: BusinessCalendar("Asia/Shanghai", {0: [("09:00", "25:00")]}), ValueError, "HH:MM"),
    ("minute-60", lambda: BusinessCalendar("Asia/Shanghai", {0: [("09:60", "18:00")]}), ValueError, "HH:MM"),
    ("24-00-as-start", lambda: BusinessCalendar("Asia/Shanghai", {0: [("24:00", "02:00")]}), ValueError, "24:00"),
    ("24-30", lambda: BusinessCalendar("Asia/Shanghai", {0: [("22:00", "24:30")]}), ValueError, "HH:MM"),
    ("zero-length-window", lambda: BusinessCalendar("Asia/Shanghai", {0: [("09:00", "09:00")]}), ValueError,
     "zero length"),
    ("not-a-pair", lambda: BusinessCalendar("Asia/Shanghai", {0: ["09:00-18:00"]}), ValueError, "pair"),
    ("unknown-zone", lambda: BusinessCalendar("Asia/Beijing", MON_9_18), ValueError, "unknown time zone"),
    ("weekday-7", lambda: BusinessCalendar("Asia/Shanghai", {7: [("09:00", "18:00")]}), ValueError, "weekday"),
    ("closed-and-extra", lambda: default_calendar(closed_dates={date(2025, 9, 28)},
                                                  extra_workdays={date(2025, 9, 28): [("09:00", "18:00")]}),
     ValueError, "also a closed date"),
    ("extra-without-windows", lambda: default_calendar(extra_workdays={date(2025, 9, 28): []}), ValueError,
     "at least one window"),
    ("datetime-as-closed-date", lambda: default_calendar(closed_dates={datetime(2025, 10, 1, tzinfo=SH)}),
     ValueError, "datetime.date"),
    ("closure-backwards", lambda: default_calendar(closures=[(AWARE, AWARE - timedelta(hours=1))]), ValueError,
     "does not end"),
    ("empty-calendar", lambda: BusinessCalendar("Asia/Shanghai", {}), NoWorkingTimeError, "no working time"),
    ("only-empty-days", lambda: BusinessCalendar("Asia/Shanghai", _every(EVERY_DAY)), NoWorkingTimeError,
     "no working time"),
]


@pytest.mark.parametrize(("call", "error", "message"), [pytest.param(*case[1:], id=case[0]) for case in ERRORS])
def test_refusals(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_naive_datetime_error_is_both_value_and_type_error():
    with pytest.raises(ValueError):
        add_business_time(default_calendar(), NAIVE, 0)
    with pytest.raises(TypeError):
        add_business_time(default_calendar(), NAIVE, 0)


def test_no_working_time_ahead_raises_instead_of_looping():
    only_one_day = BusinessCalendar("Asia/Shanghai", {}, extra_workdays={date(2025, 9, 28): [("09:00", "18:00")]})
    start = _at("2025-09-28T17:00:00+08:00")
    assert add_business_time(only_one_day, start, H) == _at("2025-09-28T18:00:00+08:00")
    with pytest.raises(NoWorkingTimeError, match="no working time"):
        add_business_time(only_one_day, start, H + 1)
    # between a start and an end never needs the horizon: nothing to find is simply 0
    assert business_time_between(only_one_day, _at("2026-01-01T00:00:00+08:00"), _at("2031-01-01T00:00:00+08:00")) == 0


def test_long_closures_beyond_the_horizon_raise_shorter_ones_are_waited_out():
    start = _at("2025-06-09T09:00:00+08:00")
    two_years = default_calendar(closures=[(start, _at("2027-06-09T09:00:00+08:00"))])
    assert add_business_time(two_years, start, 60) == _at("2027-06-09T09:01:00+08:00")
    four_years = default_calendar(closures=[(start, _at("2029-06-09T09:00:00+08:00"))])
    with pytest.raises(NoWorkingTimeError):
        add_business_time(four_years, start, 60)


# --- China's official holidays from the `holidays` package ----------------------------------------------------


def test_holidays_package_make_up_workdays_2025_2026():
    closed, extra = china_holidays([2025, 2026])
    assert set(extra) == OFFICIAL_MAKE_UP_WORKDAYS[2025] | OFFICIAL_MAKE_UP_WORKDAYS[2026]
    assert all(windows == [("09:00", "18:00")] for windows in extra.values())
    assert {day.weekday() for day in extra} <= {5, 6}  # all make-up days are Saturdays or Sundays
    # The package lists the statutory days, observed days and moved days off; weekend days of a holiday period
    # (e.g. Sat-Sun 2025-10-04/05) are only listed when they are the holiday itself. On weekdays it must agree
    # exactly with the notices.
    for year in (2025, 2026):
        official = {day for day in OFFICIAL_DAYS_OFF[year] if day.weekday() < 5}
        assert {day for day in closed if day.year == year and day.weekday() < 5} == official
        assert {day for day in closed if day.year == year} <= OFFICIAL_DAYS_OFF[year]
    assert _days("2025-10-01", "2025-10-03") | _days("2025-10-06", "2025-10-08") <= closed  # National Day 2025


def test_holidays_package_raw_data_matches_the_api_used():
    # What china_holidays reads: the China() mapping of days off and its `weekend_workdays` set.
    cn = holidays.China(years=[2025, 2026])
    assert {day for day in cn.weekend_workdays if day.year in (2025, 2026)} == (
        OFFICIAL_MAKE_UP_WORKDAYS[2025] | OFFICIAL_MAKE_UP_WORKDAYS[2026])
    assert cn.is_working_day(date(2025, 9, 28)) and not cn.is_working_day(date(2025, 10, 8))
    assert {2025, 2026} <= china_published_years()


def test_unpublished_year_is_reported_not_guessed():
    next_unpublished = max(china_published_years()) + 1
    # The package still answers for that year, with its own "observed" guesses and no make-up workdays ...
    guessed = holidays.China(years=next_unpublished)
    assert len(guessed) > 0
    assert not any(day.year == next_unpublished for day in guessed.weekend_workdays)
    # ... so china_holidays refuses it, naming the year, even when asked together with published years.
    with pytest.raises(HolidaysNotPublishedError, match=str(next_unpublished)) as raised:
        china_holidays([2026, next_unpublished])
    assert raised.value.years == (next_unpublished,)
    with pytest.raises(HolidaysNotPublishedError):
        china_holidays([2099])


def test_china_holidays_build_a_calendar():
    closed, extra = china_holidays([2025])
    cal = default_calendar(closed_dates=closed, extra_workdays=extra)
    assert add_business_time(cal, _at("2025-09-30T16:00:00+08:00"), 4 * H) == _at("2025-10-09T11:00:00+08:00")


# --- properties -------------------------------------------------------------------------------------------------

PROPERTY_CALENDARS = {
    "default": CALENDARS["default"],
    "lunch": CALENDARS["lunch"],
    "night": CALENDARS["night"],
    "china": CALENDARS["china"],
    # DST zone, windows touching 02:00-03:00, across midnight, closures over both 2025 transitions.
    "berlin-dst-closures": BusinessCalendar(
        tz="Europe/Berlin",
        weekly={**_every(EVERY_DAY, ("01:00", "03:30"), ("08:00", "12:00"), ("22:00", "02:30")),
                5: [("02:30", "24:00")]},
        closed_dates={date(2025, 12, 25), date(2026, 3, 29)},
        extra_workdays={date(2025, 12, 27): [("09:00", "17:00")]},  # a Saturday with other hours
        closures=[(_at("2025-03-30T00:30:00+01:00"), _at("2025-03-30T03:15:00+02:00")),
                  (_at("2025-10-26T02:15:00+02:00"), _at("2025-10-26T02:45:00+01:00")),
                  (_at("2026-06-01T00:00:00+02:00"), _at("2026-06-20T00:00:00+02:00"))],
    ),
    "ny-night": CALENDARS["ny_night"],
}
START_ZONES = [ZoneInfo("UTC"), SH, ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")]
LOW, HIGH = int(datetime(2024, 1, 1, tzinfo=SH).timestamp()), int(datetime(2027, 12, 31, tzinfo=SH).timestamp())

calendars = st.sampled_from(sorted(PROPERTY_CALENDARS)).map(PROPERTY_CALENDARS.__getitem__)
instants = st.builds(
    lambda seconds, micro, zone: datetime.fromtimestamp(seconds, zone).replace(microsecond=micro),
    st.integers(LOW, HIGH), st.integers(0, 999_999), st.sampled_from(START_ZONES),
)
durations = st.integers(0, 200 * H)
PROPERTY = settings(max_examples=150, deadline=None)


@PROPERTY
@given(calendars, instants, durations)
def test_between_inverts_add(cal, start, seconds):
    assert business_time_between(cal, start, add_business_time(cal, start, seconds)) == seconds


@PROPERTY
@given(calendars, instants, st.integers(1, 200 * H))
def test_add_gives_the_earliest_instant(cal, start, seconds):
    due = add_business_time(cal, start, seconds)
    # one second earlier is one second short: the due time is the earliest, and the second before it is working
    assert business_time_between(cal, start, due - timedelta(seconds=1)) == seconds - 1
    assert due.tzinfo == cal.zone and due.microsecond == 0


@PROPERTY
@given(calendars, instants, durations, durations)
def test_add_is_additive(cal, start, first, second):
    # Exact for every a, b >= 0 (at second precision) because add returns the earliest instant, never
    # "the next opening": add(s, a) may be a closing time, and adding b from there continues at the next opening.
    assert add_business_time(cal, add_business_time(cal, start, first), second) == add_business_time(
        cal, start, first + second)


@PROPERTY
@given(calendars, instants, instants, instants)
def test_between_is_additive_and_bounded(cal, a, b, c):
    assert business_time_between(cal, a, b) + business_time_between(cal, b, c) == business_time_between(cal, a, c)
    low, high = sorted((a, b))
    elapsed = int(high.replace(microsecond=0).timestamp() - low.replace(microsecond=0).timestamp())
    assert 0 <= business_time_between(cal, low, high) <= elapsed


@PROPERTY
@given(calendars, instants, durations, durations)
def test_add_is_monotonic(cal, start, first, second):
    low, high = sorted((first, second))
    assert add_business_time(cal, start, low) <= add_business_time(cal, start, high)
    later = start + timedelta(seconds=first)
    assert add_business_time(cal, start, second) <= add_business_time(cal, later, second)


# An independent oracle for fixed-offset zones: is the wall-clock second inside a window of its date or of the
# day before (windows across midnight)? Written from the raw ("HH:MM", "HH:MM") data, not from the module.
ORACLE_DATA = {
    "default": (MON_9_18, set(), {}),
    "lunch": (LUNCH_WEEK, set(), {}),
    "night": (NIGHT_WEEK, set(), {}),
    "china": (MON_9_18, OFFICIAL_CLOSED, OFFICIAL_EXTRA),
}


def _oracle_open(name: str, instant: datetime) -> bool:
    weekly, closed, extra = ORACLE_DATA[name]
    wall = instant.astimezone(SH).replace(tzinfo=None, microsecond=0)
    for day in (wall.date() - timedelta(days=1), wall.date()):
        windows = extra[day] if day in extra else [] if day in closed else weekly.get(day.weekday(), [])
        for start_text, end_text in windows:
            start = datetime.combine(day, time.fromisoformat(start_text))
            end = (datetime.combine(day + timedelta(days=1), time()) if end_text == "24:00"
                   else datetime.combine(day, time.fromisoformat(end_text)))
            if end <= start:
                end += timedelta(days=1)
            if start <= wall < end:
                return True
    return False


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(ORACLE_DATA)), instants)
def test_each_second_agrees_with_an_independent_oracle(name, instant):
    second_later = instant + timedelta(seconds=1)
    assert business_time_between(CALENDARS[name], instant, second_later) == int(_oracle_open(name, instant))


# Random calendars: any windows (across midnight, 24:00), zones with DST (Lord Howe shifts by 30 minutes),
# random closures.
clock = st.integers(0, 24 * 60).map(lambda m: f"{m // 60:02d}:{m % 60:02d}")
window = st.tuples(clock.filter(lambda c: c != "24:00"), clock).filter(lambda w: w[0] != w[1])
closure = st.builds(
    lambda seconds, minutes: (datetime.fromtimestamp(seconds, SH), datetime.fromtimestamp(seconds + 60 * minutes, SH)),
    st.integers(LOW, HIGH), st.integers(1, 14 * 24 * 60),
)
random_calendars = st.builds(
    lambda tz, weekly, closures: BusinessCalendar(tz, weekly, closures=closures),
    st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]),
    st.dictionaries(st.integers(0, 6), st.lists(window, min_size=1, max_size=3), min_size=1),
    st.lists(closure, max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(random_calendars, instants, durations, durations)
def test_random_calendars_round_trip_and_add_up(cal, start, first, second):
    due = add_business_time(cal, start, first)
    assert business_time_between(cal, start, due) == first
    assert add_business_time(cal, due, second) == add_business_time(cal, start, first + second)
