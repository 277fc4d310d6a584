"""Demo data for the embedded mode (R-36): an operator, two level-1 agents with sub-agents two
levels deep, and their users. Loaded only into an empty database."""

from __future__ import annotations

from agency.roles import Actor
from agency.tables import User
from core.clock import now
from core.passwords import hash_password
from money.onboarding import create_agent
from money.prices import save_operator_list

DEMO_PASSWORD = "demo-pass-2026"
DEMO_OPERATION_PASSWORD = "246810"

# (brand, contact, phone, [users as (username, role)], children)
TREE = [
    (
        "华信通讯",
        "王伟",
        "+86 21 5555 0101",
        [("huaxin", "owner"), ("huaxin.clerk", "clerk"), ("huaxin.view", "viewer")],
        [
            (
                "华信浦东",
                "李娜",
                "+86 21 5555 0102",
                [("huaxin.pudong", "owner")],
                [
                    ("华信陆家嘴", "张敏", "+86 21 5555 0103", [("huaxin.lujiazui", "owner")], []),
                ],
            ),
        ],
    ),
    (
        "Pearl River Telecom",
        "Chen Jie",
        "+86 20 5555 0201",
        [("pearl", "owner"), ("pearl.support", "support")],
        [
            (
                "Pearl River Tianhe",
                "Liu Yang",
                "+86 20 5555 0202",
                [("pearl.tianhe", "owner")],
                [
                    ("Pearl River Zhujiang", "Huang Lei", "+86 20 5555 0203", [("pearl.zhujiang", "owner")], []),
                ],
            ),
        ],
    ),
]
# When each tree's hotlines answer (free text, in the agent's words); its sub-agents keep the same hours.
SERVICE_HOURS = {"华信通讯": "周一至周五 09:00-18:00", "Pearl River Telecom": "Mon-Sat 08:00-20:00"}
STAFF = [("admin", "admin"), ("finance", "finance"), ("support", "support")]
# The operator's price list per level (fen per minute): deeper levels pay more; 1,000 minutes or more is cheaper.
OPERATOR_PRICES = {
    level: [{"min_minutes": 1, "price": f"{8 + level}.00"}, {"min_minutes": 1000, "price": f"{7 + level}.50"}]
    for level in range(1, 6)
}


async def is_empty() -> bool:
    return not await User.exists()


async def load_demo() -> list[tuple[str, str, str]]:
    """Create the demo; return (username, role, agent) for every login created."""
    password_hash = hash_password(DEMO_PASSWORD)
    operation_hash = hash_password(DEMO_OPERATION_PASSWORD)
    logins: list[tuple[str, str, str]] = []

    async def add_user(username: str, role: str, agent_id: int | None, agent_name: str) -> int:
        rows = await User.insert(
            User(
                username=username,
                display_name=username,
                role=role,
                agent=agent_id,
                password_hash=password_hash,
                operation_password_hash=operation_hash,
                created_at=now(),
            )
        ).returning(User.id)
        logins.append((username, role, agent_name))
        return rows[0]["id"]

    admin_id = 0
    for username, role in STAFF:
        user_id = await add_user(username, role, None, "")
        admin_id = admin_id or user_id
    operator = Actor(user_id=admin_id, username="admin", role="admin", address="demo")

    async def add_branch(parent_id: int | None, node: tuple, hours: str = "") -> None:
        brand, contact, phone, users, children = node
        hours = SERVICE_HOURS.get(brand, hours)
        actor = operator
        agent = await create_agent(
            actor,
            parent_id,
            # The hotline its subscribers see in the portal: a 400 service number, one per agent, and its hours.
            {
                "brand_name": brand,
                "contact_person": contact,
                "phone": phone,
                "hotline": "400 " + phone[-9:],
                "service_hours": hours,
                "timezone": "Asia/Shanghai",
            },
        )
        for username, role in users:
            await add_user(username, role, agent["id"], brand)
        for child in children:
            await add_branch(agent["id"], child, hours)

    for node in TREE:
        await add_branch(None, node)
    for level, tiers in OPERATOR_PRICES.items():
        await save_operator_list(operator, level, tiers)
    await _demo_money(operator)
    return logins


async def _demo_money(operator: Actor) -> None:
    """Pearl River Telecom has remitted ¥5,000 (confirmed) and bought 20,000 minutes; 华信 starts empty."""
    from agency.sessions import log_in
    from money.bundles import buy_bundle
    from money.remittances import decide_remittance, record_remittance

    _token, pearl = await log_in("pearl", DEMO_PASSWORD, address="demo")
    remittance = await record_remittance(
        pearl, {"amount": "5000", "bank_reference": "DEMO-0001", "remitted_on": now().date().isoformat()}
    )
    await decide_remittance(
        operator,
        remittance["id"],
        confirm=True,
        operation_password=DEMO_OPERATION_PASSWORD,
        idempotency_key="demo-remittance-1",
    )
    await buy_bundle(pearl, 20_000, operation_password=DEMO_OPERATION_PASSWORD, idempotency_key="demo-bundle-1")
