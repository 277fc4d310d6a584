"""Money pages: wallet and stock with their journal, bundles, remittances, prices, activation."""

from __future__ import annotations

import datetime as dt
import uuid

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Response

from agency import agents, users
from agency.roles import Actor
from core.errors import ValidationFailed
from core.units import format_price
from money import adjustments, bundles, onboarding, payees, prices, remittances, wallets
from money.ledger import JournalFilter
from web import flash, labels
from web.auth import access
from web.controllers.forms import (
    form_action,
    form_data,
    period,
    query_id,
    redirect,
    refusal,
    unreadable_days,
    uploaded_file,
)
from web.controllers.paging import PER_PAGE, page_count
from web.errors import FORM_REFUSALS, error_text, field_errors, status_of
from web.exports import table_response
from web.formatting import datetime_local, money
from web.i18n import gettext as _
from web.rendering import render
from web.settings import Settings

TIER_ROWS = 6


def journal_filter(kind: str, since: str, until: str, counterparty: str) -> JournalFilter:
    since_at, until_at = period(since, until)
    return JournalFilter(kind=kind[:32], since=since_at, until=until_at, counterparty=query_id(counterparty))


async def _wallet_context(
    request: Request,
    agent_id: int,
    *,
    account: str = "wallet",
    kind: str = "",
    since: str = "",
    until: str = "",
    counterparty: str = "",
    page: int = 1,
    values: dict | None = None,
) -> dict:
    agent = await agents.get_agent(request.user, agent_id)
    summary = await wallets.money_summary(request.user, agent_id)
    rows, total = await wallets.agent_journal(
        request.user, agent_id, account, journal_filter(kind, since, until, counterparty), page=page
    )
    return {
        "agent": agent,
        "summary": summary,
        "rows": rows,
        "total": total,
        "page": page,
        "pages": page_count(total),
        "filters": {
            "account": account,
            "kind": kind[:32],
            "since": since[:10],
            "until": until[:10],
            "counterparty": counterparty[:9],
        },
        "kinds": wallets.TRANSACTION_KINDS,
        "may_adjust": adjustments.may_adjust(request.user, agent),
        "idempotency_key": uuid.uuid4().hex,
        "values": values or {},
        "errors": {},
        "error": None,
    }


@get("/agents/{agent_id:int}/money", opt=access("view_money"))
async def wallet_page(
    request: Request,
    agent_id: FromPath[int],
    account: FromQuery[str] = "wallet",
    kind: FromQuery[str] = "",
    since: FromQuery[str] = "",
    until: FromQuery[str] = "",
    counterparty: FromQuery[str] = "",
    page: FromQuery[int] = 1,
) -> Response:
    unreadable_days(request, since, until)
    context = await _wallet_context(
        request,
        agent_id,
        account=account,
        kind=kind,
        since=since,
        until=until,
        counterparty=counterparty,
        page=page,
    )
    return render(request, "money/wallet.html", partial="money/_journal.html", **context)


@post("/agents/{agent_id:int}/adjustments", opt=access("adjust_balances"))
async def post_adjustment(request: Request, agent_id: FromPath[int]) -> Response:
    """An adjustment or penalty by the agent's holder (R-11b); the journal then shows it."""
    return await form_action(
        request,
        lambda d: adjustments.adjust(
            request.user,
            agent_id,
            d,
            operation_password=d.get("operation_password"),
            idempotency_key=d.get("idempotency_key"),
        ),
        done=lambda r: _said(
            request,
            f"/agents/{agent_id}/money?account={r['account']}&kind={r['kind']}",
            "adjustment_posted",
        ),
        page="money/wallet.html",
        context=lambda data: _wallet_context(request, agent_id, values=data),
    )


@get("/agents/{agent_id:int}/money/export", opt=access("view_money"))
async def export_journal(
    request: Request,
    agent_id: FromPath[int],
    format: FromQuery[str] = "csv",
    account: FromQuery[str] = "wallet",
    kind: FromQuery[str] = "",
    since: FromQuery[str] = "",
    until: FromQuery[str] = "",
    counterparty: FromQuery[str] = "",
) -> Response:
    rows, _total = await wallets.agent_journal(
        request.user, agent_id, account, journal_filter(kind, since, until, counterparty), per_page=100_000
    )
    header = [_("When"), _("Kind"), _("Memo"), _("Amount"), _("Unit"), _("Transaction")]
    data = [
        [
            datetime_local(r["at"]),
            labels.label(r["kind"], "journal_kind"),
            labels.stored(r["memo"]),
            money(r["amount"]) if r["unit"] == "fen" else r["amount"] // 60,
            _("yuan") if r["unit"] == "fen" else _("minutes"),
            r["txn_id"],
        ]
        for r in rows
    ]
    return table_response(f"journal-{agent_id}-{account}", "xlsx" if format == "xlsx" else "csv", header, data)


