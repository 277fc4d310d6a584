"""Issue 13.5: an agent's users see the wallet and stock in the header of every page, read in one
query per full page; operator staff, fragments and users who may not see money cost none."""
from __future__ import annotations

import re

from tests.helpers import demo_actors, web_login
from tests.money import fund
from web import rendering


def header(html: str) -> str:
    return html[html.index("<header") : html.index("</header>")]


async def test_the_wallet_and_stock_in_the_header_of_agents_pages(client, monkeypatch):
    actors = await demo_actors()
    agent_id = actors["huaxin"].agent_id
    await fund(agent_id, 123_450)
    queries: list[int] = []
    read = rendering.wallet_and_stock

    async def counted(agent: int) -> dict[str, int]:
        queries.append(agent)
        return await read(agent)

    monkeypatch.setattr(rendering, "wallet_and_stock", counted)
    await web_login(client, "huaxin")
    for path in ("/", "/agents", "/cards/batches", "/account"):
        top = header((await client.get(path)).text)
        assert re.search(r'id="header-wallet">¥1,234\.50<', top), (path, top)
        assert re.search(r'id="header-stock">0 ', top), (path, top)
    assert queries == [agent_id] * 4
    fragment = await client.get("/agents?q=华信", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<header" not in fragment.text and len(queries) == 4

    for username in ("admin", "huaxin.clerk"):  # operator staff have no wallet; a clerk sees it
        client.cookies.clear()
        await web_login(client, username)
        page = (await client.get("/agents")).text
        assert ('id="header-balances"' in page) == (username == "huaxin.clerk"), username
    assert len(queries) == 5
