"""Statistics over HTTP (issue 12): the page with its chart, tables, drill-down and downloads; the
JSON API's shape; a sibling's figures out of sight; a period that could be read two ways refused in
the user's language."""

from __future__ import annotations

import csv
import io
import re

from openpyxl import load_workbook

from money import bundles, prices
from tests.helpers import demo_actors, web_login
from tests.money import fund, key, set_operator_prices
from web.demo import DEMO_OPERATION_PASSWORD as OP

CHINESE = re.compile(r"[\u4e00-\u9fff]")


async def sales_down_the_chain(actors) -> None:
    await set_operator_prices(actors["admin"])
    owner, child = actors["huaxin"], actors["huaxin.pudong"]
    await fund(owner.agent_id, 10**7)
    await bundles.buy_bundle(owner, 1000, operation_password=OP, idempotency_key=key())
    await prices.save_agent_list(owner, owner.agent_id, [{"min_minutes": 1, "price": "10.00"}])
    await fund(child.agent_id, 10**6)
    await bundles.buy_bundle(child, 120, operation_password=OP, idempotency_key=key())


async def test_the_page_draws_the_chart_with_its_tables_and_drills_down(client):
    actors = await demo_actors()
    await sales_down_the_chain(actors)
    owner, child = actors["huaxin"], actors["huaxin.pudong"]
    client.headers["Accept-Language"] = "en"
    await web_login(client, "huaxin")
    page = await client.get(f"/agents/{owner.agent_id}/statistics")
    assert page.status_code == 200
    assert '<svg class="chart"' in page.text and 'class="series"' in page.text
    assert 'id="totals"' in page.text and "1,120:00" in page.text  # 1,000 + 120 minutes bought in the subtree
    link = f"/agents/{child.agent_id}/statistics?"
    assert link in page.text
    drilled = await client.get(link + "scope=subtree")
    assert drilled.status_code == 200 and "华信浦东" in drilled.text
    own = await client.get(f"/agents/{owner.agent_id}/statistics?scope=own")
    assert "1,000:00" in own.text and "1,120:00" not in own.text
    # Downloads: exact integers with the unit in the header.
    text = (await client.get(f"/agents/{owner.agent_id}/statistics/export?format=csv&scope=own")).text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][1] == "Airtime bought (seconds)" and rows[-1][:2] == ["Total", "60000"]
    book = load_workbook(
        io.BytesIO((await client.get(f"/agents/{owner.agent_id}/statistics/export?format=xlsx")).content)
    )
    sheet_rows = list(book.active.iter_rows(values_only=True))
    assert sheet_rows[-1][:2] == ("Total", 60000 + 7200)
    # In Chinese, the chart and the tables speak Chinese.
    client.headers["Accept-Language"] = "zh-CN"
    chinese = await client.get(f"/agents/{owner.agent_id}/statistics")
    chart = chinese.text[chinese.text.index("<svg") : chinese.text.index("</svg>")]
    assert CHINESE.search(chart), chart[:300]


async def test_the_api_answers_the_documented_shape(client):
    actors = await demo_actors()
    await sales_down_the_chain(actors)
    owner, child = actors["huaxin"], actors["huaxin.pudong"]
    await web_login(client, "huaxin")
    answer = (
        await client.get(
            f"/api/v1/agents/{owner.agent_id}/statistics?granularity=month&since=2026-01-01&until=2027-01-01"
        )
    ).json()
    assert set(answer) == {"agent_id", "scope", "granularity", "since", "until", "totals", "series", "children"}
    assert (answer["scope"], answer["granularity"], len(answer["series"])) == ("subtree", "month", 12)
    assert answer["totals"]["bought_seconds"] == 60000 + 7200 and answer["totals"]["margin_fen"] == 120 * 10 - 120 * 9
    assert answer["children"] == [
        {
            **{
                k: v
                for k, v in answer["totals"].items()
                if k not in ("bought_seconds", "paid_fen", "remitted_fen", "sold_seconds", "received_fen", "margin_fen")
            },
            "bought_seconds": 7200,
            "paid_fen": 1200,
            "remitted_fen": 0,
            "sold_seconds": 0,
            "received_fen": 0,
            "margin_fen": 0,
            "agent_id": child.agent_id,
            "brand_name": "华信浦东",
        }
    ]


async def test_siblings_are_out_of_sight_and_bad_periods_are_refused_in_the_users_language(client):
    actors = await demo_actors()
    await web_login(client, "pearl")
    huaxin = actors["huaxin"].agent_id
    for url in (
        f"/agents/{huaxin}/statistics",
        f"/api/v1/agents/{huaxin}/statistics",
        f"/agents/{huaxin}/statistics/export?format=csv",
    ):
        assert (await client.get(url)).status_code == 404, url
    for url in ("/statistics", "/api/v1/statistics"):
        assert (await client.get(url)).status_code == 403, url
    pearl = actors["pearl"].agent_id
    client.headers["Accept-Language"] = "zh-CN"
    refused = await client.get(f"/agents/{pearl}/statistics?since=2026-11-31&until=2026-12-01")
    assert refused.status_code == 400 and 'value="2026-11-31"' in refused.text
    error = re.search(r'class="error-text">([^<]*)<', refused.text).group(1)
    assert CHINESE.search(error), error
    # The language switch comes back to the same period.
    page = f"/agents/{pearl}/statistics?since=2026-10-01&until=2026-11-01&granularity=month"
    shown = await client.get(page)
    back = re.search(r'name="next" value="([^"]*)"', shown.text).group(1).replace("&amp;", "&")
    switched = await client.post(
        "/language", data={"language": "en", "next": back, "csrf_token": client.cookies["vs_csrf"]}
    )
    assert (
        switched.headers["location"]
        == f"/agents/{pearl}/statistics?since=2026-10-01&until=2026-11-01&granularity=month"
    )
    api_refused = await client.get(f"/api/v1/agents/{pearl}/statistics?since=2026-12-01&until=2026-11-01")
    assert api_refused.status_code == 400 and "until" in api_refused.text