async def _bundles_context(actor: Actor, since: str = "", until: str = "", agent: str = "") -> dict:
    start, end = period(since, until)
    orders, total = await bundles.list_orders(
        actor, agent_id=query_id(agent), since=start, until=end, per_page=PER_PAGE
    )
    summary = await wallets.money_summary(actor, actor.agent_id) if actor.agent_id else None
    return {
        "orders": orders,
        "total": total,
        "summary": summary,
        "quote": None,
        "errors": {},
        "values": {},
        "idempotency_key": uuid.uuid4().hex,
        "filters": {"since": since[:10], "until": until[:10], "agent": agent[:9]},
    }


@get("/bundles", opt=access("view_money"))
async def bundles_page(
    request: Request, since: FromQuery[str] = "", until: FromQuery[str] = "", agent: FromQuery[str] = ""
) -> Response:
    unreadable_days(request, since, until)
    context = await _bundles_context(request.user, since, until, agent)
    return render(request, "money/bundles.html", partial="money/_orders.html", **context)


@get("/bundles/quote", opt=access("buy_bundle"))
async def bundle_quote(request: Request, minutes: FromQuery[str] = "") -> Response:
    """The htmx partial under the minutes field: tier, unit price, total, and the confirm form;
    or, where the purchase cannot go through, what is missing and where to get it: the money
    (a remittance, to the payee's bank account) or the operation password (My account)."""
    actor = request.user
    try:
        offer = await bundles.quote(actor, minutes)
    except ValidationFailed as exc:
        return render(request, "money/_quote.html", quote=None, error=next(iter(field_errors(exc).values())))
    wallet = (await wallets.money_summary(actor, actor.agent_id))["wallet"]
    short_fen = max(0, offer.total_fen - wallet)
    return render(
        request,
        "money/_quote.html",
        quote=offer,
        error=None,
        idempotency_key=uuid.uuid4().hex,
        unit_price=format_price(offer.unit_price),
        wallet_fen=wallet,
        short_fen=short_fen,
        payee=await payees.payee_of(actor) if short_fen else None,
        operation_password_missing=not await users.has_operation_password(actor),
    )


@post("/bundles", opt=access("buy_bundle"))
async def buy_bundle(request: Request) -> Response:
    data = await form_data(request)
    expected = data.get("expected_total_fen")
    try:
        order = await bundles.buy_bundle(
            request.user,
            data.get("minutes"),
            operation_password=data.get("operation_password"),
            idempotency_key=data.get("idempotency_key"),
            expected_total_fen=int(expected) if expected and expected.isascii() and expected.isdigit() else None,
        )
    except FORM_REFUSALS as exc:
        context = await _bundles_context(request.user)
        return refusal(request, "money/bundles.html", exc, **{**context, "values": data})
    flash.say(request, "bundle_bought", minutes_seconds=order["minutes"] * 60, total_fen=order["total_fen"])
    return redirect(request, f"/bundles/{order['id']}")


@get("/bundles/{order_id:int}", opt=access("view_money"))
async def bundle_receipt(request: Request, order_id: FromPath[int]) -> Response:
    order = await bundles.get_order(request.user, order_id)
    return render(request, "money/receipt.html", order=order, unit_price=format_price(order["unit_price"]))


def remittance_lists(actor: Actor) -> tuple[str, ...]:
    """The lists of the remittance page, the default first: those sent to the actor's side (which
    it decides), those its own agent sent (none for the operator), and all it may see."""
    return ("to_me", "all") if actor.is_operator else ("mine", "to_me", "all")


async def _remittance_context(actor: Actor, status: str = "", which: str = "", *, open_record: bool = False) -> dict:
    lists = remittance_lists(actor)
    which = which if which in lists else lists[0]
    status = status if status in ("pending", "confirmed", "rejected") else ""
    rows, total = await remittances.list_remittances(
        actor, status=status, to_me=which == "to_me", mine=which == "mine", per_page=PER_PAGE
    )
    to_decide = []
    if actor.can("confirm_remittance"):
        to_decide, _n = await remittances.list_remittances(actor, status="pending", to_me=True, per_page=PER_PAGE)
    # A bank reference seen twice by the same payee is pointed out to the one who decides.
    shared = await remittances.shared_references(actor, to_decide + (rows if which == "to_me" else []))
    may_record = actor.can("record_remittance")
    return {
        "rows": rows,
        "total": total,
        "to_decide": to_decide,
        "shared_references": shared,
        "status": status,
        "lists": lists,
        "list": which,
        "payee": await payees.payee_of(actor) if may_record else None,
        "open_record": open_record,
        "duplicate_reference": False,
        "own_bank_details": await payees.own_bank_details(actor) if actor.can("confirm_remittance") else None,
        "operation_password_missing": bool(to_decide) and not await users.has_operation_password(actor),
        "errors": {},
        "values": {},
        "today": dt.date.today().isoformat(),
        "idempotency_key": uuid.uuid4().hex,
        "error": None,
    }


