"""The current time, always UTC and aware; one place for tests to reason about."""

import datetime as dt


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
