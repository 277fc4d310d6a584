"""Support over HTTP: a subscriber opens a ticket in the portal; the agent's support user sees it
in the queue, writes an internal note (the clock runs on), replies publicly (met); the subscriber
sees the reply but never the note; another subtree sees nothing."""

from __future__ import annotations

import datetime as dt

import httpx

from cards.services import activate_cards, generate_batch
from core.clock import now
from support import tickets
from support.calendars import current_calendar
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


async def operator_ticket(actors, agent: str = "huaxin", subject: str = "投诉：打不通", **fields) -> dict:
    """A complaint made to the operator's support: in the operator's queue, to be forwarded."""
    sid = await subscriber_of(actors[agent].agent_id)
    return await tickets.open_ticket(
        {"subject": subject, "body": "用户来电投诉", **fields}, subscriber_id=sid, actor=actors["support"]
    )


async def test_operator_support_forwards_a_complaint_to_the_agent(app, client):
    from tests.helpers import api

    actors = await demo_actors()
    ticket = await operator_ticket(actors)
    url = f"/support/tickets/{ticket['id']}"
    await web_login(client, "support")
    page = (await client.get(url)).text
    assert 'id="forward-state"' in page and 'id="resolution-state"' in page and 'id="first-response-state"' in page
    assert f'action="{url}/forward"' in page and "转交代理商" in page
    queue = (await client.get("/support", params={"queue": "operator"})).text
    row = queue.split("投诉：打不通")[1].split("</tr>")[0]
    # The clock due first (first response in working time, or forwarding within 12 wall-clock hours)
    # is named, and its time left counted as it counts.
    clock = tickets.running_clock(await tickets.get_ticket(actors["support"], ticket["id"]))[0]
    assert (
        ("首次响应" in row and "工作时间" in row)
        if clock == "first_response"
        else ("转交" in row and "工作时间" not in row)
    )

    forwarded = await post_form(client, url + "/forward", follow_redirects=True)
    assert forwarded.status_code == 200 and "工单已转交代理商的队列" in forwarded.text
    assert (
        'class="badge sla-met" id="forward-state"' in forwarded.text and f'action="{url}/forward"' not in forwarded.text
    )
    again = await post_form(client, url + "/forward")
    assert again.status_code == 409 and 'role="alert"' in again.text and "工单当前状态下不能执行此操作" in again.text

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as clerk:
        await web_login(clerk, "huaxin.clerk")
        mine = (await clerk.get("/support", params={"queue": "agent"})).text
        assert "投诉：打不通" in mine
        page = (await clerk.get(url)).text
        assert f'action="{url}/forward"' not in page and f'action="{url}/escalate"' in page
        assert (await post_form(clerk, url + "/forward")).status_code == 403

    # Over the API: forwarded once, refused the second time; the clocks name the forwarding one.
    other = await operator_ticket(actors, subject="API 投诉")
    answered = await api(client, "POST", f"/api/v1/tickets/{other['id']}/forward")
    assert answered.status_code == 200 and answered.json()["queue"] == "agent" and answered.json()["forwarded_at"]
    assert (await api(client, "POST", f"/api/v1/tickets/{other['id']}/forward")).status_code == 409
    detail = (await client.get(f"/api/v1/tickets/{other['id']}")).json()
    assert detail["clocks"]["forward"] == "met" and detail["clocks"]["resolution"] == "on_track"
    listed = (await client.get("/api/v1/tickets", params={"queue": "agent"})).json()["items"]
    assert {item["running_clock"] for item in listed} <= {"first_response", "forward", "resolution"}
    assert all(item["due_at"] for item in listed)


async def test_the_queue_shows_the_running_clock_and_counts_as_it_counts(client, monkeypatch):
    from support import queues

    actors = await demo_actors()
    ticket = await operator_ticket(actors, subject="只剩转交")
    await tickets.add_staff_message(actors["support"], ticket["id"], "已收到", public=True)  # first response met
    await web_login(client, "support")
    queue = (await client.get("/support", params={"queue": "operator"})).text
    row = queue.split("只剩转交")[1].split("</tr>")[0]
    # The forwarding clock runs now, on wall-clock time (12 hours by default).
    assert "转交" in row and "剩余 11 小时" in row and "工作时间" not in row
    monkeypatch.setattr(queues, "COUNT_CAP", 2)
    for n in range(3):
        await operator_ticket(actors, subject=f"投诉 {n}")
    assert "超过 2 个工单" in (await client.get("/support")).text
    client.headers["Accept-Language"] = "en"
    assert "more than 2 tickets" in (await client.get("/support")).text


