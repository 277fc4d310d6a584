"""Support over HTTP: a subscriber opens a ticket in the portal; the agent's support user sees it
in the queue, writes an internal note (the clock runs on), replies publicly (met); the subscriber
sees the reply but never the note; another subtree sees nothing."""

from __future__ import annotations

import httpx

from cards.services import activate_cards, generate_batch
from support import tickets
from tests.helpers import csrf, demo_actors, post_form, web_login
from tests.integration.test_tickets import subscriber_of
from web.demo import DEMO_OPERATION_PASSWORD as OP


async def test_ticket_round_trip(app, client, settings):
    actors = await demo_actors()
    pearl = actors["pearl"]
    _b, ecard = await generate_batch(
        pearl,
        {"kind": "e-card", "count": "1", "face_minutes": "5", "expiry_rule": "none"},
        card_key=settings.card_key,
        operation_password=OP,
    )
    await activate_cards(pearl, ecard[0][0])
    number, initial = ecard[0]
    await client.post(
        "/portal/login", data={"account_number": number, "password": initial, "csrf_token": await csrf(client)}
    )
    token = await csrf(client)
    await client.post(
        "/portal/password", data={"new_password": "sub-pass-9", "repeat_password": "sub-pass-9", "csrf_token": token}
    )
    opened = await client.post(
        "/portal/tickets",
        data={"category": "calls", "subject": "无法拨打国际长途", "body": "每次都提示忙音", "csrf_token": token},
    )
    assert opened.status_code == 303
    ticket_url = opened.headers["location"]
    ticket_id = ticket_url.rsplit("/", 1)[1]
    empty = await client.post("/portal/tickets", data={"subject": "", "body": "", "csrf_token": token})
    assert empty.status_code == 400

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as staff:
        await web_login(staff, "pearl.support")
        queue = await staff.get("/support")
        assert "无法拨打国际长途" in queue.text and "sla-" in queue.text
        url = f"/support/tickets/{ticket_id}"
        note = await post_form(staff, url + "/messages", {"body": "查一下中继线路", "visibility": "internal"})
        assert note.status_code == 303
        page = (await staff.get(url)).text
        assert 'id="first-response-state"' in page and "sla-met" not in page.split('id="first-response-state"')[0][-80:]
        reply = await post_form(staff, url + "/messages", {"body": "已修复，请再试。", "visibility": "public"})
        assert reply.status_code == 303
        page = (await staff.get(url)).text
        assert 'class="badge sla-met" id="first-response-state"' in page
        # Another subtree sees nothing.
        staff.cookies.clear()
        await web_login(staff, "huaxin")
        assert (await staff.get(url)).status_code == 404
        assert "无法拨打国际长途" not in (await staff.get("/support")).text

    mine = (await client.get(ticket_url)).text
    assert "已修复" in mine and "查一下中继线路" not in mine


async def test_tickets_over_the_api_and_the_report(client, settings):
    from tests.helpers import api

    actors = await demo_actors()
    pearl = actors["pearl"]
    _b, ecard = await generate_batch(
        pearl,
        {"kind": "e-card", "count": "1", "face_minutes": "5", "expiry_rule": "none"},
        card_key=settings.card_key,
        operation_password=OP,
    )
    await activate_cards(pearl, ecard[0][0])
    from accounts.tables import Subscriber

    sid = (await Subscriber.select(Subscriber.id).where(Subscriber.account_number == ecard[0][0]).first())["id"]
    await web_login(client, "pearl.support")
    opened = await api(
        client,
        "POST",
        f"/api/v1/subscribers/{sid}/tickets",
        json={"subject": "余额不对", "body": "充值后没到账", "priority": "high"},
    )
    assert opened.status_code == 201
    ticket_id = opened.json()["id"]
    assert (
        await api(client, "POST", f"/api/v1/subscribers/{sid}/tickets", json={"subject": "", "body": ""})
    ).status_code == 400
    taken = (await api(client, "POST", "/api/v1/tickets/take-next")).json()["ticket"]
    assert taken["id"] == ticket_id
    reply = await api(client, "POST", f"/api/v1/tickets/{ticket_id}/messages", json={"body": "正在查", "public": True})
    assert reply.status_code == 201 and reply.json()["first_responded_at"]
    detail = (await client.get(f"/api/v1/tickets/{ticket_id}")).json()
    assert detail["clocks"]["first_response"] == "met" and len(detail["messages"]) == 3
    report = (await client.get("/api/v1/support/report?dimension=priority")).json()
    assert report["tickets"] == 1 and report["compliance_percent"] == 100.0
    page = await client.get("/support/report?dimension=agent")
    assert page.status_code == 200 and "100.0" in page.text
    exported = await client.get("/support/report?format=csv&dimension=priority")
    assert exported.status_code == 200 and "\r\n高," in exported.text  # the priority's label, not its code
    assert (await client.get("/api/v1/tickets")).json()["total"] == 1


