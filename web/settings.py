"""Settings, read from the environment once. See the README's configuration table."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from accounts.sip import DEFAULT_REALM, REALM
from agency.sessions import SessionPolicy
from core.sqlite_engine import SYNCHRONOUS

MIN_METRICS_TOKEN = 24  # characters of VOIPAGENCY_METRICS_TOKEN


class SettingsError(RuntimeError):
    """A configuration that must not start (e.g. production without its secrets)."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _int(env: dict[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    sqlite_path: str
    demo: bool
    secret_key: str
    card_secret_key: str
    allowed_hosts: tuple[str, ...]
    secure_cookies: bool
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    audit_retention_days: int = 180
    max_agent_depth: int = 5
    demo_days: int = 90  # days of history the demo loads (0: the agents and users alone)
    metrics_token: str = ""  # the bearer token of /metrics; empty: /metrics answers 404
    sqlite_synchronous: str = "FULL"  # core.sqlite_engine.SYNCHRONOUS
    sip_realm: str = DEFAULT_REALM  # the SIP digest realm of the switch (accounts.sip)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def card_key(self) -> bytes:
        """The key of the card secrets' HMACs and seals (cards.codes, cards.sealing)."""
        return self.card_secret_key.encode()

    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(
            idle=timedelta(minutes=self.session_idle_minutes), absolute=timedelta(hours=self.session_max_hours)
        )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        database_url = env.get("DATABASE_URL") or None
        # Demo (embedded) mode by default on SQLite; never with PostgreSQL unless asked for.
        demo = _bool(env.get("VOIPAGENCY_DEMO"), default=database_url is None)
        sqlite_path = env.get("VOIPAGENCY_DB_PATH") or "voipagency.sqlite3"
        secret_key = env.get("VOIPAGENCY_SECRET_KEY", "")
        card_key = env.get("VOIPAGENCY_CARD_SECRET_KEY", "")
        if not secret_key or not card_key:
            if not demo:
                missing = [
                    n
                    for n, v in (("VOIPAGENCY_SECRET_KEY", secret_key), ("VOIPAGENCY_CARD_SECRET_KEY", card_key))
                    if not v
                ]
                raise SettingsError("missing secret(s) outside demo mode: " + ", ".join(missing))
            demo_secret, demo_card = _demo_secrets(Path(sqlite_path).with_suffix(".secrets"))
            secret_key, card_key = secret_key or demo_secret, card_key or demo_card
        if len(secret_key) < 32 or len(card_key) < 32:
            raise SettingsError("VOIPAGENCY_SECRET_KEY and VOIPAGENCY_CARD_SECRET_KEY need at least 32 characters")
        hosts = tuple(
            h.strip() for h in env.get("VOIPAGENCY_ALLOWED_HOSTS", "" if not demo else "*").split(",") if h.strip()
        )
        if not hosts:
            raise SettingsError("VOIPAGENCY_ALLOWED_HOSTS is required outside demo mode (e.g. agency.example.com)")
        metrics_token = env.get("VOIPAGENCY_METRICS_TOKEN", "").strip()
        if metrics_token and not (len(metrics_token) >= MIN_METRICS_TOKEN and _token_characters(metrics_token)):
            raise SettingsError(
                f"VOIPAGENCY_METRICS_TOKEN needs at least {MIN_METRICS_TOKEN} printable ASCII characters, no spaces"
            )
        sqlite_synchronous = env.get("VOIPAGENCY_SQLITE_SYNCHRONOUS", "FULL").strip().upper()
        if sqlite_synchronous not in SYNCHRONOUS:
            raise SettingsError(f"VOIPAGENCY_SQLITE_SYNCHRONOUS must be one of {', '.join(SYNCHRONOUS)}")
        sip_realm = env.get("VOIPAGENCY_SIP_REALM", "").strip() or DEFAULT_REALM
        if not REALM.fullmatch(sip_realm):
            raise SettingsError(
                "VOIPAGENCY_SIP_REALM must be at most 64 letters, digits, dots and hyphens, e.g. sip.example.com"
            )
        return cls(
            database_url=database_url,
            sqlite_path=sqlite_path,
            demo=demo,
            secret_key=secret_key,
            card_secret_key=card_key,
            allowed_hosts=hosts,
            secure_cookies=_bool(env.get("VOIPAGENCY_SECURE_COOKIES"), default=not demo),
            session_idle_minutes=_int(env, "VOIPAGENCY_SESSION_IDLE_MINUTES", 30, 1),
            session_max_hours=_int(env, "VOIPAGENCY_SESSION_MAX_HOURS", 12, 1),
            audit_retention_days=_int(env, "VOIPAGENCY_AUDIT_RETENTION_DAYS", 180, 30),
            max_agent_depth=_int(env, "VOIPAGENCY_MAX_AGENT_DEPTH", 5, 1),
            demo_days=_int(env, "VOIPAGENCY_DEMO_DAYS", 90, 0),
            metrics_token=metrics_token,
            sqlite_synchronous=sqlite_synchronous,
            sip_realm=sip_realm,
        )


def _token_characters(token: str) -> bool:
    """Printable ASCII without spaces: what fits in an `Authorization: Bearer` header as it is."""
    return all("!" <= c <= "~" for c in token)


def _demo_secrets(path: Path) -> tuple[str, str]:
    """Demo mode keeps generated secrets beside the SQLite file, so sessions survive a restart."""
    if path.exists():
        lines = path.read_text().split()
        if len(lines) == 2:
            return lines[0], lines[1]
    pair = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
    path.write_text("\n".join(pair) + "\n")
    path.chmod(0o600)
    return pair
