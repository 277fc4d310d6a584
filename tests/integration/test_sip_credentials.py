"""Issue 16: the SIP digest credentials the product gives the switch (accounts.sip), on SQLite and
PostgreSQL. Only the HA1 is stored, with its realm; the subscriber sets its password with its
portal password, staff of its subtree reset it to a random one; both are audited without the
password or the HA1; the switch's lookup answers nothing for closed, unset or stale accounts."""

from __future__ import annotations

import hashlib

import pytest

from accounts import services, sip
from accounts.tables import Subscriber
from agency.tables import AuditEntry
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.helpers import demo_actors
from tests.integration.test_cards import live_subscriber, stocked_owner
from web.demo import DEMO_OPERATION_PASSWORD as OP

REALM = "voipagency"
PORTAL = "portal-pass-1"
ADDRESS = "10.9.9.9"


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@pytest.fixture
async def world(db):
    actors = await demo_actors()
    owner = await stocked_owner(actors, minutes=1000)
    row, _card = await live_subscriber(owner, 10)
    await services.change_subscriber_password(row["id"], PORTAL)
    return actors, owner, row


async def stored(subscriber_id: int) -> dict:
    return (
        await Subscriber.select(Subscriber.sip_ha1, Subscriber.sip_realm).where(Subscriber.id == subscriber_id).first()
    )


async def audit_text() -> str:
    rows = await AuditEntry.select(AuditEntry.before, AuditEntry.after, AuditEntry.target_id)
    return repr(rows)


async def test_the_subscriber_sets_it_and_only_the_ha1_is_stored(world):
    _actors, _owner, row = world
    number = row["account_number"]
    assert (await sip.sip_state(row["id"], REALM)) == {
        "username": number,
        "realm": REALM,
        "is_set": False,
        "stale": False,
    }
    with pytest.raises(NotFound):
        await sip.credentials_for_switch(number, REALM)  # no SIP password yet
    state = await sip.set_sip_password(row["id"], PORTAL, "Phone-Pass#1", realm=REALM, address=ADDRESS)
    assert state["is_set"] and state["username"] == number
    assert await stored(row["id"]) == {"sip_ha1": md5(f"{number}:{REALM}:Phone-Pass#1"), "sip_realm": REALM}
    answer = await sip.credentials_for_switch(number, REALM)
    assert answer == {"account": number, "realm": REALM, "ha1": md5(f"{number}:{REALM}:Phone-Pass#1")}
    # A plain overwrite: the last one wins.
    await sip.set_sip_password(row["id"], PORTAL, "another-one-2", realm=REALM, address=ADDRESS)
    assert (await sip.credentials_for_switch(number, REALM))["ha1"] == md5(f"{number}:{REALM}:another-one-2")
    # Audited, with who, from where and for which realm; never the password or its HA1.
    entries = await AuditEntry.select().where(AuditEntry.action == "subscriber.set_sip_password")
    assert len(entries) == 2 and entries[0]["address"] == ADDRESS and entries[0]["target_id"] == str(row["id"])
    assert entries[0]["scope_path"] and entries[0]["username"] == f"subscriber:{row['id']}"
    text = await audit_text()
    assert "Phone-Pass#1" not in text and "another-one-2" not in text and answer["ha1"] not in text
    # The portal password is untouched by it.
    assert await services.authenticate_subscriber(
        number, PORTAL, address=ADDRESS, initial_secret_matches=lambda *_: None
    )


async def test_a_wrong_portal_password_changes_nothing_and_is_audited(world):
    _actors, _owner, row = world
    for wrong in ("not-my-password", "", None, 12345, "x" * 500):
        with pytest.raises(ValidationFailed) as refused:
            await sip.set_sip_password(row["id"], wrong, "Phone-Pass#1", realm=REALM, address=ADDRESS)
        assert set(refused.value.errors) == {"current_password"}
    assert await stored(row["id"]) == {"sip_ha1": None, "sip_realm": None}
    failed = await AuditEntry.count().where(AuditEntry.action == "subscriber.set_sip_password_failed")
    assert failed == 5
    assert "Phone-Pass#1" not in await audit_text()


@pytest.mark.parametrize(
    "password",
    [
        "short7!",
        "x" * 65,
        "with space1",
        "密码密码密码密码",
        "tab\there12",
        "nul\x00abcdef",
        "",
        None,
        12345678,
        ["a" * 10],
    ],
)
async def test_a_sip_password_off_the_rules_is_refused_with_a_message(world, password):
    _actors, _owner, row = world
    with pytest.raises(ValidationFailed) as refused:
        await sip.set_sip_password(row["id"], PORTAL, password, realm=REALM, address=ADDRESS)
    assert refused.value.errors == {"sip_password": sip.PASSWORD_RULE}
    assert await stored(row["id"]) == {"sip_ha1": None, "sip_realm": None}


