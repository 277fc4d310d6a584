"""Card numbers and secrets (R-13), pure: no database, no HTTP.

A serial is public: prefix + a 10-digit sequence number + a Luhn check digit, so a mistyped
serial is caught before any lookup. A secret (recharge PIN, e-card initial password) is 16
digits from the operating system's CSPRNG. Only a keyed hash of a secret is stored:
HMAC-SHA256 under the server's card key (kept outside the database), salted by the serial, so
equal PINs on two cards hash differently and a stolen database cannot be brute-forced offline."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SEQUENCE_DIGITS = 10
SECRET_DIGITS = 16


def luhn_check_digit(digits: str) -> int:
    """The digit that makes `digits` + it pass the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # these get doubled once the check digit is appended
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return (10 - total % 10) % 10


def is_valid_serial(serial: str) -> bool:
    if not (serial.isascii() and serial.isdigit()) or not 12 <= len(serial) <= 20:
        return False
    return luhn_check_digit(serial[:-1]) == int(serial[-1])


def make_serial(prefix: str, number: int) -> str:
    body = f"{prefix}{number:0{SEQUENCE_DIGITS}d}"
    return f"{body}{luhn_check_digit(body)}"


def new_secret() -> str:
    return f"{secrets.randbelow(10**SECRET_DIGITS):0{SECRET_DIGITS}d}"


def secret_hash(key: bytes, serial: str, secret: str) -> str:
    return hmac.new(key, f"{serial}:{secret}".encode(), hashlib.sha256).hexdigest()


def secret_matches(key: bytes, serial: str, secret: object, stored: str) -> bool:
    if not isinstance(secret, str) or len(secret) > 64:
        return False
    typed = "".join(secret.split())  # printed in groups of four: "1234 5678 …"
    return hmac.compare_digest(secret_hash(key, serial, typed), stored)
