"""The words users read for the codes the system keeps: one table per enumerated value, and the
rendering of text the system stores for later (journal memos, automatic ticket messages, job
errors), all in the reader's language.

Pages never print a code (`deposit_return`, `subscriber.close`): templates go through the
`label` filter, e.g. `{{ ticket.status|label("ticket_status") }}`, because the same code means
different things in different places (a closed ticket is not a closed account). The JSON API
keeps the codes. Every label is an English message id marked with N_; gettext translates it when
the page is rendered. tests/web/test_words.py walks every page of every role against these codes.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from accounts.controls import BAR_REASONS, CALLS, COUNTRIES, FRAUD_SUSPECTED, MINUTES, RULE_KINDS
from accounts.review import LONG_CALL, UNCOVERED
from agency.roles import ROLE_LABELS
from core.errors import N_
from core.stored_text import parse
from web import formatting, i18n

JOURNAL_KINDS = {
    "bundle": N_("Bundle purchase"),
    "remittance": N_("Remittance received"),
    "onboarding": N_("Deposit and franchise fee"),
    "deposit_return": N_("Deposit returned"),
    "adjustment": N_("Adjustment"),
    "penalty": N_("Penalty"),
    "card_batch": N_("Cards generated"),
    "account_open": N_("Account opened with an e-card"),
    "recharge": N_("Recharge with a card"),
    "card_void": N_("Voided cards returned"),
    "card_expiry": N_("Expired cards returned"),
    "account_close": N_("Closed account returned"),
    "call": N_("Call"),
}

LABELS: dict[str, dict[str, str]] = {
    "journal_kind": JOURNAL_KINDS,
    "role": ROLE_LABELS,
    "agent_status": {
        "applied": N_("Applied, awaiting fees"),
        "active": N_("Active"),
        "suspended": N_("Suspended"),
        "terminating": N_("Notice given"),
        "terminated": N_("Terminated"),
    },
    "subscriber_status": {
        "active": N_("In service"),
        "suspended": N_("Suspended (number kept)"),
        "closed": N_("Account closed"),
    },
    "card_kind": {"e-card": N_("E-card"), "recharge": N_("Recharge card")},
    "card_status": {
        "generated": N_("Not activated"),
        "active": N_("Activated"),
        "redeemed": N_("Used"),
        "expired": N_("Expired"),
        "void": N_("Voided"),
    },
    "batch_status": {"ready": N_("Ready")},
    "job_status": {"running": N_("Running"), "done": N_("Done"), "failed": N_("Failed")},
    "remittance_status": {
        "pending": N_("Waiting for confirmation"),
        "confirmed": N_("Confirmed"),
        "rejected": N_("Rejected"),
    },
    "ticket_status": {
        "open": N_("Open"),
        "pending": N_("Waiting for the customer"),
        "resolved": N_("Resolved"),
        "closed": N_("Closed"),
    },
    "ticket_priority": {"low": N_("Low"), "normal": N_("Normal"), "high": N_("High"), "urgent": N_("Urgent")},
    "ticket_category": {
        "calls": N_("Making calls"),
        "balance": N_("Balance"),
        "recharge": N_("Recharge"),
        "account": N_("Account"),
        "other": N_("Other"),
    },
    "ticket_queue": {"agent": N_("First line (agent)"), "operator": N_("Second line (operator)")},
    "author_kind": {"subscriber": N_("Subscriber"), "staff": N_("Support staff"), "system": N_("Automatic message")},
    "sla_state": {
        "met": N_("Met"),
        "on_track": N_("On track"),
        "at_risk": N_("At risk"),
        "breached": N_("Breached"),
        "paused": N_("Paused"),
    },
    # The SLA clocks of a ticket (support.sla): short names for the queue's Due column and the badges.
    "sla_clock": {
        "first_response": N_("First response"),
        "forward": N_("Forwarding"),
        "resolution": N_("Resolution"),
    },
    "granularity": {"day": N_("Daily"), "month": N_("Monthly")},
    "report_dimension": {
        "week": N_("Week"),
        "month": N_("Month"),
        "queue": N_("Queue"),
        "priority": N_("Priority"),
        "staff": N_("Staff"),
        "agent": N_("Agent"),
    },
    "expiry_rule": {
        "none": N_("No expiry"),
        "fixed_date": N_("On a fixed date"),
        "days_after_activation": N_("Days after activation"),
        "days_after_creation": N_("Days after generation"),
    },
    "adjustment_direction": {"credit": N_("Credit"), "debit": N_("Debit")},
    # Calls (R-22a; accounts.controls and accounts.review): why a prefix is barred, the usage rules,
    # what a review item is about and where it stands, why a subscriber was suspended.
    "bar_reason": BAR_REASONS,
    "usage_rule": RULE_KINDS,
    "call_review_kind": {
        LONG_CALL: N_("Long call"),
        UNCOVERED: N_("Not fully covered"),
        CALLS: N_("Many calls"),
        MINUTES: N_("Many minutes"),
        COUNTRIES: N_("New countries"),
    },
    "call_review_status": {
        "open": N_("Waiting for review"),
        "confirmed": N_("Confirmed"),
        "dismissed": N_("Dismissed"),
        "resumed": N_("Account resumed"),
    },
    "suspend_reason": {FRAUD_SUSPECTED: N_("Fraud suspected")},
    "ledger_account": {
        "wallet": N_("Wallet"),
        "stock": N_("Stock"),
        "deposit": N_("Deposit"),
        "escrow": N_("Minutes on cards"),
        "receipts": N_("Sales receipts"),
    },
    "target_type": {
        "agent": N_("Agent"),
        "api_token": N_("API token"),
        "bundle_order": N_("Bundle order"),
        "barred_prefix": N_("Barred prefix"),
        "call_review": N_("Call review item"),
        "calendar": N_("Business calendar"),
        "card": N_("Card"),
        "card_batch": N_("Card batch"),
        "card_range": N_("Card range"),
        "destination_rate": N_("Destination rate"),
        "level": N_("Agent level"),
        "operator": N_("Operator"),
        "priority": N_("Priority"),
        "queue": N_("Queue"),
        "remittance": N_("Remittance"),
        "session": N_("Session"),
        "subscriber": N_("Account"),
        "switch_key": N_("Switch key"),
        "switch_settings": N_("Call settings"),
        "usage_rule": N_("Usage rule"),
        "ticket": N_("Ticket"),
        "user": N_("User"),
    },
    # Audit actions (agency.audit.record and record_refusal, across the packages).
    "audit_action": {
        "agent.create": N_("Agent created"),
        "agent.update": N_("Agent edited"),
        "agent.activate": N_("Agent activated"),
        "agent.suspend": N_("Agent suspended"),
        "agent.resume": N_("Agent resumed"),
        "agent.notice": N_("Termination notice given"),
        "agent.terminated": N_("Agent terminated"),
        "agent.subscribers_suspend": N_("All subscribers of an agent suspended"),
        "agent.subscribers_resume": N_("Subscribers suspended in bulk resumed"),
        "api_token.create": N_("API token created"),
        "api_token.revoke": N_("API token revoked"),
        "audit.purge": N_("Old audit entries purged"),
        "bundle.buy": N_("Bundle bought"),
        "agent.call_cap": N_("Cap on calls at once in an agent's subtree set"),
        "barred_prefix.add": N_("Destination prefix barred"),
        "barred_prefix.remove": N_("Barred prefix removed"),
        "call_review.confirm": N_("Review item confirmed"),
        "call_review.dismiss": N_("Review item dismissed"),
        "call_review.resume": N_("Review item closed, account resumed"),
        "call_settings.save": N_("Call settings saved"),
        "subscriber.call_cap": N_("Cap on an account's calls at once set"),
        "usage_rule.set": N_("Usage rule set"),
        "usage_rule.remove": N_("Usage rule removed"),
        "cards.activate": N_("Cards activated"),
        "cards.export": N_("Cards exported (serials and states)"),
        "cards.export_secrets": N_("Cards exported with the secrets"),
        "cards.generate": N_("Cards generated"),
        "cards.redeem": N_("Card redeemed"),
        "cards.redeem_failed": N_("Card redemption refused"),
        "cards.void": N_("Cards voided"),
        "ledger.adjustment": N_("Adjustment posted"),
        "ledger.penalty": N_("Penalty posted"),
        "login": N_("Logged in"),
        "login.failed": N_("Login refused"),
        "login.second_factor_due": N_("Password accepted, code asked"),
        "logout": N_("Logged out"),
        "payee.bank_details": N_("Bank details for remittances saved"),
        "prices.agent": N_("Prices for sub-agents saved"),
        "prices.level_policy": N_("Fees of a level saved"),
        "prices.operator": N_("Operator prices saved"),
        "remittance.record": N_("Remittance recorded"),
        "remittance.confirm": N_("Remittance confirmed"),
        "remittance.reject": N_("Remittance rejected"),
        "session.revoke_others": N_("Other sessions logged out"),
        "subscriber.suspend": N_("Account suspended"),
        "subscriber.resume": N_("Account resumed"),
        "subscriber.close": N_("Account closed"),
        "subscriber.change_password": N_("Portal password changed"),
        "subscriber.change_password_failed": N_("Portal password change refused"),
        "subscriber.login_failed": N_("Portal login refused"),
        "subscriber.set_sip_password": N_("SIP password set"),
        "subscriber.set_sip_password_failed": N_("SIP password change refused"),
        "subscriber.reset_sip_password": N_("SIP password reset"),
        "support.calendar": N_("Business calendar saved"),
        "support.policy": N_("Response targets saved"),
        "support.queue_targets": N_("Queue targets saved"),
        "switch_key.create": N_("Switch key created"),
        "switch_key.revoke": N_("Switch key revoked"),
        "switch_rate.set": N_("Destination rate saved"),
        "switch_rate.delete": N_("Destination rate deleted"),
        "ticket.open": N_("Ticket opened"),
        "ticket.reply": N_("Ticket answered"),
        "ticket.note": N_("Internal note added"),
        "ticket.status": N_("Ticket status changed"),
        "ticket.assign": N_("Ticket assigned"),
        "ticket.take": N_("Ticket taken"),
        "ticket.escalate": N_("Ticket escalated"),
        "ticket.forward": N_("Ticket forwarded to the agent"),
        "two_factor.start": N_("Two-factor set-up started"),
        "two_factor.enable": N_("Two-factor login turned on"),
        "two_factor.disable": N_("Two-factor login turned off"),
        "two_factor.failed": N_("Two-factor code refused"),
        "user.create": N_("User created"),
        "user.update": N_("User changed"),
        "user.change_password": N_("Password changed"),
        "user.reset_password": N_("Password reset"),
        "user.reset_two_factor": N_("Two-factor login reset"),
        "user.set_operation_password": N_("Operation password set"),
        "user.operation_password_failed": N_("Operation password refused"),
    },
}

# The fields an audit entry's before/after may hold, by name.
FIELD_LABELS = {
    "account_name": N_("Account name"),
    "account_number": N_("Account number"),
    "accounts_opened": N_("Accounts opened"),
    "activated": N_("Cards activated"),
    "address": N_("Address"),
    "at_risk_percent": N_("At risk after (percent of the target)"),
    "agent": N_("Agent"),
    "amount_fen": N_("Amount"),
    "api_tokens_revoked": N_("API tokens revoked"),
    "assignee": N_("Assignee"),
    "bank_reference": N_("Bank reference"),
    "bank_name": N_("Bank"),
    "before": N_("Older than"),
    "branch": N_("Branch"),
    "brand_name": N_("Brand name"),
    "call_cap": N_("Calls at once"),
    "calling_hours": N_("Calling hours"),
    "cards": N_("Cards"),
    "confirmed_years": N_("Holidays confirmed for"),
    "contact_person": N_("Contact person"),
    "count": N_("Number of cards"),
    "created_by": N_("Created by (user no.)"),
    "deposit_fen": N_("Deposit"),
    "devices_forgotten": N_("Remembered browsers forgotten"),
    "display_name": N_("Name"),
    "entries": N_("Entries"),
    "expires_at": N_("Expires"),
    "face_minutes": N_("Minutes per card"),
    "first": N_("First serial"),
    "first_response_seconds": N_("First response target (minutes)"),
    "format": N_("Format"),
    "forward_in_working_time": N_("Forwarding counted in working time"),
    "forward_seconds": N_("Forwarding target (minutes)"),
    "franchise_fee_fen": N_("Franchise fee"),
    "hotline": N_("Hotline"),
    "is_active": N_("Enabled"),
    "kind": N_("Kind"),
    "level": N_("Level"),
    "locked": N_("Locked"),
    "max_call_seconds": N_("Longest call (minutes)"),
    "min_first_purchase_minutes": N_("Minimum first purchase (minutes)"),
    "minutes": N_("Minutes"),
    "name": N_("Name"),
    "note": N_("Note"),
    "number": N_("Order"),
    "observed": N_("Counted"),
    "parent": N_("Parent agent"),
    "phone": N_("Phone"),
    "prefix": N_("Prefix"),
    "priority": N_("Priority"),
    "queue": N_("Queue"),
    "realm": N_("SIP realm"),
    "reason": N_("Reason"),
    "recovery_codes": N_("Recovery codes"),
    "remember_device": N_("Remember this browser"),
    "resolution_in_working_time": N_("Resolution counted in working time"),
    "resumed": N_("Account resumed"),
    "resolution_seconds": N_("Resolution target (minutes)"),
    "retention_days": N_("Kept for (days)"),
    "returned_seconds": N_("Minutes returned"),
    "reverses": N_("Reverses"),
    "revoked": N_("Revoked"),
    "role": N_("Role"),
    "rule": N_("Usage rule"),
    "scope": N_("Applies to (agent path)"),
    "second_factor": N_("Second factor"),
    "seller_id": N_("Seller"),
    "service_hours": N_("Service hours"),
    "status": N_("Status"),
    "subject": N_("Subject"),
    "subscriber": N_("Subscriber"),
    "subscriber_call_cap": N_("Calls at once per account (default)"),
    "terminates_at": N_("Terminates on"),
    "threshold": N_("Limit"),
    "tier_min_minutes": N_("From minutes"),
    "tiers": N_("Price tiers"),
    "timezone": N_("Time zone"),
    "total_fen": N_("Total"),
    "tz": N_("Time zone"),
    "unit_price": N_("Fen per minute"),
    "username": N_("User name"),
    "with_secrets": N_("With the secrets"),
}

# Which table of LABELS an audited field's value comes from, by the entry's target.
_STATUS_BY_TARGET = {
    "agent": "agent_status",
    "subscriber": "subscriber_status",
    "remittance": "remittance_status",
    "ticket": "ticket_status",
    "call_review": "call_review_status",
}
# Why: a bar's reason code, or the reason the system gave for suspending a subscriber.
_REASON_BY_TARGET = {"barred_prefix": "bar_reason", "subscriber": "suspend_reason"}
_VALUE_LABELS = {
    "role": "role",
    "priority": "ticket_priority",
    "queue": "ticket_queue",
    "expiry_rule": "expiry_rule",
    "rule": "usage_rule",
}
_KIND_BY_TARGET = {"card_batch": "card_kind", "card": "card_kind", "usage_rule": "usage_rule"}
_OTHER_VALUES = {"remembered": N_("This browser was remembered")}
# Audited numbers that are counts or minutes, grouped ("20,000"); other numbers (ids) as they are.
_COUNTED = {
    "accounts_opened",
    "activated",
    "api_tokens_revoked",
    "cards",
    "count",
    "devices_forgotten",
    "entries",
    "face_minutes",
    "min_first_purchase_minutes",
    "minutes",
    "recovery_codes",
    "tier_min_minutes",
}

_ = i18n.gettext


def label(code: object, table: str) -> str:
    """The translated label of `code` in `table` (see LABELS); an unknown code is shown as it is."""
    if code is None or code == "":
        return "—"
    message = LABELS[table].get(str(code))
    return _(message) if message else str(code)


def expiry(rule: str, date: object = None, days: object = None) -> str:
    """A batch's expiry rule as a sentence: "180 days after activation", "On 2027-06-30"."""
    if rule == "days_after_activation" and days:
        return _("%(n)s days after activation") % {"n": days}
    if rule == "days_after_creation" and days:
        return _("%(n)s days after generation") % {"n": days}
    if rule == "fixed_date" and date:
        return _("Expires on %(date)s") % {"date": date}
    return label(rule, "expiry_rule")


