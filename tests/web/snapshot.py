"""A snapshot of everything a request could change, to show that a refused request changed nothing."""

from __future__ import annotations

from accounts.tables import BarredPrefix, CallReview, Subscriber, SwitchSettings, UsageRule
from agency.tables import Agent, ApiToken, User, UserSession
from cards.tables import Card, CardBatch
from money.tables import BundleOrder, JournalEntry, LedgerAccount, LevelPolicy, PriceTier, Remittance
from support.tables import Ticket, TicketMessage


async def state() -> dict[str, list]:
    return {
        "agents": await Agent.select().order_by(Agent.id),
        "users": await User.select().order_by(User.id),
        "tokens": await ApiToken.select().order_by(ApiToken.id),
        "accounts": await LedgerAccount.select(LedgerAccount.code, LedgerAccount.balance).order_by(LedgerAccount.code),
        "entries": await JournalEntry.count(),
        "orders": await BundleOrder.count(),
        "remittances": await Remittance.select(Remittance.id, Remittance.status).order_by(Remittance.id),
        "prices": await PriceTier.select(
            PriceTier.seller, PriceTier.level, PriceTier.min_minutes, PriceTier.price
        ).order_by(PriceTier.id),
        "policies": await LevelPolicy.select().order_by(LevelPolicy.level),
        "cards": await Card.select(Card.serial, Card.status).order_by(Card.id),
        "batches": await CardBatch.select(CardBatch.id, CardBatch.secrets_exported_at).order_by(CardBatch.id),
        "subscribers": await Subscriber.select(
            Subscriber.id, Subscriber.status, Subscriber.sip_ha1, Subscriber.sip_realm, Subscriber.call_cap
        ).order_by(Subscriber.id),
        # the call controls (accounts.controls) and the review list (accounts.review); the agents'
        # caps are in "agents"
        "call_settings": await SwitchSettings.select().order_by(SwitchSettings.id),
        "bars": await BarredPrefix.select().order_by(BarredPrefix.id),
        "rules": await UsageRule.select().order_by(UsageRule.id),
        "reviews": await CallReview.select(CallReview.id, CallReview.status).order_by(CallReview.id),
        "tickets": await Ticket.select(Ticket.id, Ticket.status, Ticket.queue, Ticket.first_responded_at).order_by(
            Ticket.id),
        "messages": await TicketMessage.count(),
        # last_seen_at moves with every request; whether a session is revoked must not.
        "sessions": await UserSession.select(UserSession.id, UserSession.revoked_at).order_by(UserSession.id),
    }
