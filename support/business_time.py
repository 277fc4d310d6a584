"""Business time: working hours, holidays and exact business-time arithmetic (SPEC R-25).

Pure: no database, no HTTP. Calendars stored in the database are turned into a `BusinessCalendar` by the caller.

The model
---------
A `BusinessCalendar` says when support works, in one IANA time zone:

* weekly windows per weekday (0 = Monday), several per day, as local wall-clock ``("HH:MM", "HH:MM")`` pairs.
  ``"24:00"`` is allowed as an end and means midnight at the end of that day; an end before its start (or
  ``"00:00"``) crosses midnight, so ``("22:00", "02:00")`` on Monday runs Monday 22:00 to Tuesday 02:00;
* closed dates (public holidays) and extra workdays (China's make-up workdays, 调休), both *local* dates;
* one-off closures (a typhoon, an office move) as aware ``(start, end)`` instants.

The calendar is a sequence of disjoint UTC intervals, generated day by day, minus the closures:

1. The windows of local date D are ``extra_workdays[D]`` if D is an extra workday (they replace the weekly
   windows), none if D is a closed date, else ``weekly[D.weekday()]``. A window belongs to the local date it
   *starts* on: closing Tuesday removes Tuesday 22:00-02:00 but keeps Monday 22:00 - Tuesday 02:00.
2. Each window edge (local date, wall-clock time) becomes the first UTC instant whose local wall-clock reading
   is at or after it. Ordinarily that is simply the instant of that reading. In a spring-forward gap (02:30 in
   Berlin on the last Sunday of March does not exist) it is the first valid instant after the gap (03:00 CEST).
   In a fall-back overlap (02:30 happens twice) it is the first occurrence, ``fold=0``, for starts and ends
   alike. Durations are differences of UTC instants, so a 00:00-24:00 window lasts 23 or 25 hours on the
   transition days and a window lying entirely inside a gap is empty.
3. Overlapping windows are united; closures are cut out.

Arithmetic is done on integer UTC seconds ("exact to the second"). Input instants may carry microseconds: they
are truncated to the whole second, towards the past, before anything else (10:00:00.999 counts as 10:00:00).
Results always have ``microsecond == 0``.

* ``business_time_between(cal, start, end)`` is the working time in ``[start, end)`` in seconds; it is negative
  (``-business_time_between(cal, end, start)``) when end is before start, which reads naturally as "overdue".
* ``add_business_time(cal, start, seconds)`` is the *earliest* instant ``t >= start`` with
  ``business_time_between(cal, start, t) == seconds``. Consequently a due time may fall exactly at closing time
  (it is not pushed to the next opening), counting from outside working hours starts at the next opening, and
  adding 0 returns ``start`` itself (truncated). The result is in the calendar's zone.

A calendar without any working time is refused at construction; a search that finds no working time for more
than `SEARCH_HORIZON_DAYS` consecutive days (e.g. only extra workdays in the past, or a closure of many years)
raises `NoWorkingTimeError` instead of looping.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SEARCH_HORIZON_DAYS = 3 * 366
DEFAULT_TZ = "Asia/Shanghai"
DEFAULT_WINDOWS: tuple[tuple[str, str], ...] = (("09:00", "18:00"),)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)
_MINUTES_PER_DAY = 24 * 60
_CLOCK = re.compile(r"(\d\d):(\d\d)")

Window = tuple[int, int]  # minutes after the local midnight of the window's date; end may exceed 24 h


class NaiveDatetimeError(ValueError, TypeError):
    """A datetime without a time zone was given; business time only works with aware datetimes."""


class NoWorkingTimeError(ValueError):
    """The calendar has no working time at all, or none within the search horizon."""


class HolidaysNotPublishedError(ValueError):
    """The official holidays of these years are not published (not in the `holidays` package's data)."""

    def __init__(self, years: Iterable[int]):
        self.years = tuple(sorted(years))
        super().__init__(
            f"China's official holidays for {', '.join(map(str, self.years))} are not published in the installed "
            "`holidays` package; treat the year as unconfirmed instead of guessing"
        )


# --- parsing and validation -------------------------------------------------------------------------------------


def _parse_clock(text: object, *, is_end: bool, where: str) -> int:
    """'HH:MM' -> minutes after midnight; '24:00' only as an end."""
    match = _CLOCK.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{where}: bad time {text!r}, expected 'HH:MM'")
    hours, minutes = int(match[1]), int(match[2])
    if (hours, minutes) == (24, 0):
        if not is_end:
            raise ValueError(f"{where}: '24:00' is only allowed as the end of a window")
        return _MINUTES_PER_DAY
    if hours > 23 or minutes > 59:
        raise ValueError(f"{where}: bad time {text!r}, expected 'HH:MM' between 00:00 and 24:00")
    return hours * 60 + minutes


def _parse_windows(pairs: object, where: str) -> tuple[Window, ...]:
    """[("09:00", "12:00"), ...] -> sorted ((540, 720), ...); an end before its start crosses midnight."""
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Iterable):
        raise ValueError(f"{where}: expected a list of ('HH:MM', 'HH:MM') pairs, got {pairs!r}")
    windows = []
    for pair in pairs:
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Iterable) or len(pair := tuple(pair)) != 2:
            raise ValueError(f"{where}: expected a ('HH:MM', 'HH:MM') pair, got {pair!r}")
        start = _parse_clock(pair[0], is_end=False, where=where)
        end = _parse_clock(pair[1], is_end=True, where=where)
        if end == start:
            raise ValueError(f"{where}: window {pair[0]}-{pair[1]} has zero length")
        windows.append((start, end if end > start else end + _MINUTES_PER_DAY))
    return tuple(sorted(windows))


