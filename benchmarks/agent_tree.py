"""Agent tree speed with 10,000 agents (issue: the tree view stays fast at that size).

Builds 100 level-1 agents x 10 level-2 x 9 level-3 (10,100 agents) on SQLite and on a throwaway
PostgreSQL cluster, then times the tree page queries and the rendered /agents page through
the ASGI app. Prints one JSON object; nothing is asserted.

    .venv/bin/python -m benchmarks.agent_tree [--databases sqlite,postgres] [--rounds 50]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx

from agency import agents
from agency.roles import Actor
from agency.tables import Agent, User
from agency.tree import child_path
from benchmarks.common import databases, print_report, run_on_each, summary
from core.clock import now

SHAPE = (100, 10, 9)
CHUNK = 500  # rows per INSERT, far below both drivers' parameter limits


async def build_tree() -> None:
    rows, next_id = [], 1
    created = now()

    def add(parent_id: int | None, parent_path: str, level: int) -> tuple[int, str]:
        nonlocal next_id
        agent_id, next_id = next_id, next_id + 1
        path = child_path(parent_path, agent_id)
        rows.append(
            Agent(
                id=agent_id,
                parent=parent_id,
                path=path,
                level=level,
                brand_name=f"Brand {agent_id:05d}",
                contact_person=f"Contact {agent_id}",
                phone=f"+86 {agent_id:08d}",
                created_at=created,
            )
        )
        return agent_id, path

    for _ in range(SHAPE[0]):
        a, pa = add(None, "/", 1)
        for _ in range(SHAPE[1]):
            b, pb = add(a, pa, 2)
            for _ in range(SHAPE[2]):
                add(b, pb, 3)
    for start in range(0, len(rows), CHUNK):
        await Agent.insert(*rows[start : start + CHUNK])
    await User.insert(User(username="bench", role="admin", password_hash="x", created_at=created))


async def timed(rounds: int, call) -> dict[str, float]:
    await call()  # warm up
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return summary(samples, digits=2)


async def measure(rounds: int) -> dict[str, object]:
    from web.app import create_app
    from web.settings import Settings

    operator = Actor(user_id=1, username="bench", role="admin")
    level1 = Actor(user_id=1, username="bench", role="owner", agent_id=1, agent_path=child_path("/", 1), agent_level=1)
    figures: dict[str, object] = {"agents": await Agent.count()}
    figures["operator_first_page"] = await timed(rounds, lambda: agents.list_agents(operator, page=1))
    figures["operator_page_150"] = await timed(rounds, lambda: agents.list_agents(operator, page=150))
    figures["operator_search"] = await timed(rounds, lambda: agents.list_agents(operator, search="Brand 0999"))
    figures["level1_subtree_page"] = await timed(rounds, lambda: agents.list_agents(level1, page=1))
    figures["agent_detail"] = await timed(rounds, lambda: agents.get_agent(level1, 55))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({"VOIPAGENCY_DB_PATH": str(Path(tmp) / "unused.sqlite3")})
        import piccolo_conf

        app = create_app(settings, engine=piccolo_conf.DB)
        from agency.sessions import new_token, token_hash
        from agency.tables import UserSession

        # A session for the benchmark user, made directly: a login would add argon2's cost to nothing measured.
        token = new_token()
        at = now()
        await UserSession.insert(
            UserSession(
                token_hash=token_hash(token),
                user=1,
                created_at=at,
                last_seen_at=at,
                expires_at=at + settings.session_policy().absolute,
            )
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", cookies={"vs_session": token}
        ) as client:

            async def page() -> None:
                response = await client.get("/agents?page=3")
                assert response.status_code == 200

            figures["http_agents_page"] = await timed(rounds, page)
    return figures


async def run(kind: str, rounds: int) -> dict[str, object]:
    with databases(kind) as found:
        async with found.new("bench").opened():
            start = time.perf_counter()
            await build_tree()
            build_seconds = round(time.perf_counter() - start, 2)
            figures = await measure(rounds)
            figures["build_seconds"] = build_seconds
            return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    results = run_on_each(args.databases, lambda kind: run(kind, args.rounds))
    print_report({"benchmark": "agent_tree", "results": results})


if __name__ == "__main__":
    main()