# Machine-written text of rows stored before messages were stored with their parameters
# (core.stored_text): matched whole and rendered as the message written today.
_LEGACY = [
    (re.compile(r"(?P<number>[A-Z]{2}\d+): (?P<minutes>\d+) min"), N_("Order %(number)s: %(minutes)s minutes")),
    (re.compile(r"remittance (?P<reference>.+)"), N_("Remittance %(reference)s")),
    (re.compile(r"call (?P<call>\S+) to (?P<destination>\S*)"), N_("Call to %(destination)s")),
    (re.compile(r"account (?P<account>\S+) closed"), N_("Account %(account)s closed")),
    (
        re.compile(r"batch (?P<batch>\d+): (?P<count>\d+) x (?P<minutes>\d+) min"),
        N_("Batch %(batch)s: %(count)s cards of %(minutes)s minutes"),
    ),
    (re.compile(r"card_(?:void|expiry): (?P<minutes>\d+) min back to stock"), N_("%(minutes)s minutes back to stock")),
    (re.compile(r"e-card (?P<serial>\d+)"), N_("E-card %(serial)s")),
    (re.compile(r"card (?P<serial>\d+)"), N_("Recharge card %(serial)s")),
    (re.compile(r"deposit returned at termination"), N_("Deposit returned at termination")),
    (re.compile(r"deposit and franchise fee"), N_("Deposit and franchise fee")),
    (re.compile(r"interrupted"), N_("The server stopped while the batch was being generated.")),
    (re.compile(r"internal error"), N_("An internal error stopped the batch.")),
]


