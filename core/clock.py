"""The current time, always UTC and aware; one place for tests to reason about. And the
operator's time zone, whose calendar days the statistics count in."""

import contextlib
import datetime as dt
import functools
import os
import zoneinfo
from collections.abc import Iterator

DEFAULT_ZONE = "Asia/Shanghai"
_shift = dt.timedelta(0)  # how far the clock is set back (the demo's history), else zero


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) - _shift


@contextlib.contextmanager
def set_back(by: dt.timedelta) -> Iterator[None]:
    """Run the enclosed code as if it were `by` earlier, every use case included (the demo builds
    its 90 days of history so, through the real services). For a command that runs alone: the
    clock is the whole process's."""
    global _shift
    previous, _shift = _shift, by
    try:
        yield
    finally:
        _shift = previous


@functools.cache
def operator_zone() -> zoneinfo.ZoneInfo:
    """VOIPAGENCY_TIMEZONE, Asia/Shanghai by default."""
    return zoneinfo.ZoneInfo(os.environ.get("VOIPAGENCY_TIMEZONE") or DEFAULT_ZONE)


def today() -> dt.date:
    """The operator's calendar day now."""
    return now().astimezone(operator_zone()).date()


def local_day(at: dt.datetime) -> str:
    """The operator's calendar day of an aware time, "YYYY-MM-DD"."""
    return at.astimezone(operator_zone()).date().isoformat()