@get("/remittances", opt=access("view_money"))
async def remittances_page(
    request: Request, status: FromQuery[str] = "", show: FromQuery[str] = "", record: FromQuery[str] = ""
) -> Response:
    """`show`: to_me, mine or all (remittance_lists); `record=1` opens the form to record one."""
    context = await _remittance_context(request.user, status[:16], show[:8], open_record=record == "1")
    return render(request, "money/remittances.html", **context)


@post("/remittances", opt=access("record_remittance"))
async def record_remittance(request: Request) -> Response:
    data, slip = await form_data(request), await uploaded_file(request, "slip")
    try:
        recorded = await remittances.record_remittance(
            request.user, data, slip, idempotency_key=data.get("idempotency_key")
        )
    except FORM_REFUSALS as exc:
        context = await _remittance_context(request.user, open_record=True)
        duplicate = isinstance(exc, remittances.DuplicateBankReference)  # the form then asks to confirm
        return refusal(
            request, "money/remittances.html", exc, **{**context, "values": data, "duplicate_reference": duplicate}
        )
    flash.say(request, "remittance_recorded", amount_fen=recorded["amount_fen"])
    return redirect(request, "/remittances")


async def _decide(request: Request, remittance_id: int, confirm: bool) -> Response:
    d = await form_data(request)
    try:
        r = await remittances.decide_remittance(
            request.user,
            remittance_id,
            confirm=confirm,
            operation_password=d.get("operation_password"),
            idempotency_key=d.get("idempotency_key"),
            note=d.get("note", ""),
        )
    except FORM_REFUSALS as exc:
        # Said in one line above the decisions (a missing reason too), not beside the record form's fields.
        context = await _remittance_context(request.user, which="to_me")
        return render(
            request, "money/remittances.html", status_code=status_of(exc), **{**context, "error": error_text(exc)}
        )
    return _said(
        request, "/remittances?show=to_me", f"remittance_{r['status']}", id=r["id"], amount_fen=r["amount_fen"]
    )


@get("/bank-details", opt=access("confirm_remittance"))
async def bank_details_page(request: Request) -> Response:
    """The bank details of the actor's side (the operator, or its agent), shown to those who remit to it."""
    return render(request, "money/bank_details.html", **await _bank_details_context(request.user))


async def _bank_details_context(actor: Actor, values: dict | None = None) -> dict:
    saved = await payees.own_bank_details(actor)
    return {
        "values": values if values is not None else saved or {},
        "saved": saved,
        "operation_password_missing": not await users.has_operation_password(actor),
        "errors": {},
        "error": None,
    }


@post("/bank-details", opt=access("confirm_remittance"))
async def save_bank_details(request: Request) -> Response:
    async def context(data: dict) -> dict:
        return await _bank_details_context(request.user, data)

    return await form_action(
        request,
        lambda d: payees.save_bank_details(request.user, d, operation_password=d.get("operation_password")),
        done=lambda _: _said(request, "/bank-details", "bank_details_saved"),
        page="money/bank_details.html",
        context=context,
    )


@post("/remittances/{remittance_id:int}/confirm", opt=access("confirm_remittance"))
async def confirm_remittance(request: Request, remittance_id: FromPath[int]) -> Response:
    return await _decide(request, remittance_id, True)


@post("/remittances/{remittance_id:int}/reject", opt=access("confirm_remittance"))
async def reject_remittance(request: Request, remittance_id: FromPath[int]) -> Response:
    return await _decide(request, remittance_id, False)


@get("/remittances/{remittance_id:int}/slip", opt=access("view_money"))
async def remittance_slip(request: Request, remittance_id: FromPath[int]) -> Response:
    name, media_type, content = await remittances.slip_of(request.user, remittance_id)
    safe_name = "".join(c for c in name if c.isalnum() or c in "._-")[:80] or "slip"
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'inline; filename="{safe_name}"', "X-Content-Type-Options": "nosniff"},
    )