async def test_support_sets_targets_per_priority_and_queue(app, client):
    from tests.helpers import api

    actors = await demo_actors()
    await web_login(client, "support")
    assert 'href="/support/targets"' in (await client.get("/support")).text
    page = await client.get("/support/targets")
    assert page.status_code == 200 and 'action="/support/targets/priority/high"' in page.text
    assert 'action="/support/targets/queue/operator"' in page.text and 'name="forward_minutes"' in page.text

    saved = await post_form(
        client,
        "/support/targets/priority/high",
        {"first_response_minutes": "90", "resolution_minutes": "", "at_risk_percent": "80"},
        follow_redirects=True,
    )
    assert saved.status_code == 200 and "时限已保存" in saved.text
    form = saved.text.split('id="priority-high"')[1].split("</form>")[0]
    assert 'value="90"' in form and 'value="80"' in form
    saved = await post_form(
        client,
        "/support/targets/queue/operator",
        {
            "forward_minutes": "360",
            "forward_counting": "working",
            "resolution_minutes": "2880",
            "resolution_counting": "wall",
        },
    )
    assert saved.status_code == 303
    policies = {p["priority"]: p for p in await tickets.list_policies()}
    assert policies["high"]["first_response_seconds"] == 5400 and policies["high"]["at_risk_percent"] == 80
    operator = {q["queue"]: q for q in await tickets.list_queue_targets()}["operator"]
    assert (operator["forward_seconds"], operator["forward_in_working_time"]) == (21600, True)
    assert (operator["resolution_seconds"], operator["resolution_in_working_time"]) == (172800, False)
    new = await operator_ticket(actors, priority="high")  # opened now: the new targets
    assert abs(new["resolution_due_at"] - new["reported_at"] - dt.timedelta(hours=48)) < dt.timedelta(seconds=1)

    # Refused, in the form, in the reader's words; nothing changed.
    for url, data, words in [
        (
            "/support/targets/priority/high",
            {"first_response_minutes": "abc", "at_risk_percent": "75"},
            "请输入整数分钟",
        ),
        ("/support/targets/priority/high", {"first_response_minutes": "60", "at_risk_percent": "150"}, "1 至 99"),
        ("/support/targets/queue/operator", {"forward_minutes": "0", "resolution_minutes": "60"}, "超出范围"),
        (
            "/support/targets/priority/nope",
            {"first_response_minutes": "60", "at_risk_percent": "75"},
            "请从给定选项中选择",
        ),
    ]:
        refused = await post_form(client, url, data)
        assert refused.status_code == 400 and words in refused.text, (url, refused.text[:500])
        assert 'role="alert"' in refused.text
    refused = await post_form(
        client, "/support/targets/priority/high", {"first_response_minutes": "abc", "at_risk_percent": "75"}
    )
    form = refused.text.split('id="priority-high"')[1].split("</form>")[0]
    assert 'value="abc"' in form and 'aria-invalid="true"' in form
    assert {p["priority"]: p for p in await tickets.list_policies()}["high"]["first_response_seconds"] == 5400
    assert {q["queue"]: q for q in await tickets.list_queue_targets()}["operator"]["forward_seconds"] == 21600

    # The API: support may set a priority's targets now, and a queue's.
    policy = await api(
        client, "PUT", "/api/v1/support/policies/normal", json={"first_response_minutes": 120, "at_risk_percent": 50}
    )
    assert policy.status_code == 200 and policy.json()["first_response_seconds"] == 7200
    queue = await api(
        client,
        "PUT",
        "/api/v1/support/queue-targets/agent",
        json={"resolution_minutes": 1440, "resolution_in_working_time": True},
    )
    assert queue.status_code == 200 and queue.json() == {
        "queue": "agent",
        "forward_seconds": None,
        "forward_in_working_time": False,
        "resolution_seconds": 86400,
        "resolution_in_working_time": True,
    }
    listed = (await client.get("/api/v1/support/queue-targets")).json()
    assert [q["queue"] for q in listed] == ["operator", "agent"]
    assert (await api(client, "PUT", "/api/v1/support/queue-targets/nope", json={})).status_code == 400

    # Not for agents' users, nor for the operator's finance.
    for username in ("huaxin", "finance"):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as other:
            await web_login(other, username)
            assert (await other.get("/support/targets")).status_code == 403
            assert (
                await post_form(
                    other, "/support/targets/priority/high", {"first_response_minutes": "1", "at_risk_percent": "75"}
                )
            ).status_code == 403
            assert (await api(other, "PUT", "/api/v1/support/queue-targets/agent", json={})).status_code == 403
            if username == "huaxin":
                assert 'href="/support/targets"' not in (await other.get("/support")).text
    assert {p["priority"]: p for p in await tickets.list_policies()}["high"]["first_response_seconds"] == 5400


