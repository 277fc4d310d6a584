"""The statistics API (SPEC R-29): an agent's figures, own or its whole subtree's, and the whole
network's for the operator, by day or month, with the breakdown by direct sub-agent."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery, QueryParameter

from stats import figures
from web.auth import access
from web.controllers.answers import answer


class Figures(msgspec.Struct):
    """Exact integers: airtime in seconds, money in fen. `active_accounts` is the number of accounts
    open at the end of the period; every other figure is what happened during it."""

    bought_seconds: int
    sold_seconds: int
    carded_seconds: int
    returned_seconds: int
    activated_cards: int
    activated_seconds: int
    redeemed_cards: int
    redeemed_seconds: int
    consumed_seconds: int
    calls: int
    opened_accounts: int
    closed_accounts: int
    active_accounts: int
    remitted_fen: int
    paid_fen: int
    received_fen: int
    margin_fen: int


class PeriodFigures(Figures):
    """One day ("YYYY-MM-DD") or month ("YYYY-MM") of the series, in the operator's time zone."""

    period: str


class ChildFigures(Figures):
    """A direct sub-agent (for the network: a level-1 agent) with its whole subtree's figures."""

    agent_id: int
    brand_name: str


class StatisticsOut(msgspec.Struct):
    """`agent_id` is null for the whole network. `until` is exclusive."""

    agent_id: int | None
    scope: str
    granularity: str
    since: str
    until: str
    totals: Figures
    series: list[PeriodFigures]
    children: list[ChildFigures]


class StatisticsApiController(Controller):
    path = "/api/v1"
    tags = ["statistics"]

    @get("/agents/{agent_id:int}/statistics", opt=access("view_statistics"))
    async def agent_statistics(
        self,
        request: Request,
        agent_id: FromPath[int],
        since: FromQuery[str] = "",
        until: FromQuery[str] = "",
        granularity: FromQuery[str] = "day",
        whose: Annotated[str, QueryParameter(name="scope")] = "subtree",  # `scope` names the ASGI scope
    ) -> StatisticsOut:
        """The agent's figures from `since` to `until` (YYYY-MM-DD, `until` exclusive; by default the
        last 30 days), by `day` or `month`, for the agent alone (`own`) or its whole `subtree`."""
        period = figures.parse_period(since, until, granularity, whose)
        return answer(StatisticsOut, await figures.statistics(request.user, agent_id, period))

    @get("/statistics", opt=access("view_statistics"))
    async def network_statistics(
        self,
        request: Request,
        since: FromQuery[str] = "",
        until: FromQuery[str] = "",
        granularity: FromQuery[str] = "day",
    ) -> StatisticsOut:
        """The whole network's figures (operator staff): the sum of every level-1 agent's subtree,
        and each level-1 agent as a child."""
        period = figures.parse_period(since, until, granularity, "subtree")
        return answer(StatisticsOut, await figures.statistics(request.user, figures.NETWORK, period))


ROUTES = [StatisticsApiController]
