"""The dashboard: what needs doing first (remittances to confirm, a price list below cost, low
stock, tickets at risk, an unset operation password), then the last 30 days in a chart."""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Response

from accounts import review
from agency import agents, users
from money import payees, prices, remittances, wallets
from stats import figures
from support import calendars, queues
from web.auth import AUTHENTICATED, access
from web.charts import Line, line_chart
from web.controllers.stats import CHARTED, FIGURE_LABELS
from web.formatting import minutes, number
from web.i18n import gettext as _
from web.rendering import render

LOW_STOCK_MINUTES = 1000  # below this, an agent that sells is told to buy a bundle


async def _to_do(actor, agent: dict | None, money: dict | None) -> list[tuple[str, str, str]]:
    """(id, what needs doing, where to do it), most pressing first."""
    items = []
    if actor.can("confirm_remittance"):
        _rows, waiting = await remittances.list_remittances(actor, status="pending", to_me=True, per_page=1)
        if waiting:
            text = _("%(n)s remittances wait for your decision") % {"n": number(waiting)}
            items.append(("todo-remittances", text, "/remittances"))
    if agent and (below := await prices.below_cost_from(agent)):
        text = _(
            "Your price list for sub-agents is below your own cost from %(n)s minutes, "
            "so they cannot buy those bundles."
        )
        items.append(("below-cost", text % {"n": number(below)}, "/prices"))
    if money is not None and money["stock"] < LOW_STOCK_MINUTES * 60 and actor.can("buy_bundle"):
        text = _("Your stock is low: %(n)s minutes left") % {"n": minutes(money["stock"])}
        items.append(("todo-stock", text, "/bundles"))
    if urgent := await queues.urgent_count(actor):
        items.append(("todo-tickets", _("%(n)s tickets are at risk or overdue") % {"n": number(urgent)}, "/support"))
    if waiting := await review.count_open(actor):  # 0 for who may not review
        text = _("%(n)s calls or usage alerts wait for review") % {"n": number(waiting)}
        items.append(("todo-call-reviews", text, "/calls/reviews"))
    if not await users.has_operation_password(actor):
        items.append(("todo-operation-password", _("Set your operation password"), "/account#operation-password"))
    if actor.can("manage_calendar"):  # only those who can confirm them hear of unconfirmed holidays
        for year in calendars.unconfirmed_years(await calendars.confirmed_years()):
            text = _("The holidays of %(year)s are not confirmed: check the calendar") % {"year": year}
            items.append((f"todo-holidays-{year}", text, "/support/calendar"))
    has_payers = agent is None or (await agents.list_agents(actor, under=agent["id"], per_page=1))[1] > 0
    if actor.can("confirm_remittance") and has_payers and await payees.own_bank_details(actor) is None:
        text = _("Enter your bank details, so that those who remit to you know where to send the money")
        items.append(("todo-bank-details", text, "/bank-details"))
    return items


@get("/", opt=access(AUTHENTICATED), name="dashboard")
async def dashboard(request: Request) -> Response:
    actor = request.user
    agent = await agents.get_agent(actor, actor.agent_id) if actor.agent_id else None
    _rows, subtree = await agents.list_agents(actor, per_page=1)
    money = await wallets.money_summary(actor, agent["id"]) if agent and actor.can("view_money") else None
    chart = recent = None
    if actor.can("view_statistics"):
        recent = await figures.statistics(actor, agent["id"] if agent else figures.NETWORK, figures.last_days(30))
        chart = line_chart(
            _("The last 30 days, in minutes"),
            [entry["period"][5:] for entry in recent["series"]],
            [Line(_(FIGURE_LABELS[name]), [entry[name] // 60 for entry in recent["series"]]) for name in CHARTED],
        )
    return render(
        request,
        "dashboard.html",
        agent=agent,
        money=money,
        subtree_count=subtree - (1 if agent else 0),
        to_do=await _to_do(actor, agent, money),
        chart=chart,
        recent=recent,
        labels=FIGURE_LABELS,
    )


ROUTES = [dashboard]
