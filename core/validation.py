"""Pure checks of user input; each returns a cleaned value or raises ValidationFailed."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from functools import cache

from core.errors import N_, ValidationFailed

USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{3,64}$")


class Checker:
    """Collects per-field errors so a form shows all of them at once."""

    def __init__(self, data: dict[str, object]) -> None:
        self.data = data
        self.errors: dict[str, str] = {}
        self.clean: dict[str, object] = {}

    def text(
        self,
        field: str,
        *,
        max_len: int,
        required: bool = True,
        pattern: re.Pattern | None = None,
        pattern_message: str = N_("The format is not valid."),
    ) -> None:
        raw = self.data.get(field, "")
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            self.errors[field] = N_("Must be text.")
            return
        value = raw.strip()
        if required and not value:
            self.errors[field] = N_("This field is required.")
        elif len(value) > max_len:
            self.errors[field] = N_("Too long.")
        elif "\x00" in value:
            self.errors[field] = N_("The format is not valid.")
        elif value and pattern is not None and not pattern.match(value):
            self.errors[field] = pattern_message
        else:
            self.clean[field] = value

    def choice(self, field: str, choices: tuple[str, ...]) -> None:
        value = self.data.get(field)
        if value not in choices:
            self.errors[field] = N_("Choose one of the offered values.")
        else:
            self.clean[field] = value

    def timezone(self, field: str) -> None:
        value = self.data.get(field) or "Asia/Shanghai"
        if not isinstance(value, str) or value not in available_timezones():
            self.errors[field] = N_("Unknown time zone.")
        else:
            self.clean[field] = value

    def parsed(self, field: str, parse: Callable[[str], object], *, max_len: int, message: str) -> None:
        """A text field that `parse` accepts (it raises ValueError otherwise); absent is ""."""
        value = self.data.get(field) or ""
        try:
            if not isinstance(value, str) or len(value) > max_len:
                raise ValueError(value)
            parse(value)
        except ValueError:
            self.errors[field] = message
        else:
            self.clean[field] = value.strip()

    def password(self, field: str, *, min_len: int = 10) -> None:
        value = self.data.get(field)
        if not isinstance(value, str) or not value:
            self.errors[field] = N_("This field is required.")
        elif len(value) < min_len:
            self.errors[field] = N_("At least 10 characters.") if min_len >= 10 else N_("At least 6 characters.")
        elif len(value) > 128:
            self.errors[field] = N_("Too long.")
        else:
            self.clean[field] = value

    def done(self) -> dict[str, object]:
        if self.errors:
            raise ValidationFailed(self.errors)
        return self.clean


@cache
def available_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())