def tiers_from_form(data: dict[str, str]) -> list[dict[str, str]]:
    """Rows tier_min_N / tier_price_N of the price form; blank rows are skipped."""
    rows = []
    for i in range(TIER_ROWS):
        minimum, price = data.get(f"tier_min_{i}", "").strip(), data.get(f"tier_price_{i}", "").strip()
        if minimum or price:
            rows.append({"min_minutes": minimum, "price": price})
    return rows


async def _prices_context(request: Request, settings: Settings) -> dict:
    actor = request.user
    context: dict = {"errors": {}, "error": None, "tier_rows": TIER_ROWS, "format_price": format_price, "typed": {}}
    if actor.is_operator:
        levels = range(1, settings.max_agent_depth + 1)
        context["levels"] = [
            {"level": level, "tiers": await prices.operator_list(level), "policy": await prices.level_policy(level)}
            for level in levels
        ]
    else:
        me = await agents.get_agent(actor, actor.agent_id)
        cost, _own = await prices.price_list_for(me)
        mine = await prices.agent_list(me["id"])
        default = await prices.operator_list(me["level"] + 1)
        context.update(
            agent=me, cost=cost, mine=mine, default=default, can_have_children=me["level"] < settings.max_agent_depth
        )
    return context


async def _prices_typed(request: Request, settings: Settings, data: dict) -> dict:
    """The prices page again after a refusal: the refused form keeps what was typed in it."""
    return {**await _prices_context(request, settings), "typed": {request.url.path: data}}


@get("/prices/preview", opt=access("view_money"))
async def price_preview(request: Request, minutes: FromQuery[str] = "", level: FromQuery[str] = "") -> Response:
    """htmx partial: what a sub-agent (or, for the operator, an agent of `level`) pays."""
    try:
        result = await prices.preview(request.user, minutes, query_id(level, digits=2))
    except ValidationFailed as exc:
        return render(request, "money/_preview.html", preview=None, error=next(iter(field_errors(exc).values())))
    return render(request, "money/_preview.html", preview=result, error=None)


@get("/prices", opt=access("view_money"))
async def prices_page(request: Request, settings: NamedDependency[Settings]) -> Response:
    return render(request, "money/prices.html", **await _prices_context(request, settings))


async def _save_prices(request: Request, settings: Settings, action, message: str, **params: object) -> Response:
    return await form_action(
        request,
        action,
        done=lambda _: _said(request, "/prices", message, **params),
        page="money/prices.html",
        context=lambda data: _prices_typed(request, settings, data),
    )


@post("/prices/levels/{level:int}", opt=access("set_prices"))
async def save_level_prices(request: Request, level: FromPath[int], settings: NamedDependency[Settings]) -> Response:
    return await _save_prices(
        request,
        settings,
        lambda d: prices.save_operator_list(request.user, level, tiers_from_form(d)),
        "prices_saved",
        level=level,
    )


@post("/prices/levels/{level:int}/policy", opt=access("set_prices"))
async def save_level_policy(request: Request, level: FromPath[int], settings: NamedDependency[Settings]) -> Response:
    async def save(d: dict[str, str]) -> None:
        values = prices.level_policy_values(
            d.get("min_first_purchase_minutes") or "0", d.get("deposit", "0"), d.get("franchise_fee", "0")
        )
        await prices.save_level_policy(request.user, level, values)

    return await _save_prices(request, settings, save, "policy_saved", level=level)


@post("/prices/mine", opt=access("set_prices"))
async def save_my_prices(request: Request, settings: NamedDependency[Settings]) -> Response:
    return await _save_prices(
        request,
        settings,
        lambda d: prices.save_agent_list(request.user, request.user.agent_id or 0, tiers_from_form(d)),
        "my_prices_saved",
    )


@post("/agents/{agent_id:int}/activate", opt=access("activate_agent"))
async def activate_agent(request: Request, agent_id: FromPath[int]) -> Response:
    data = await form_data(request)
    await onboarding.activate_agent(
        request.user,
        agent_id,
        operation_password=data.get("operation_password"),
        idempotency_key=data.get("idempotency_key"),
    )
    return _said(request, f"/agents/{agent_id}", "agent_activated")


def _said(request: Request, url: str, message: str, **params: object) -> Response:
    """Back to `url`, saying what was done (web/flash.py)."""
    flash.say(request, message, **params)
    return redirect(request, url)


ROUTES = [
    wallet_page,
    post_adjustment,
    export_journal,
    bundles_page,
    price_preview,
    bundle_quote,
    buy_bundle,
    bundle_receipt,
    remittances_page,
    record_remittance,
    confirm_remittance,
    reject_remittance,
    remittance_slip,
    bank_details_page,
    save_bank_details,
    prices_page,
    save_level_prices,
    save_level_policy,
    save_my_prices,
    activate_agent,
]
