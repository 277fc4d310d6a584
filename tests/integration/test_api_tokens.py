"""Issue 11.4: API tokens expire (chosen at creation, at most a year), end with a password change,
a reset and a disable or enable, and record their last use (at most one write a minute)."""
import datetime as dt

import pytest

from agency import sessions, users
from agency.tables import ApiToken, AuditEntry
from core.clock import now
from core.errors import ValidationFailed
from tests.helpers import demo_actors
from web.demo import DEMO_PASSWORD


async def _live(token: str) -> bool:
    return await sessions.actor_for_api_token(token, address="a") is not None


async def test_expiry_is_chosen_at_creation_with_a_maximum(db):
    owner = (await demo_actors())["huaxin"]
    default = await sessions.create_api_token(owner, "default")
    year = await sessions.create_api_token(owner, "a year", 365)
    week = await sessions.create_api_token(owner, "from a form", "7")
    rows = {r["name"]: r for r in await sessions.list_api_tokens(owner)}
    for name, days in (("default", 90), ("a year", 365), ("from a form", 7)):
        left = rows[name]["expires_at"] - rows[name]["created_at"]
        assert left == dt.timedelta(days=days), name
    assert all([await _live(t) for t in (default, year, week)])
    for days in (0, -1, 366, 10**9, "abc", "", None, True, 1.5, "٣"):
        with pytest.raises(ValidationFailed) as refused:
            await sessions.create_api_token(owner, "bad", days)
        assert set(refused.value.errors) == {"days"} and refused.value.params == {"max_days": 365}
    assert len(await sessions.list_api_tokens(owner)) == 3
    entry = await AuditEntry.select().output(load_json=True).where(AuditEntry.action == "api_token.create").first()
    assert entry["after"]["expires_at"]


async def test_an_expired_token_is_refused_and_not_listed(db):
    owner = (await demo_actors())["huaxin"]
    token = await sessions.create_api_token(owner, "short", 1)
    await ApiToken.update({ApiToken.expires_at: now() - dt.timedelta(seconds=1)}).where(ApiToken.name == "short")
    assert not await _live(token)
    assert await sessions.list_api_tokens(owner) == []


async def test_last_use_is_recorded_at_most_once_a_minute(db):
    owner = (await demo_actors())["huaxin"]
    token = await sessions.create_api_token(owner, "script")
    assert (await sessions.list_api_tokens(owner))[0]["last_used_at"] is None
    assert await _live(token)
    first = (await sessions.list_api_tokens(owner))[0]["last_used_at"]
    assert first is not None and now() - first < dt.timedelta(seconds=10)
    assert await _live(token)
    assert (await sessions.list_api_tokens(owner))[0]["last_used_at"] == first  # no write within the minute
    earlier = first - dt.timedelta(seconds=61)
    await ApiToken.update({ApiToken.last_used_at: earlier}).where(ApiToken.name == "script")
    assert await _live(token)
    assert (await sessions.list_api_tokens(owner))[0]["last_used_at"] > first


async def test_own_password_change_revokes_the_tokens(db):
    actors = await demo_actors()
    owner = actors["huaxin"]
    token = await sessions.create_api_token(owner, "script")
    other = await sessions.create_api_token(actors["pearl"], "not theirs")
    await users.change_own_password(owner, DEMO_PASSWORD, "a-new-password-1")
    assert not await _live(token) and await _live(other)
    assert await sessions.list_api_tokens(owner) == []
    entry = await AuditEntry.select().output(load_json=True).where(AuditEntry.action == "user.change_password").first()
    assert entry["after"]["api_tokens_revoked"] == 1


async def test_a_password_reset_revokes_the_tokens(db):
    actors = await demo_actors()
    token = await sessions.create_api_token(actors["huaxin.clerk"], "script")
    await users.reset_password(actors["huaxin"], actors["huaxin.clerk"].user_id, "a-new-password-1")
    assert not await _live(token)


async def _revoked(name: str) -> bool:
    return (await ApiToken.select(ApiToken.revoked_at).where(ApiToken.name == name).first())["revoked_at"] is not None


async def test_disabling_and_enabling_revoke_the_tokens(db):
    actors = await demo_actors()
    owner, clerk = actors["huaxin"], actors["huaxin.clerk"]
    token = await sessions.create_api_token(clerk, "before disabling")
    await users.update_user(owner, clerk.user_id, {"is_active": False})
    assert await _revoked("before disabling")
    # A token that existed while the user was disabled (made just before, say) ends when enabled.
    dormant = await sessions.create_api_token(clerk, "while disabled")
    assert not await _live(dormant)
    await users.update_user(owner, clerk.user_id, {"is_active": True})
    assert await _revoked("while disabled")
    assert not await _live(token) and not await _live(dormant)  # enabled again: no old token comes back
    # A change of the name only keeps the tokens.
    fresh = await sessions.create_api_token(clerk, "fresh")
    await users.update_user(owner, clerk.user_id, {"display_name": "Clerk"})
    assert await _live(fresh)