async def test_calendar_editing_confirms_years_and_retargets(client):
    import datetime as dt

    await demo_actors()
    await web_login(client, "admin")
    this_year = dt.date.today().year
    queue = await client.get("/support")
    assert f'id="unconfirmed-{this_year}"' in queue.text
    page = await client.get("/support/calendar")
    assert page.status_code == 200 and "09:00-18:00" in page.text
    bad = await post_form(client, "/support/calendar", {"tz": "Mars/Base", "day_0": "09:00-18:00"})
    assert bad.status_code == 400
    bad = await post_form(client, "/support/calendar", {"tz": "Asia/Shanghai", "day_0": "25:00-26:00"})
    assert bad.status_code == 400
    saved = await post_form(
        client,
        "/support/calendar",
        {
            "tz": "Asia/Shanghai",
            **{f"day_{d}": "09:00-12:00, 13:30-18:00" for d in range(5)},
            "closed_dates": f"{this_year}-10-01\n{this_year}-10-02",
            "extra_workdays": f"{this_year}-09-28 09:00-18:00",
            "confirm_year": str(this_year),
        },
    )
    assert saved.status_code == 200
    queue = await client.get("/support")
    assert f'id="unconfirmed-{this_year}"' not in queue.text and f'id="unconfirmed-{this_year + 1}"' in queue.text
    client.cookies.clear()
    await web_login(client, "support")
    assert (await client.get("/support/calendar")).status_code == 403


async def test_attachments_are_checked_and_internal_ones_stay_internal(app, client, settings):
    actors = await demo_actors()
    pearl = actors["pearl"]
    _b, ecard = await generate_batch(
        pearl,
        {"kind": "e-card", "count": "1", "face_minutes": "5", "expiry_rule": "none"},
        card_key=settings.card_key,
        operation_password=OP,
    )
    await activate_cards(pearl, ecard[0][0])
    await client.post(
        "/portal/login", data={"account_number": ecard[0][0], "password": ecard[0][1], "csrf_token": await csrf(client)}
    )
    token = await csrf(client)
    await client.post(
        "/portal/password", data={"new_password": "sub-pass-9", "repeat_password": "sub-pass-9", "csrf_token": token}
    )
    opened = await client.post("/portal/tickets", data={"subject": "截图", "body": "见附件", "csrf_token": token})
    ticket_id = opened.headers["location"].rsplit("/", 1)[1]
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    sent = await client.post(
        f"/portal/tickets/{ticket_id}/messages",
        data={"body": "截图", "csrf_token": token},
        files={"attachment": ("screen.png", png, "image/png")},
    )
    assert sent.status_code == 303
    evil = await client.post(
        f"/portal/tickets/{ticket_id}/messages",
        data={"body": "x", "csrf_token": token},
        files={"attachment": ("run.exe", b"MZ\x90\x00", "image/png")},
    )
    assert evil.status_code == 400
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as staff:
        await web_login(staff, "pearl.support")
        note = await staff.post(
            f"/support/tickets/{ticket_id}/messages",
            data={"body": "内部日志", "visibility": "internal", "csrf_token": await csrf(staff)},
            files={"attachment": ("log.pdf", b"%PDF-1.4 internal", "application/pdf")},
        )
        assert note.status_code == 303
        page = (await staff.get(f"/support/tickets/{ticket_id}")).text
        assert "screen.png" in page and "log.pdf" in page
    mine = (await client.get(f"/portal/tickets/{ticket_id}")).text
    assert "screen.png" in mine and "log.pdf" not in mine
    from support.tables import TicketAttachment

    files = {
        r["filename"]: r["id"] for r in await TicketAttachment.select(TicketAttachment.id, TicketAttachment.filename)
    }
    assert (await client.get(f"/portal/tickets/{ticket_id}/attachments/{files['screen.png']}")).content == png
    assert (await client.get(f"/portal/tickets/{ticket_id}/attachments/{files['log.pdf']}")).status_code == 404


async def test_the_queue_pages_and_its_refresh_stays_on_the_page(client):
    actors = await demo_actors()
    sid = await subscriber_of(actors["huaxin"].agent_id)
    for n in range(55):
        await tickets.open_ticket({"subject": f"ticket {n}", "body": "b"}, subscriber_id=sid)
    await web_login(client, "admin")
    first = await client.get("/support", params={"status": "open"})
    assert "status=open&amp;priority=&amp;agent=&amp;assignee=&amp;page=2" in first.text  # Next
    second = await client.get("/support", params={"status": "open", "page": 2})
    assert second.text.count("/support/tickets/") == 5
    assert "status=open&amp;priority=&amp;agent=&amp;assignee=&amp;page=1" in second.text  # Previous
    assert 'hx-get="/support?queue=&amp;status=open&amp;priority=&amp;agent=&amp;assignee=&amp;page=2"' in second.text