async def test_edges_of_the_rules_are_accepted(world):
    _actors, _owner, row = world
    for password in ("a" * 8, "~" * 64, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"):
        await sip.set_sip_password(row["id"], PORTAL, password, realm=REALM, address=ADDRESS)
        assert (await stored(row["id"]))["sip_ha1"] == md5(f"{row['account_number']}:{REALM}:{password}")


async def test_staff_of_the_subtree_reset_it_once_and_others_cannot(world):
    actors, owner, row = world
    number = row["account_number"]
    reset = await sip.reset_sip_password(owner, row["id"], realm=REALM)
    password = reset["password"]
    assert len(password) == sip.GENERATED_LENGTH and sip.PASSWORD.fullmatch(password)
    assert reset["account_number"] == number and reset["is_set"] and reset["realm"] == REALM
    assert (await sip.credentials_for_switch(number, REALM))["ha1"] == md5(f"{number}:{REALM}:{password}")
    again = await sip.reset_sip_password(actors["huaxin.clerk"], row["id"], realm=REALM)
    assert again["password"] != password  # a new one each time; the old one is gone
    assert (await sip.credentials_for_switch(number, REALM))["ha1"] == md5(f"{number}:{REALM}:{again['password']}")
    assert (await sip.reset_sip_password(actors["admin"], row["id"], realm=REALM))["is_set"]  # the operator too
    entries = await AuditEntry.select().where(AuditEntry.action == "subscriber.reset_sip_password")
    assert [e["username"] for e in entries] == ["huaxin", "huaxin.clerk", "admin"]
    assert all(e["scope_path"] == entries[0]["scope_path"] and e["target_id"] == str(row["id"]) for e in entries)
    text = await audit_text()
    assert password not in text and again["password"] not in text
    before = await stored(row["id"])
    # Another agent's staff: the same answer as for an account that does not exist. A viewer may not.
    with pytest.raises(NotFound):
        await sip.reset_sip_password(actors["pearl"], row["id"], realm=REALM)
    with pytest.raises(NotFound):
        await sip.reset_sip_password(actors["huaxin"], 99999999, realm=REALM)
    with pytest.raises(Forbidden):
        await sip.reset_sip_password(actors["huaxin.view"], row["id"], realm=REALM)
    assert await stored(row["id"]) == before
    assert await AuditEntry.count().where(AuditEntry.action == "subscriber.reset_sip_password") == 3


async def test_the_switch_gets_nothing_for_closed_unset_or_stale_accounts(world):
    _actors, owner, row = world
    number = row["account_number"]
    await sip.set_sip_password(row["id"], PORTAL, "Phone-Pass#1", realm=REALM, address=ADDRESS)
    # Another realm configured: the HA1 made for the old one is not handed out, and the portal says so.
    with pytest.raises(NotFound):
        await sip.credentials_for_switch(number, "sip.example.com")
    assert (await sip.sip_state(row["id"], "sip.example.com"))["stale"]
    # Suspended (and expired) accounts keep theirs: authorize refuses their calls with the reason.
    await services.suspend_subscriber(owner, row["id"], "unpaid")
    assert (await sip.credentials_for_switch(number, REALM))["account"] == number
    await services.close_subscriber(owner, row["id"], "moving", operation_password=OP)
    with pytest.raises(NotFound):
        await sip.credentials_for_switch(number, REALM)
    # A closed account's password cannot be set or reset any more.
    with pytest.raises(Conflict):
        await sip.reset_sip_password(owner, row["id"], realm=REALM)
    for unknown in ("1", "99999999999999999999"):
        with pytest.raises(NotFound):
            await sip.credentials_for_switch(unknown, REALM)


@pytest.mark.parametrize(
    "account", ["", "abc", "1 OR 1=1", "1" * 21, "١٢٣", "+8613800000000", " 123", "12\x00", None, 123, "12/34"]
)
async def test_hostile_account_strings_are_refused_before_the_database(db, account):
    with pytest.raises(ValidationFailed) as refused:
        await sip.credentials_for_switch(account, REALM)
    assert set(refused.value.errors) == {"account"}


def test_ha1_is_the_digest_of_account_realm_and_password():
    # RFC 2617's HA1 for username "Mufasa", realm "testrealm@host.com", password "Circle Of Life".
    assert sip.ha1("Mufasa", "testrealm@host.com", "Circle Of Life") == "939e7578ed9e3c518a452acee763bce9"
    generated = {sip.generate_password() for _ in range(200)}
    assert len(generated) == 200 and all(sip.PASSWORD.fullmatch(p) for p in generated)
