"""What an action just did, said once on the page the user lands on (a "flash" message).

A handler calls `say(request, "remittance_recorded", amount_fen=…)` before it redirects or renders.
Only a message id from MESSAGES and its parameters (numbers and short names the server chose,
never text typed into the request) are kept:

- a redirect (post-redirect-get, or htmx's HX-Redirect) carries them in a short-lived signed
  cookie, which the next rendered page shows and deletes (forms.redirect, rendering.render);
- a page or htmx partial rendered by the same request shows them at once; an htmx partial
  carries them as an out-of-band swap into the page's `#flash` box (_flash.html).

The text is translated when it is shown, so it comes in the language of the page that shows it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field

from litestar import Request
from litestar.datastructures import Cookie

from core.errors import N_
from web.formatting import airtime, money
from web.i18n import gettext

COOKIE = "flash"
MAX_AGE = 120  # seconds: the redirect's next page comes at once; a stale message must not linger
MAX_PARAM = 120  # characters of one text parameter (a name, a serial); longer is cut

# Message id: the English text (translated when shown). Parameters ending in `_fen` are shown as
# yuan, those ending in `_seconds` as minutes.
MESSAGES: dict[str, str] = {
    # agents and users
    "agent_created": N_("Agent %(name)s was created."),
    "agent_saved": N_("The agent's details were saved."),
    "agent_suspended": N_("The agent is suspended: its users and its sub-agents' users cannot log in."),
    "agent_resumed": N_("The agent is active again."),
    "agent_notice_given": N_("Notice was given: the agent will be terminated on %(day)s."),
    "agent_activated": N_("The agent was activated."),
    "subscribers_suspended": N_("%(count)s accounts were suspended."),
    "subscribers_resumed": N_("%(count)s accounts were resumed."),
    "user_created": N_("User %(username)s was created."),
    "user_saved": N_("The user %(username)s was saved."),
    "user_password_reset": N_("The password of %(username)s was reset; their sessions were logged out."),
    "user_two_factor_reset": N_("The two-factor login of %(username)s was reset; their sessions were logged out."),
    "token_revoked": N_("The API token was revoked."),
    "logged_out": N_("You are logged out."),
    "date_not_understood": N_(
        "A date in the filter could not be read (write it as 2026-12-01): the list is not filtered by it."
    ),
    # money
    "adjustment_posted": N_("The adjustment was posted; it is at the top of the journal."),
    "bundle_bought": N_("You bought %(minutes_seconds)s minutes for %(total_fen)s yuan."),
    "remittance_recorded": N_(
        "Your remittance of %(amount_fen)s yuan was recorded. It waits for your seller's confirmation."
    ),
    "remittance_confirmed": N_("Remittance #%(id)s was confirmed: %(amount_fen)s yuan went into the wallet."),
    "remittance_rejected": N_("Remittance #%(id)s was rejected; nothing went into the wallet."),
    "bank_details_saved": N_("Your bank details were saved: those who remit to you see them now."),
    "prices_saved": N_("The prices for level %(level)s were saved."),
    "policy_saved": N_("The terms for level %(level)s were saved."),
    "my_prices_saved": N_("Your prices for your sub-agents were saved."),
    # cards and subscribers
    "batch_generated": N_("Batch #%(id)s of %(count)s cards was generated."),
    "batch_started": N_("The batch is being generated; this page shows how far it is."),
    "cards_activated": N_("%(activated)s cards were activated and %(opened)s accounts opened."),
    "cards_voided": N_("%(count)s cards were voided; %(minutes_seconds)s minutes went back to your stock."),
    "subscriber_suspended": N_("Account %(number)s is suspended; it keeps its number and balance."),
    "subscriber_resumed": N_("Account %(number)s is active again."),
    "subscriber_closed": N_("Account %(number)s was closed; %(returned_seconds)s minutes went back to the stock."),
    "subscriber_recharged": N_("Account %(number)s was recharged with %(minutes_seconds)s minutes."),
    "portal_password_changed": N_("Your password was changed."),
    "sip_password_set": N_("Your SIP password was set: enter it in your phone's settings."),
    # support
    "ticket_answered": N_("Your answer was sent."),
    "ticket_status_changed": N_("The ticket's status was changed."),
    "ticket_escalated": N_("The ticket was escalated to the operator's support."),
    "ticket_forwarded": N_("The ticket was forwarded to the agent's queue; the agent's staff answer it now."),
    "sla_targets_saved": N_("The targets were saved; tickets opened from now on use them."),
    "ticket_taken": N_("Ticket #%(id)s is yours now."),
    "no_ticket_waiting": N_("No ticket is waiting in your queues."),
    "ticket_opened": N_("Your ticket #%(id)s was opened; we answer within four working hours."),
    # switch
    "switch_key_revoked": N_("The switch key was revoked; it no longer works."),
    "switch_rate_saved": N_("The rate for %(prefix)s was saved."),
    "switch_rate_deleted": N_("The rate for %(prefix)s was removed."),
    # calls (R-22a)
    "call_settings_saved": N_("The call settings were saved; calls authorized from now on follow them."),
    "call_cap_saved": N_("The cap on calls at once was saved."),
    "bar_added": N_("Calls to %(prefix)s… are barred now."),
    "bar_removed": N_("Calls to %(prefix)s… are no longer barred here."),
    "rule_saved": N_("The usage rule was saved."),
    "rule_removed": N_("The usage rule was removed."),
    "review_confirmed": N_("The item was confirmed; account %(number)s stays as it is."),
    "review_dismissed": N_("The item was dismissed as a false alarm."),
    "review_resumed": N_("The item was closed and account %(number)s may call again."),
    "review_closed": N_("The item was closed; account %(number)s was no longer suspended, so nothing else changed."),
}


@dataclass(frozen=True)
class Flash:
    """One message to show: its id in MESSAGES and its parameters."""

    key: str
    params: dict[str, int | str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The message in the current language, with its parameters formatted."""
        return gettext(MESSAGES[self.key]) % {name: _shown(name, value) for name, value in self.params.items()}