def _check_date(value: object, where: str) -> date:
    # A datetime is a date subclass but never equal to one, so it would silently never match.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValueError(f"{where}: expected a datetime.date, got {value!r}")
    return value


def _zone(tz: object) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    if not isinstance(tz, str) or not tz:
        raise ValueError(f"time zone must be an IANA name such as 'Asia/Shanghai', got {tz!r}")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc


# --- instants ---------------------------------------------------------------------------------------------------


def _epoch(moment: object, what: str) -> int:
    """Aware datetime -> whole UTC seconds since 1970, truncated towards the past."""
    if not isinstance(moment, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveDatetimeError(
            f"{what} is a naive datetime ({moment.isoformat()}); business time needs an aware datetime, "
            "e.g. datetime(..., tzinfo=ZoneInfo('Asia/Shanghai')) or a UTC datetime from the database"
        )
    return (moment - _EPOCH) // _SECOND


def _in_zone(seconds: int, zone: ZoneInfo) -> datetime:
    return (_EPOCH + timedelta(seconds=seconds)).astimezone(zone)


def _wall(seconds: int, zone: ZoneInfo) -> datetime:
    return _in_zone(seconds, zone).replace(tzinfo=None)


@functools.lru_cache(maxsize=1 << 16)
def _local_instant(zone: ZoneInfo, day: date, minute: int) -> int:
    """The first UTC second whose wall-clock reading in `zone` is at or after `day` + `minute`.

    Existing times map to themselves, ambiguous ones to their first occurrence (fold=0), and times inside a
    spring-forward gap to the end of the gap. Remembered: every queue page and report walks the same
    days' window edges again."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    first = _epoch(wall.replace(tzinfo=zone, fold=0), "window edge")
    if _wall(first, zone) == wall:
        return first
    # In a gap: fold=1 reads the wall time with the offset after the transition (an instant before it),
    # fold=0 with the offset before (an instant after it). Find the transition in between.
    low, high = _epoch(wall.replace(tzinfo=zone, fold=1), "window edge"), first
    while high - low > 1:  # invariant: wall(low) < wall <= wall(high)
        middle = (low + high) // 2
        if _wall(middle, zone) >= wall:
            high = middle
        else:
            low = middle
    return high


def _whole_seconds(seconds: object) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise TypeError(f"seconds must be an int (whole seconds), got {seconds!r}")
    if seconds < 0:
        raise ValueError(f"seconds must not be negative, got {seconds}")
    return seconds


# --- the calendar -----------------------------------------------------------------------------------------------


class BusinessCalendar:
    """Working hours in one time zone; see the module docstring for the model. Validated on construction."""

    def __init__(
        self,
        tz: str,
        weekly: Mapping[int, Iterable[tuple[str, str]]],
        closed_dates: Iterable[date] = (),
        extra_workdays: Mapping[date, Iterable[tuple[str, str]]] | None = None,
        closures: Iterable[tuple[datetime, datetime]] = (),
    ):
        self.zone = _zone(tz)
        self.tz = self.zone.key
        if not isinstance(weekly, Mapping):
            raise ValueError("weekly must map weekday numbers (0 = Monday) to lists of windows")
        self.weekly: dict[int, tuple[Window, ...]] = {}
        for weekday, pairs in weekly.items():
            if isinstance(weekday, bool) or weekday not in range(7):
                raise ValueError(f"weekly: weekday must be 0 (Monday) to 6 (Sunday), got {weekday!r}")
            self.weekly[weekday] = _parse_windows(pairs, f"weekly[{weekday}]")
        self.closed_dates = frozenset(_check_date(day, "closed_dates") for day in closed_dates)
        self.extra_workdays: dict[date, tuple[Window, ...]] = {}
        for day, pairs in (extra_workdays or {}).items():
            where = f"extra_workdays[{_check_date(day, 'extra_workdays').isoformat()}]"
            if day in self.closed_dates:
                raise ValueError(f"{where}: the date is also a closed date")
            if not (windows := _parse_windows(pairs, where)):
                raise ValueError(f"{where}: an extra workday needs at least one window")
            self.extra_workdays[day] = windows
        self.closures = _merge_closures(closures)
        self._closure_ends = [end for _, end in self.closures]
        if not any(self.weekly.values()) and not self.extra_workdays:
            raise NoWorkingTimeError("the calendar has no working time at all (no weekly windows, no extra workdays)")

    def __repr__(self) -> str:
        return (
            f"BusinessCalendar(tz={self.tz!r}, weekly={self.weekly!r}, {len(self.closed_dates)} closed dates, "
            f"{len(self.extra_workdays)} extra workdays, {len(self.closures)} closures)"
        )

    def _windows_on(self, day: date) -> tuple[Window, ...]:
        if day in self.extra_workdays:
            return self.extra_workdays[day]
        if day in self.closed_dates:
            return ()
        return self.weekly.get(day.weekday(), ())

    def _open_parts(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        """[start, end) minus the closures."""
        index = bisect.bisect_right(self._closure_ends, start)
        while index < len(self.closures) and self.closures[index][0] < end:
            closed_from, closed_until = self.closures[index]
            if closed_from > start:
                yield start, closed_from
            start = max(start, closed_until)
            index += 1
        if start < end:
            yield start, end

    def _intervals(self, since: int, until: int | None) -> Iterator[tuple[int, int]]:
        """Disjoint working intervals [a, b) in UTC seconds, in order, clipped to begin at or after `since`.

        With `until`, stops before the first day whose windows all start at or after it. Without, raises
        NoWorkingTimeError after SEARCH_HORIZON_DAYS consecutive days without working time."""
        day = _in_zone(since, self.zone).date() - _DAY  # yesterday's windows may run past midnight
        covered = since  # everything before this instant is done (or not wanted)
        idle_days = 0
        while True:
            if until is not None and _local_instant(self.zone, day, 0) >= until:
                return
            found = False
            for start_minute, end_minute in self._windows_on(day):
                start = max(_local_instant(self.zone, day, start_minute), covered)
                end = _local_instant(self.zone, day, end_minute)
                if end <= start:
                    continue
                covered = end
                for part in self._open_parts(start, end):
                    found = True
                    yield part
            idle_days = 0 if found else idle_days + 1
            if until is None and idle_days > SEARCH_HORIZON_DAYS:
                raise NoWorkingTimeError(
                    f"no working time in the {SEARCH_HORIZON_DAYS} days before {day.isoformat()} "
                    f"(calendar {self.tz}); check the weekly windows, extra workdays and closures"
                )
            day += _DAY


def _merge_closures(closures: Iterable[tuple[datetime, datetime]]) -> tuple[tuple[int, int], ...]:
    spans = []
    for pair in closures:
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Iterable) or len(pair := tuple(pair)) != 2:
            raise ValueError(f"closures: expected a (start, end) pair of aware datetimes, got {pair!r}")
        start, end = _epoch(pair[0], "closure start"), _epoch(pair[1], "closure end")
        if end <= start:
            raise ValueError(f"closures: {pair[0].isoformat()} - {pair[1].isoformat()} does not end after it starts")
        spans.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


# --- arithmetic -------------------------------------------------------------------------------------------------


def add_business_time(cal: BusinessCalendar, start: datetime, seconds: int) -> datetime:
    """The earliest instant t >= start (truncated to the second) with `seconds` of working time in [start, t).

    Returned as an aware datetime in the calendar's zone, microsecond 0."""
    remaining = _whole_seconds(seconds)
    cursor = _epoch(start, "start")
    if remaining:
        for begin, end in cal._intervals(cursor, None):
            if remaining <= end - begin:
                cursor = begin + remaining
                break
            remaining -= end - begin
    return _in_zone(cursor, cal.zone)


def business_time_between(cal: BusinessCalendar, start: datetime, end: datetime) -> int:
    """Working seconds in [start, end) (both truncated to the second); negative when end is before start."""
    low, high = _epoch(start, "start"), _epoch(end, "end")
    if high < low:
        return -_between(cal, high, low)
    return _between(cal, low, high)


def _between(cal: BusinessCalendar, low: int, high: int) -> int:
    total = 0
    for begin, end in cal._intervals(low, high):
        if begin >= high:
            break
        total += min(end, high) - begin
    return total


class WorkingTimeSpan:
    """`business_time_between` for many instants within one span, each in O(log n): the calendar's
    working intervals over the span are walked once and their running totals kept. For a report or
    a queue page that needs the working time of many tickets at once."""

    def __init__(self, cal: BusinessCalendar, moments: Iterable[datetime]):
        seconds = [_epoch(moment, "moment") for moment in moments]
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._before: list[int] = []  # working seconds from the span's start to each interval
        if not seconds:
            return
        low, high = min(seconds), max(seconds)
        total = 0
        for begin, end in cal._intervals(low, high):
            if begin >= high:
                break
            self._starts.append(begin)
            self._ends.append(end)
            self._before.append(total)
            total += end - begin

    def _since_low(self, moment: datetime) -> int:
        at = _epoch(moment, "moment")
        index = bisect.bisect_right(self._starts, at) - 1
        if index < 0:
            return 0
        return self._before[index] + min(at, self._ends[index]) - self._starts[index]

    def between(self, start: datetime, end: datetime) -> int:
        """As business_time_between; both instants must lie within the span given."""
        return self._since_low(end) - self._since_low(start)


# --- defaults and China's official holidays -------------------------------------------------------------------


def default_calendar(
    *,
    closed_dates: Iterable[date] = (),
    extra_workdays: Mapping[date, Iterable[tuple[str, str]]] | None = None,
    closures: Iterable[tuple[datetime, datetime]] = (),
) -> BusinessCalendar:
    """Monday to Friday 09:00-18:00 Asia/Shanghai. Holidays come from the caller (the database), none by default."""
    return BusinessCalendar(
        tz=DEFAULT_TZ,
        weekly={weekday: DEFAULT_WINDOWS for weekday in range(5)},
        closed_dates=closed_dates,
        extra_workdays=extra_workdays,
        closures=closures,
    )


def china_published_years() -> frozenset[int]:
    """Years for which the installed `holidays` package carries the State Council's annual holiday notice.

    The package keeps each notice as a table of substituted days (day off <- make-up workday). For a year without
    that table it still answers, with the statutory days plus its own "observed" guesses, so the table's presence
    is what tells a published year from a guessed one."""
    import holidays

    return frozenset(holidays.China().special_public_holidays)


def china_holidays(
    years: Iterable[int], *, workday_windows: Iterable[tuple[str, str]] = DEFAULT_WINDOWS
) -> tuple[set[date], dict[date, list[tuple[str, str]]]]:
    """China's official days off and make-up workdays (调休) of `years`, from the `holidays` package.

    Returns ``(closed_dates, extra_workdays)`` ready for `BusinessCalendar`: every official day off (statutory
    holidays, their observed days and the days off moved by substitution; some fall on weekends, which is
    harmless), and each make-up workday mapped to `workday_windows`. Raises HolidaysNotPublishedError if any of
    the years is not published in the package, rather than returning a guess (SPEC R-25)."""
    import holidays

    wanted = sorted(set(years))
    if any(isinstance(year, bool) or not isinstance(year, int) for year in wanted):
        raise TypeError(f"years must be ints, got {wanted!r}")
    if missing := [year for year in wanted if year not in china_published_years()]:
        raise HolidaysNotPublishedError(missing)
    windows = [tuple(pair) for pair in workday_windows]
    _parse_windows(windows, "workday_windows")
    calendar = holidays.China(years=wanted)
    closed = {day for day in calendar if day.year in wanted}
    # `weekend_workdays` holds the Saturdays and Sundays turned into workdays by the notices (including ones
    # announced in the next year's notice, e.g. 2001-12-29 in the 2002 notice), for all years it knows.
    extra = {day: list(windows) for day in calendar.weekend_workdays if day.year in wanted}
    return closed, extra
