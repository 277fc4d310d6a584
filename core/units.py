"""The two units (R-4, R-5), as exact integers: money in fen (分), prices in 1/100 fen per minute,
airtime in seconds. Parsing of user input and rounding live here; nothing uses floats."""

from __future__ import annotations

import re

from core.errors import N_, ValidationFailed

FEN = "fen"
SECONDS = "sec"
MAX_FEN = 10**13  # 1,000 亿元: more than any wallet, far below 64-bit limits
MAX_MINUTES = 10**8

_YUAN = re.compile(r"^([0-9]{1,11})(?:\.([0-9]{1,2}))?$")
# Commas only as thousands separators ("1,200.50"); "12,50" or "1,5" could be a decimal comma, so
# such an amount is refused rather than read as 1250 or 15 yuan.
_GROUPED = re.compile(r"^[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?$")
_PRICE = re.compile(r"^([0-9]{1,6})(?:\.([0-9]{1,2}))?$")


def parse_yuan(field: str, text: object) -> int:
    """ "12.5" 元 -> 1250 fen. At most two decimals; positive; commas only between groups of thousands."""
    typed = str(text).strip() if isinstance(text, (str, int)) else ""
    if "," in typed and not _GROUPED.match(typed):
        raise ValidationFailed({field: N_("Write the amount with a point for the decimals, like 1200.50.")})
    match = _YUAN.match(typed.replace(",", "")) if isinstance(text, (str, int)) else None
    if not match:
        raise ValidationFailed({field: N_("Enter an amount in yuan, like 1200 or 1200.50.")})
    fen = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if not 0 < fen <= MAX_FEN:
        raise ValidationFailed({field: N_("The amount must be above zero and not absurdly large.")})
    return fen


def parse_price(field: str, text: object) -> int:
    """ "8.25" 分/分钟 -> 825 (1/100 fen per minute)."""
    match = _PRICE.match(str(text).strip()) if isinstance(text, (str, int)) else None
    if not match:
        raise ValidationFailed({field: N_("Enter a price in fen per minute, like 8 or 8.25.")})
    value = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if value <= 0:
        raise ValidationFailed({field: N_("The price must be above zero.")})
    return value


def parse_whole(
    field: str, value: object, *, minimum: int, maximum: int, message: str, range_message: str = "", digits: int = 12
) -> int:
    """A whole number in [minimum, maximum], as typed in a form (at most `digits` digits) or sent
    as a JSON integer; `message` when it is not one, `range_message` (default: the same) when out
    of range."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValidationFailed({field: message})
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > digits:
        raise ValidationFailed({field: message})
    number = int(text)
    if not minimum <= number <= maximum:
        raise ValidationFailed({field: range_message or message})
    return number


def parse_minutes(field: str, value: object, *, minimum: int = 1, maximum: int = MAX_MINUTES) -> int:
    """Whole minutes, as typed in a form or sent as a JSON integer."""
    return parse_whole(
        field,
        value,
        minimum=minimum,
        maximum=maximum,
        message=N_("Enter a whole number of minutes."),
        range_message=N_("The number of minutes is out of range."),
    )


def total_fen(minutes: int, price_centi_fen: int) -> int:
    """minutes x price, rounded half-up to a whole fen once (R-4)."""
    hundredths = minutes * price_centi_fen
    return (hundredths + 50) // 100


def format_price(price_centi_fen: int) -> str:
    """825 -> "8.25" (fen per minute)."""
    whole, part = divmod(price_centi_fen, 100)
    return f"{whole}.{part:02d}"