_COUNTS = ("minutes", "count")


def stored(text: object, language: str | None = None) -> str:
    """Text the system stored for people, in the reader's language (or `language`): a message id
    with its parameters (core.stored_text), or an older row's English text of a known form.
    Anything else is text a person typed, shown as typed."""
    if not text:
        return ""
    gettext = i18n.translations(language).gettext if language else _
    message = parse(str(text))
    if message is None:
        for pattern, msgid in _LEGACY:
            if found := pattern.fullmatch(str(text)):
                message = msgid, found.groupdict()
                break
        else:  # typed text; or, in rows of a job from before, a domain error's message id
            return gettext(str(text))
    msgid, params = message
    # Counts and minutes grouped as everywhere else ("8,600"); ids and numbers as they are.
    params = {k: formatting.number(int(v)) if k in _COUNTS and str(v).isdigit() else v for k, v in params.items()}
    try:
        return gettext(msgid) % params if params else gettext(msgid)
    except (KeyError, TypeError, ValueError):  # a translation that lost a placeholder
        return msgid % params if params else msgid


def _value(field: str, value: Any, target_type: str) -> str:
    """One audited value as people read it."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    table = _VALUE_LABELS.get(field)
    if field == "status":
        table = _STATUS_BY_TARGET.get(target_type)
    elif field == "kind":
        table = _KIND_BY_TARGET.get(target_type, "journal_kind")
    elif field == "reason":
        table = _REASON_BY_TARGET.get(target_type)
    if table and str(value) in LABELS[table]:
        return label(value, table)
    if field.endswith("_fen") and isinstance(value, int):
        return formatting.yuan(value)
    if field.endswith("_seconds") and isinstance(value, int):
        return formatting.minutes(value)  # labelled in minutes: "Minutes returned"
    if field in _COUNTED and isinstance(value, int):
        return formatting.number(value)
    if field == "tiers" and isinstance(value, list):  # [[from minutes, price in fen per minute], ...]
        return "; ".join(
            f"{_('from %(n)s minutes') % {'n': formatting.number(tier[0])}}: {_('%(price)s fen') % {'price': tier[1]}}"
            for tier in value
            if isinstance(tier, list) and len(tier) == 2
        )
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{_field_label(k)}: {_value(k, v, target_type)}" for k, v in value.items())
    if isinstance(value, str) and value in _OTHER_VALUES:
        return _(_OTHER_VALUES[value])
    if isinstance(value, dt.datetime):
        return formatting.datetime_local(value)
    return str(value)


def _field_label(field: str) -> str:
    message = FIELD_LABELS.get(field)
    return _(message) if message else field.replace("_", " ")


def changes(entry: dict[str, Any]) -> list[dict[str, str]]:
    """An audit entry's before/after as rows of {field, before, after}: the fields that changed,
    or every field written when there is no "before"."""
    before, after = entry.get("before") or {}, entry.get("after") or {}
    if not isinstance(before, dict) or not isinstance(after, dict):  # not written by agency.audit
        return [{"field": _("Change"), "before": str(before or "—"), "after": str(after or "—")}]
    target = entry.get("target_type") or ""
    rows = []
    for field in list(before) + [k for k in after if k not in before]:
        old, new = before.get(field), after.get(field)
        if field in before and field in after and old == new:
            continue
        rows.append(
            {
                "field": _field_label(field),
                "before": _value(field, old, target) if field in before else "",
                "after": _value(field, new, target) if field in after else "",
            }
        )
    return rows


# Audit targets named by a code rather than an id: the code's label ("Queue Second line (operator)").
_TARGET_ID_LABELS = {"priority": "ticket_priority", "queue": "ticket_queue", "usage_rule": "usage_rule"}


def audit_target(target_type: str, target_id: object) -> str:
    """An audit entry's target as people read it: its kind, and its id or the label of its code."""
    table = _TARGET_ID_LABELS.get(target_type)
    shown = label(target_id, table) if table and str(target_id) in LABELS[table] else target_id
    return f"{label(target_type, 'target_type')} {shown if shown is not None else ''}".strip()


def report_group(key: str, dimension: str) -> str:
    """A group of the SLA report: a queue or a priority by its label; a week, a month, an agent as it is."""
    return label(key, f"ticket_{dimension}") if dimension in ("queue", "priority") else key


def who(entry: dict[str, Any]) -> str:
    """Who made an audit entry: the user name; a subscriber (written "subscriber:<id>" by the
    portal's actions); or the system (a scheduled transition)."""
    name = entry.get("username") or ""
    if entry.get("user_id") is None and (found := re.fullmatch(r"subscriber:(\d+)", name)):
        return _("Subscriber #%(id)s") % {"id": found.group(1)}
    return name or _("System")


def audit_actions() -> list[tuple[str, str]]:
    """(code, label) of every audit action, by label: the audit page's filter."""
    return sorted(((code, _(msgid)) for code, msgid in LABELS["audit_action"].items()), key=lambda pair: pair[1])


def every_code() -> set[str]:
    """Every code the tables above label (what no page may show as it is)."""
    return {code for table in LABELS.values() for code in table}
