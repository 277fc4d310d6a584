"""Statistics pages (SPEC R-29): an agent's figures, own or its whole subtree's, and the whole
network's for operator staff, by day or month over a chosen period; a chart of the main series
with its table, the breakdown by direct sub-agent with drill-down, and CSV and XLSX downloads."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, get
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Response

from agency.agents import get_agent
from core.errors import N_, ValidationFailed
from stats import figures
from web.auth import access
from web.charts import Line, line_chart
from web.controllers.forms import refusal
from web.exports import table_response
from web.formatting import airtime, yuan
from web.i18n import gettext as _
from web.rendering import render

# Every figure's label, in the order the tables show them. Airtime is shown as minutes:seconds and
# money in yuan; the downloads carry exact integers, seconds and fen, with the unit in the header.
FIGURE_LABELS = {
    "bought_seconds": N_("Airtime bought"),
    "sold_seconds": N_("Airtime sold to sub-agents"),
    "carded_seconds": N_("Airtime put on cards"),
    "returned_seconds": N_("Airtime back from voided or expired cards"),
    "activated_cards": N_("Cards activated"),
    "activated_seconds": N_("Airtime on activated cards"),
    "redeemed_cards": N_("Cards redeemed"),
    "redeemed_seconds": N_("Airtime redeemed"),
    "consumed_seconds": N_("Airtime used by calls"),
    "calls": N_("Calls"),
    "opened_accounts": N_("Accounts opened"),
    "closed_accounts": N_("Accounts closed"),
    "active_accounts": N_("Accounts open at the end"),
    "remitted_fen": N_("Remitted"),
    "paid_fen": N_("Paid for bundles"),
    "received_fen": N_("Received from sub-agents"),
    "margin_fen": N_("Margin on sales to sub-agents"),
}
UNITS = {"seconds": N_("seconds"), "fen": N_("fen")}  # of the downloads' exact integers
COUNT = N_("count")
CHARTED = ("bought_seconds", "redeemed_seconds", "consumed_seconds")  # the main series, in minutes
SERIES_COLUMNS = ("redeemed_cards", "redeemed_seconds", "consumed_seconds", "calls", "active_accounts", "paid_fen")


def shown(name: str, value: int) -> str:
    """A figure as users read it: yuan for fen ("-¥1,234.50"), minutes:seconds for airtime, a grouped count else."""
    if name.endswith("_fen"):
        return yuan(value)
    if name.endswith("_seconds"):
        return airtime(value)
    return f"{value:,}"


def _query(period: figures.Period, **changes: str) -> str:
    values = {
        "since": period.since.isoformat(),
        "until": period.until.isoformat(),
        "granularity": period.granularity,
        "scope": period.scope,
        **changes,
    }
    return urlencode(values)


async def _page(request: Request, agent_id: int | None, since, until, granularity, whose) -> Response:
    actor = request.user
    agent = None if agent_id is figures.NETWORK else await get_agent(actor, agent_id)
    asked = {"since": since, "until": until, "granularity": granularity, "scope": whose}
    try:
        period = figures.parse_period(since, until, granularity, whose)
    except ValidationFailed as refused:  # the form again, with what was typed and why it was refused
        period = figures.parse_period("", "", "day", "subtree")
        context = {**await _context(actor, agent, agent_id, period), "asked": asked}
        return refusal(request, "stats/statistics.html", refused, **context)
    return render(request, "stats/statistics.html", **await _context(actor, agent, agent_id, period), asked=asked)


async def _context(actor, agent: dict[str, Any] | None, agent_id: int | None, period: figures.Period) -> dict:
    result = await figures.statistics(actor, agent_id, period)
    series = result["series"]
    chart = line_chart(
        _("Minutes by day") if period.granularity == "day" else _("Minutes by month"),
        [entry["period"] for entry in series],
        [Line(_(FIGURE_LABELS[name]), [entry[name] // 60 for entry in series]) for name in CHARTED],
    )
    return {
        "agent": agent,
        "result": result,
        "period": period,
        "chart": chart,
        "labels": FIGURE_LABELS,
        "series_columns": SERIES_COLUMNS,
        "shown": shown,
        "base": "/statistics" if agent is None else f"/agents/{agent['id']}/statistics",
        "query": lambda **changes: _query(period, **changes),
        "errors": {},
    }


@get("/agents/{agent_id:int}/statistics", opt=access("view_statistics"))
async def agent_statistics(
    request: Request,
    agent_id: FromPath[int],
    since: FromQuery[str] = "",
    until: FromQuery[str] = "",
    granularity: FromQuery[str] = "day",
    whose: Annotated[str, QueryParameter(name="scope")] = "subtree",  # `scope` names the ASGI scope
) -> Response:
    return await _page(request, agent_id, since, until, granularity, whose)


@get("/statistics", opt=access("view_statistics"))
async def network_statistics(
    request: Request, since: FromQuery[str] = "", until: FromQuery[str] = "", granularity: FromQuery[str] = "day"
) -> Response:
    return await _page(request, figures.NETWORK, since, until, granularity, "subtree")


async def _export(request: Request, agent_id: int | None, file_format: str, since, until, granularity, whose):
    period = figures.parse_period(since, until, granularity, whose)
    result = await figures.statistics(request.user, agent_id, period)
    names = list(FIGURE_LABELS)
    header = [_("Period"), *(f"{_(FIGURE_LABELS[n])} ({_(UNITS.get(n.rpartition('_')[2], COUNT))})" for n in names)]

    def cells(entry: dict[str, Any]) -> list[object]:
        return [entry[name] for name in names]

    rows = [[entry["period"], *cells(entry)] for entry in result["series"]]
    rows.append([_("Total"), *cells(result["totals"])])
    name = f"statistics-{agent_id or 'network'}-{period.since}-{period.until}"
    return table_response(name, "xlsx" if file_format == "xlsx" else "csv", header, rows)


@get("/agents/{agent_id:int}/statistics/export", opt=access("view_statistics"))
async def export_agent_statistics(
    request: Request,
    agent_id: FromPath[int],
    format: FromQuery[str] = "csv",
    since: FromQuery[str] = "",
    until: FromQuery[str] = "",
    granularity: FromQuery[str] = "day",
    whose: Annotated[str, QueryParameter(name="scope")] = "subtree",  # `scope` names the ASGI scope
) -> Response:
    return await _export(request, agent_id, format, since, until, granularity, whose)


@get("/statistics/export", opt=access("view_statistics"))
async def export_network_statistics(
    request: Request,
    format: FromQuery[str] = "csv",
    since: FromQuery[str] = "",
    until: FromQuery[str] = "",
    granularity: FromQuery[str] = "day",
) -> Response:
    return await _export(request, figures.NETWORK, format, since, until, granularity, "subtree")


ROUTES = [agent_statistics, network_statistics, export_agent_statistics, export_network_statistics]