def _shown(name: str, value: int | str) -> str:
    if isinstance(value, int) and name.endswith("_fen"):
        return money(value)
    if isinstance(value, int) and name.endswith("_seconds"):
        return f"{value // 60:,}" if value % 60 == 0 else airtime(value)
    return f"{value:,}" if isinstance(value, int) else value


def _clean(value: object) -> int | str:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    return str(value)[:MAX_PARAM]


def say(request: Request, key: str, **params: object) -> None:
    """Show message `key` on the page this request leads to (a redirect's next page, or the page it renders)."""
    if key not in MESSAGES:
        raise KeyError(f"unknown flash message {key!r}")
    request.state.flash = Flash(key, {name: _clean(value) for name, value in params.items()})


def said(request: Request) -> Flash | None:
    """The message this request said (say), if any."""
    return getattr(request.state, "flash", None)


def _key(request: Request) -> bytes:
    secret = request.app.state.settings.secret_key
    return hmac.new(secret.encode(), b"flash-message", hashlib.sha256).digest()


def _sign(request: Request, payload: bytes) -> str:
    return hmac.new(_key(request), payload, hashlib.sha256).hexdigest()[:32]


def cookie_for(request: Request, message: Flash) -> Cookie:
    """The cookie a redirect sets to carry `message` to the next page."""
    payload = json.dumps([message.key, message.params], ensure_ascii=False, separators=(",", ":")).encode()
    value = base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + _sign(request, payload)
    return _cookie(request, value, MAX_AGE)


def _cookie(request: Request, value: str, max_age: int) -> Cookie:
    secure = bool(request.app.state.settings.secure_cookies)
    return Cookie(key=COOKIE, value=value, path="/", max_age=max_age, httponly=True, samesite="lax", secure=secure)


def _from_cookie(request: Request, value: str) -> Flash | None:
    """The message a signed cookie carries; None if it is not one this server wrote."""
    encoded, _dot, signature = value.partition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        return None
    if not hmac.compare_digest(signature, _sign(request, payload)):
        return None
    try:
        key, params = json.loads(payload)
    except (ValueError, TypeError):
        return None
    if key not in MESSAGES or not isinstance(params, dict):
        return None
    return Flash(key, {str(k): _clean(v) for k, v in params.items()})


def take(request: Request) -> tuple[Flash | None, list[Cookie]]:
    """The message to show on the page being rendered: said by this request, else brought by the
    cookie of the redirect before it; and the cookies to send (the flash cookie deleted, once read)."""
    cookie = request.cookies.get(COOKIE)
    cookies = [_cookie(request, "", 0)] if cookie is not None else []
    message = said(request) or (_from_cookie(request, cookie) if cookie else None)
    return message, cookies