async def test_the_report_names_people_shows_every_clock_exports_xlsx_and_charts_months(client):
    import io

    from openpyxl import load_workbook

    actors = await demo_actors()
    forwarded = await operator_ticket(actors, agent="pearl", subject="转交的投诉")
    await tickets.forward(actors["support"], forwarded["id"])
    answered = await tickets.open_ticket(
        {"subject": "已回复", "body": "b"}, subscriber_id=await subscriber_of(actors["huaxin"].agent_id)
    )
    await tickets.add_staff_message(actors["huaxin.clerk"], answered["id"], "好的", public=True)
    await tickets.set_status(actors["huaxin.clerk"], answered["id"], "resolved")
    await web_login(client, "admin")

    page = (await client.get("/support/report", params={"dimension": "staff"})).text
    assert "huaxin.clerk" in page and "<td>—</td>" in page  # by name; unanswered as a dash
    page = (await client.get("/support/report", params={"dimension": "agent"})).text
    assert "华信通讯" in page and "Pearl River Telecom" in page
    assert 'id="forward-compliance">100.0%' in page and 'id="resolution-compliance">100.0%' in page
    assert "转交" in page and "解决" in page and 'class="forward-compliance">100.0<' in page
    # The chart by month: a second report, loaded by the page after it shows (htmx) ...
    assert 'hx-get="/support/report/months?since=&amp;until="' in page and "<svg" not in page
    fragment = (await client.get("/support/report/months", headers={"HX-Request": "true"})).text
    assert "<html" not in fragment
    month = now().astimezone((await current_calendar()).zone).strftime("%Y-%m")
    for shown in (fragment, (await client.get("/support/report/months")).text):  # ... or a page of its own
        assert '<svg class="chart"' in shown and 'class="series"' in shown
        by_month = shown.split('id="compliance-by-month"')[1].split("</table>")[0]
        assert f"<td>{month}</td>" in by_month and ">100.0<" in by_month
    # ... or part of the page when the report is by month.
    page = (await client.get("/support/report", params={"dimension": "month"})).text
    assert '<svg class="chart"' in page and 'id="compliance-by-month"' in page and "hx-get" not in page
    assert "format=xlsx" in page and "format=csv" in page

    exported = await client.get("/support/report", params={"dimension": "agent", "format": "xlsx"})
    assert exported.status_code == 200 and "spreadsheetml" in exported.headers["content-type"]
    sheet = load_workbook(io.BytesIO(exported.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][:2] == ["分组", "工单数"] and "转交: 达标率（百分比）" in rows[0] and "解决: 达标" in rows[0]
    by_agent = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert by_agent["Pearl River Telecom"]["转交: 达标"] == 1
    assert by_agent["华信通讯"]["解决: 达标率（百分比）"] == 100.0
    csv = (await client.get("/support/report", params={"dimension": "agent", "format": "csv"})).text
    assert "转交: 达标率（百分比）" in csv.splitlines()[0] and "Pearl River Telecom" in csv

    report = (await client.get("/api/v1/support/report", params={"dimension": "agent"})).json()
    assert report["forward_compliance_percent"] == 100.0 and report["resolution_compliance_percent"] == 100.0
    names = {g["key"]: g for g in report["groups"]}
    assert names["Pearl River Telecom"]["forward_met"] == 1 and names["华信通讯"]["resolution_met"] == 1
