"""Guidance where users get stuck (issue 13, class 6 and 7), in the domain: payees' bank details,
the reason of a rejected remittance, a bank reference recorded twice, an unset operation password,
the agent's hotline and service hours in the portal, and the search of subscribers by any part of the number."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from accounts import portal
from accounts import services as subscribers
from agency import agents
from agency.tables import AuditEntry, User
from agency.users import OperationPasswordNotSet
from cards.services import activate_cards, generate_batch
from core.errors import Forbidden, ValidationFailed
from money import payees, remittances
from money.bundles import buy_bundle
from tests.helpers import demo_actors
from tests.money import fund, key
from web.demo import DEMO_OPERATION_PASSWORD as OP

BANK = {"bank_name": "中国工商银行", "branch": "上海浦东支行", "account_name": "华信通讯有限公司",
        "account_number": "6222 0210 0112 3456 789"}
TODAY = dt.date.today().isoformat()


async def test_bank_details_are_validated_audited_and_shown_to_the_payers(db):
    a = await demo_actors()
    huaxin, pudong = a["huaxin"], a["huaxin.pudong"]
    assert (await payees.payee_of(pudong))["details"] is None  # not set yet: the page says so
    for bad in ({**BANK, "account_number": "6222-abc"}, {**BANK, "bank_name": ""}, {**BANK, "account_number": "1"}):
        with pytest.raises(ValidationFailed):
            await payees.save_bank_details(huaxin, bad, operation_password=OP)
    with pytest.raises(Forbidden):  # a clerk records remittances, it does not say where money goes
        await payees.save_bank_details(a["huaxin.clerk"], BANK, operation_password=OP)
    with pytest.raises(ValidationFailed):  # the operation password is checked after the fields
        await payees.save_bank_details(huaxin, {}, operation_password="wrong")
    assert await payees.own_bank_details(huaxin) is None

    await payees.save_bank_details(huaxin, BANK, operation_password=OP)
    await payees.save_bank_details(huaxin, {**BANK, "account_number": "6222021001129999"}, operation_password=OP)
    seen = await payees.payee_of(pudong)
    assert seen["name"] == "华信通讯" and not seen["is_operator"]
    assert seen["details"]["account_number"] == "6222021001129999" and seen["details"]["branch"] == "上海浦东支行"

    await payees.save_bank_details(a["finance"], {**BANK, "account_name": "运营商"}, operation_password=OP)
    operator = await payees.payee_of(huaxin)  # a level-1 agent remits to the operator
    assert operator["is_operator"] and operator["details"]["account_name"] == "运营商"
    assert await payees.payee_of(a["finance"]) is None

    entries = await AuditEntry.select(AuditEntry.before, AuditEntry.after).where(
        AuditEntry.action == "payee.bank_details"
    ).order_by(AuditEntry.id)
    changes = [{k: json.loads(v) if isinstance(v, str) else v for k, v in e.items()} for e in entries]
    assert len(changes) == 3
    assert changes[0]["before"] is None and changes[1]["before"]["account_number"] == BANK["account_number"]
    assert changes[1]["after"]["account_number"] == "6222021001129999"


async def test_a_rejection_carries_its_reason_to_the_sender(db):
    a = await demo_actors()
    sent = await remittances.record_remittance(
        a["huaxin.pudong"], {"amount": "300", "bank_reference": "CCB-1", "remitted_on": TODAY, "note": "月初"}
    )
    with pytest.raises(ValidationFailed) as refused:
        await remittances.decide_remittance(a["huaxin"], sent["id"], confirm=False, operation_password=OP,
                                            idempotency_key=key(), note="  ")
    assert "note" in refused.value.errors
    await remittances.decide_remittance(a["huaxin"], sent["id"], confirm=False, operation_password=OP,
                                        idempotency_key=key(), note="金额与银行流水不符")
    mine, _total = await remittances.list_remittances(a["huaxin.pudong"], mine=True)
    assert [(r["status"], r["decision_note"], r["note"]) for r in mine] == [("rejected", "金额与银行流水不符", "月初")]
    # The parent's "mine" holds what it sent, not what its sub-agent sent it; the operator sends nothing.
    assert (await remittances.list_remittances(a["huaxin"], mine=True))[1] == 0
    assert (await remittances.list_remittances(a["huaxin"], to_me=True))[1] == 1
    assert (await remittances.list_remittances(a["finance"], mine=True))[1] == 0


async def test_a_bank_reference_recorded_twice_is_refused_until_confirmed(db):
    a = await demo_actors()
    pudong, lujiazui = a["huaxin.pudong"], a["huaxin.lujiazui"]
    first_key = key()
    first = await remittances.record_remittance(
        pudong, {"amount": "100", "bank_reference": "ICBC 778", "remitted_on": TODAY}, idempotency_key=first_key
    )
    retry = await remittances.record_remittance(
        pudong, {"amount": "100", "bank_reference": "ICBC 778", "remitted_on": TODAY}, idempotency_key=first_key
    )
    assert retry["id"] == first["id"]  # a retry gets its first answer, not the warning
    with pytest.raises(remittances.DuplicateBankReference):  # case and spaces do not make it another one
        await remittances.record_remittance(pudong, {"amount": "100", "bank_reference": "icbc778",
                                                     "remitted_on": TODAY})
    assert await remittances.Remittance.count().where(remittances.Remittance.agent == pudong.agent_id) == 1
    again = await remittances.record_remittance(
        pudong, {"amount": "100", "bank_reference": "icbc778", "remitted_on": TODAY, "confirm_duplicate": "1"}
    )
    # Another sender's reference is not compared (it is not the sender's to see), but the payee is warned.
    other = await remittances.record_remittance(
        lujiazui, {"amount": "5", "bank_reference": "X-9", "remitted_on": TODAY}
    )
    waiting, _n = await remittances.list_remittances(a["huaxin"], status="pending", to_me=True)
    assert await remittances.shared_references(a["huaxin"], waiting) == {first["id"], again["id"]}
    assert other["id"] not in await remittances.shared_references(a["huaxin.pudong"], [other])
    # A rejected remittance may be sent again with its reference.
    await remittances.decide_remittance(a["huaxin"], first["id"], confirm=False, operation_password=OP,
                                        idempotency_key=key(), note="duplicate")
    await remittances.decide_remittance(a["huaxin"], again["id"], confirm=False, operation_password=OP,
                                        idempotency_key=key(), note="duplicate")
    await remittances.record_remittance(pudong, {"amount": "100", "bank_reference": "ICBC778", "remitted_on": TODAY})


async def test_an_unset_operation_password_is_named_and_counts_as_no_failure(db):
    a = await demo_actors()
    huaxin = a["huaxin"]
    await User.update({User.operation_password_hash: None}).where(User.id == huaxin.user_id)
    for _attempt in range(8):  # more than the throttle's limit: none of them is a failure
        with pytest.raises(OperationPasswordNotSet):
            await payees.save_bank_details(huaxin, BANK, operation_password="246810")
    assert not await AuditEntry.exists().where(AuditEntry.action == "user.operation_password_failed")


async def test_hotline_and_service_hours_are_validated_and_shown_with_the_agent_in_the_portal(db):
    a = await demo_actors()
    huaxin = a["huaxin"]
    assert (await agents.get_agent(huaxin, huaxin.agent_id))["service_hours"] == "周一至周五 09:00-18:00"  # demo
    with pytest.raises(ValidationFailed):
        await agents.update_agent(huaxin, huaxin.agent_id, {"hotline": "call us!"})
    await agents.update_agent(huaxin, huaxin.agent_id, {"hotline": "400 820 1234"})
    assert (await agents.get_agent(huaxin, huaxin.agent_id))["hotline"] == "400 820 1234"
    for bad in ("09:00-18:00\n周末休息", "Mon\tFri", "9-6\x1b[31m", "9\x85-6", "x" * 65, 9):
        with pytest.raises(ValidationFailed) as refused:  # one line of text, 64 characters at most
            await agents.update_agent(huaxin, huaxin.agent_id, {"hotline": "400 000 0000", "service_hours": bad})
        assert set(refused.value.errors) == {"service_hours"}
    agent = await agents.get_agent(huaxin, huaxin.agent_id)
    assert (agent["hotline"], agent["service_hours"]) == ("400 820 1234", "周一至周五 09:00-18:00")  # nothing changed
    await agents.update_agent(huaxin, huaxin.agent_id, {"service_hours": " 每天 08:00-22:00 "})
    assert (await agents.get_agent(huaxin, huaxin.agent_id))["service_hours"] == "每天 08:00-22:00"
    (number, _secret), = await _open_accounts(huaxin, 1)
    rows, _total = await subscribers.list_subscribers(huaxin, search=number)
    me = await portal.overview(rows[0]["id"])
    assert me["agent_name"] == "华信通讯" and me["agent_hotline"] == "400 820 1234"
    assert me["agent_service_hours"] == "每天 08:00-22:00"
    contact = {"agent_name": "华信通讯", "agent_hotline": "400 820 1234", "agent_service_hours": "每天 08:00-22:00"}
    assert await portal.agent_contact(rows[0]["id"]) == contact  # what the ticket pages show
    await agents.update_agent(huaxin, huaxin.agent_id, {"service_hours": "", "hotline": ""})  # both optional
    assert await portal.agent_contact(rows[0]["id"]) == {**contact, "agent_hotline": "", "agent_service_hours": ""}


async def test_staff_find_a_subscriber_by_any_part_of_the_number(db):
    a = await demo_actors()
    accounts = await _open_accounts(a["huaxin"], 3)
    number = accounts[1][0]
    for part in (number, number[:6], number[-5:], number[3:9], f"{number[:4]} {number[4:8]}"):
        rows, _total = await subscribers.list_subscribers(a["huaxin"], search=part)
        assert number in {r["account_number"] for r in rows}, part
    rows, _total = await subscribers.list_subscribers(a["huaxin"], search=number[-6:])
    assert [(r["balance_seconds"], r["expires_at"] is not None) for r in rows] == [(20 * 60, True)]
    for hostile in ("%", "_", "12a", number[2:8] + "%"):
        assert (await subscribers.list_subscribers(a["huaxin"], search=hostile))[1] == 0
    assert (await subscribers.list_subscribers(a["pearl"], search=number[-6:]))[1] == 0  # another tenant's


async def _open_accounts(owner, count: int) -> list[tuple[str, str]]:
    """`count` e-cards of 20 minutes activated: as many open subscriber accounts."""
    await fund(owner.agent_id, 10**7)
    await buy_bundle(owner, 1000, operation_password=OP, idempotency_key=key())
    _batch, cards = await generate_batch(
        owner,
        {"kind": "e-card", "count": str(count), "face_minutes": "20", "expiry_rule": "days_after_activation",
         "expiry_days": "30"},
        card_key=b"k" * 32,
        operation_password=OP,
    )
    await activate_cards(owner, cards[0][0], cards[-1][0])
    return cards


async def test_the_demo_subscribers_are_found_again_visible_and_usable(db):
    """`serve` prints the demo's portal logins on every start (web/cli.py), not only the first."""
    from cards.services import authenticate_subscriber
    from web.demo_history import demo_actors_from_users, load_living_demo, portal_logins

    built = await load_living_demo(b"k" * 32, days=3)
    again = await portal_logins()
    assert again and again == sorted(built["portal"], key=lambda login: login["account_number"])
    admin = (await demo_actors_from_users())["admin"]
    for login in again:
        await authenticate_subscriber(login["account_number"], login["password"], address="10.1.0.2",
                                      card_key=b"k" * 32)
        rows, _total = await subscribers.list_subscribers(admin, search=login["account_number"])
        assert [(r["agent_name"], r["status"]) for r in rows] == [(login["agent"], "active")]
        assert rows[0]["balance_seconds"] > 0
