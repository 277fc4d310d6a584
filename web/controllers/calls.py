"""Call controls and the review list (R-22a): the operator's settings of calls, barred
destination prefixes and usage rules (accounts.controls), and the calls and rule hits waiting
for a decision (accounts.review). The operator's staff see everyone's; an agent's staff their
subtree's, and its owner sets bars and rules for it."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Response

from accounts import controls, review
from core.errors import N_, Conflict, ValidationFailed
from web import flash
from web.auth import access
from web.controllers.forms import confirm_page, confirmed, form_action, redirect
from web.controllers.paging import page_count
from web.formatting import airtime, minutes, number
from web.i18n import gettext as _
from web.labels import label
from web.rendering import render

CONTROLS = "calls/controls.html"
REVIEWS = "calls/reviews.html"
STATUS_FILTERS = ("open", "all", *review.STATUSES[1:])  # "all": every status


# --- the controls page -----------------------------------------------------------------------------


def minutes_field(text: object) -> object:
    """The longest call typed in whole minutes, as the seconds the domain takes; anything else
    goes on as typed, for the domain to refuse."""
    if isinstance(text, str) and text.strip().isascii() and text.strip().isdigit() and len(text.strip()) <= 9:
        return int(text.strip()) * 60
    return text


async def _controls_context(request: Request, values: dict[str, Any] | None = None) -> dict[str, Any]:
    settings = await controls.get_settings()
    return {
        "settings": settings,
        "bars": await controls.list_bars(request.user),
        "rules": await controls.list_rules(request.user),
        "bar_reasons": controls.BAR_REASONS,
        "rule_kinds": controls.RULE_KINDS,
        "scope_name": scope_name,
        "values": values or {"max_call_minutes": settings["max_call_seconds"] // 60, **settings},
        "errors": {},
        "error": None,
    }


@get("/calls/controls", opt=access("review_calls"))
async def controls_page(request: Request) -> Response:
    return render(request, CONTROLS, **await _controls_context(request))


async def _save_settings(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return await controls.save_settings(
            request.user,
            {"max_call_seconds": minutes_field(data.get("max_call_minutes")), **_only(data, "subscriber_call_cap")},
        )
    except ValidationFailed as exc:  # the form asks for minutes
        errors = {("max_call_minutes" if k == "max_call_seconds" else k): v for k, v in exc.errors.items()}
        raise ValidationFailed(errors, **exc.params) from None


def _only(data: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: data.get(name) for name in names}


async def _controls_action(request: Request, action, message: str, said=lambda _result: {}) -> Response:
    def done(result: Any) -> Response:
        flash.say(request, message, **said(result))
        return redirect(request, "/calls/controls")

    async def again(data: dict[str, Any]) -> dict[str, Any]:
        context = await _controls_context(request)
        return {**context, "values": {**context["values"], **data}}

    return await form_action(request, action, done=done, page=CONTROLS, context=again)


@post("/calls/settings", opt=access("manage_call_controls"))
async def save_settings(request: Request) -> Response:
    return await _controls_action(request, lambda data: _save_settings(request, data), "call_settings_saved")


@post("/calls/bars", opt=access("manage_call_controls"))
async def add_bar(request: Request) -> Response:
    return await _controls_action(
        request,
        lambda data: controls.add_bar(
            request.user, {**_only(data, "prefix", "reason", "note"), "agent": data.get("bar_agent")}
        ),
        "bar_added",
        lambda bar: {"prefix": bar["prefix"]},
    )


@post("/calls/rules", opt=access("manage_call_controls"))
async def set_rule(request: Request) -> Response:
    return await _controls_action(
        request,
        lambda data: controls.set_rule(
            request.user, {**_only(data, "kind", "threshold"), "agent": data.get("rule_agent")}
        ),
        "rule_saved",
    )


def scope_name(row: dict[str, Any]) -> str:
    """Where a bar or rule applies: everyone (the operator's), or an agent's subtree by its brand."""
    return row.get("brand_name") or _("Everyone")


@post("/calls/bars/{bar_id:int}/remove", opt=access("manage_call_controls"))
async def remove_bar(request: Request, bar_id: FromPath[int]) -> Response:
    """Removing a bar lets the calls through at once: first what it removes, then, confirmed, the removal."""

    async def remove(data: dict[str, Any]) -> Any:
        bar = await controls.removable_bar(request.user, bar_id)
        if not confirmed(data):
            return confirm_page(
                request,
                title=_("Remove the bar on %(prefix)s?") % {"prefix": bar["prefix"]},
                summary=[
                    (_("Prefix"), bar["prefix"]),
                    (_("Applies to"), scope_name(bar)),
                    (_("Reason"), label(bar["reason"], "bar_reason")),
                    (_("After that"), _("Calls to these destinations are authorized again.")),
                ],
                data={},
                button=_("Remove the bar"),
                back="/calls/controls",
            )
        await controls.remove_bar(request.user, bar_id)
        flash.say(request, "bar_removed", prefix=bar["prefix"])
        return redirect(request, "/calls/controls")

    return await _step(request, remove)


@post("/calls/rules/{rule_id:int}/remove", opt=access("manage_call_controls"))
async def remove_rule(request: Request, rule_id: FromPath[int]) -> Response:
    async def remove(data: dict[str, Any]) -> Any:
        rule = await controls.removable_rule(request.user, rule_id)
        if not confirmed(data):
            return confirm_page(
                request,
                title=_("Remove this usage rule?"),
                summary=[
                    (_("Rule"), label(rule["kind"], "usage_rule")),
                    (_("Limit"), number(rule["threshold"])),
                    (_("Applies to"), scope_name(rule)),
                    (_("After that"), _("Nobody is suspended by this rule any more.")),
                ],
                data={},
                button=_("Remove the rule"),
                back="/calls/controls",
            )
        await controls.remove_rule(request.user, rule_id)
        flash.say(request, "rule_removed")
        return redirect(request, "/calls/controls")

    return await _step(request, remove)


async def _step(request: Request, action) -> Response:
    """A step that answers itself (a confirmation page, or a redirect after the change); a
    refusal shows the controls page again, saying why."""

    async def again(data: dict[str, Any]) -> dict[str, Any]:
        return await _controls_context(request)

    return await form_action(request, action, done=lambda response: response, page=CONTROLS, context=again)


# --- the review list -------------------------------------------------------------------------------


def what_happened(item: dict[str, Any]) -> str:
    """A review item in words, with what was counted against its limit in the units people use:
    minutes of a call, airtime not covered, calls, minutes or countries within an hour."""
    kind, observed, threshold = item["kind"], item["observed"], item["threshold"]
    if kind == review.LONG_CALL:
        return _("The call lasted %(length)s minutes, more than %(limit)s minutes.") % {
            "length": airtime(observed),
            "limit": minutes(threshold),
        }
    if kind == review.UNCOVERED:
        return _("%(airtime)s minutes of the call were not covered by the balance.") % {"airtime": airtime(observed)}
    texts = {
        controls.CALLS: N_("%(observed)s calls within an hour; the rule allows %(threshold)s."),
        controls.MINUTES: N_("%(observed)s answered minutes within an hour; the rule allows %(threshold)s."),
        controls.COUNTRIES: N_("%(observed)s new countries within an hour; the rule allows %(threshold)s."),
    }
    if kind in texts:
        return _(texts[kind]) % {"observed": number(observed), "threshold": number(threshold)}
    return label(kind, "call_review_kind")


def _status_filter(status: str) -> str:
    """The list's status filter: open unless one of the others (or all) is asked for."""
    return status if status in STATUS_FILTERS else "open"


async def _reviews_context(request: Request, status: str, page: int) -> dict[str, Any]:
    status = _status_filter(status)
    page = max(1, page)
    rows, total = await review.list_reviews(request.user, status="" if status == "all" else status, page=page)
    for row in rows:
        row["what"] = what_happened(row)
    return {
        "rows": rows,
        "total": total,
        "page": page,
        "pages": page_count(total, review.PER_PAGE),
        "filters": {"status": status},
        "statuses": STATUS_FILTERS,
        "error": None,
    }


@get("/calls/reviews", opt=access("review_calls"))
async def reviews_page(request: Request, status: FromQuery[str] = "open", page: FromQuery[int] = 1) -> Response:
    return render(request, REVIEWS, partial="calls/_reviews.html", **await _reviews_context(request, status, page))


DECISION_WORDS = {
    "confirm": (
        N_("Confirm this item?"),
        N_("It was what it looked like: the account stays as it is (a suspended account stays suspended)."),
        N_("Confirm"),
    ),
    "dismiss": (
        N_("Dismiss this item?"),
        N_("A false alarm: the item is closed and nothing else changes."),
        N_("Dismiss"),
    ),
    "resume": (
        N_("Resume account %(number)s?"),
        N_("A false alarm: the item is closed and the account may call again at once."),
        N_("Resume the account"),
    ),
}


def _decidable(item: dict[str, Any], decision: object) -> str:
    """The decision, refused as accounts.review.decide refuses it, before anything is asked."""
    if decision not in review.DECISIONS:
        raise ValidationFailed({"decision": N_("Choose confirm, dismiss or resume.")})
    if decision == "resume" and not item["suspended"]:
        raise ValidationFailed({"decision": N_("This item did not suspend the account; dismiss it instead.")})
    if item["status"] != "open":
        raise Conflict(N_("This item has been reviewed already."))
    return str(decision)


@post("/calls/reviews/{review_id:int}/decision", opt=access("review_calls"))
async def decide(request: Request, review_id: FromPath[int]) -> Response:
    """A decision is final: first the item and what the decision does, then, confirmed, the decision."""

    async def step(data: dict[str, Any]) -> Response:
        item = await review.get_review(request.user, review_id)
        decision = _decidable(item, data.get("decision"))
        title, meaning, button = DECISION_WORDS[decision]
        if not confirmed(data):
            return confirm_page(
                request,
                title=_(title) % {"number": item["account_number"]} if "%(" in title else _(title),
                summary=[
                    (_("Account"), item["account_number"]),
                    (_("Agent"), item["brand_name"]),
                    (_("What happened"), what_happened(item)),
                    (_("Suspended the account"), _("yes") if item["suspended"] else _("no")),
                    (_("Decision"), _(meaning)),
                ],
                data={"decision": decision},
                button=_(button),
                back="/calls/reviews",
            )
        decided = await review.decide(request.user, review_id, decision)
        said = {"confirm": "review_confirmed", "dismiss": "review_dismissed", "resume": "review_resumed"}[decision]
        if decision == "resume" and decided["subscriber_status"] != "active":
            said = "review_closed"
        flash.say(request, said, number=decided["account_number"])
        return redirect(request, "/calls/reviews")

    async def again(_data: dict[str, Any]) -> dict[str, Any]:
        return await _reviews_context(request, "open", 1)

    return await form_action(request, step, done=lambda response: response, page=REVIEWS, context=again)


ROUTES = [controls_page, save_settings, add_bar, set_rule, remove_bar, remove_rule, reviews_page, decide]
