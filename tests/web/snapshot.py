"""A snapshot of everything a request could change, to show that a refused request changed nothing."""
from __future__ import annotations

from agency.tables import Agent, ApiToken, User, UserSession


async def state() -> dict[str, list]:
    return {
        "agents": await Agent.select().order_by(Agent.id),
        "users": await User.select().order_by(User.id),
        "tokens": await ApiToken.select().order_by(ApiToken.id),
        # last_seen_at moves with every request; whether a session is revoked must not.
        "sessions": await UserSession.select(UserSession.id, UserSession.revoked_at).order_by(UserSession.id),
    }
