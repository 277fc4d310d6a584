"""A living history for the demo (R-36, issue 12 point 6): `days` days of business, built through
the real services with the clock set back (core.clock.set_back), on a database where
web.demo.load_demo() has just run.

Every day, each agent of the demo tree restocks (remittances to its seller, confirmed or rejected
the next morning; bundles bought from its seller, down every level), prints card batches of both
kinds, sells e-cards (each opens an account) and recharge cards, whose holders redeem them when
their balance runs low; the subscribers call (authorized through the switch path, then rated in
one batch per agent in the evening), report problems as tickets that are answered in time or
late, and now and then an account is closed or damaged cards are voided. The history is drawn
from a seeded random generator, so the same number of days run at the same time of day gives the
same story; the times are the operator's local days up to now, so nothing is dated in the future
(what today has had so far depends on the hour; calls still going on are left unrated).

The history is a discrete-event simulation: events are (time, action) pairs run in time order,
each with the clock set back to its time; an action may plan later events (a ticket's reply)."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from accounts import controls, switch
from accounts import services as subscribers
from accounts.tables import Subscriber
from agency.roles import Actor
from agency.tables import Agent, User
from cards import services as cards
from core import sql
from core.clock import now, operator_zone, set_back
from core.errors import DomainError
from money import bundles, ledger, prices, remittances
from support import tickets
from support.business_time import business_time_between
from support.calendars import current_calendar
from web.demo import DEMO_OPERATION_PASSWORD as OP

SEED = 20260
PORTAL_PASSWORD = "portal-2026"  # the password of the demo subscribers a visitor may try
ADDRESS = "demo"

# The price lists agents keep for their direct sub-agents (fen a minute), by level of the seller;
# each is at or above what the seller itself pays at every tier.
AGENT_LISTS = {
    1: [{"min_minutes": 1, "price": "9.80"}, {"min_minutes": 1000, "price": "9.30"}],
    2: [{"min_minutes": 1, "price": "10.80"}, {"min_minutes": 1000, "price": "10.20"}],
}
# Halfway through, level-1 sellers cut their large tier (a promotion; it never raises a cost).
PROMOTION = {1: [{"min_minutes": 1, "price": "9.80"}, {"min_minutes": 1000, "price": "9.10"}]}

DESTINATIONS = (
    "8613800138000",
    "8613912345678",
    "8615012346789",
    "8618620001234",
    "862087654321",
    "862155550199",
    "85291234567",
    "85366123456",
    "886912345678",
    "16502530000",
    "442079460000",
    "6591234567",
)
TICKETS = (
    ("calls", "电话打不通", "拨打 138 开头的号码时一直提示占线。"),
    ("balance", "充值后余额没有增加", "昨天充了一张卡，余额还是原来的。"),
    ("recharge", "Recharge card not accepted", "The PIN on my recharge card is rejected, I typed it twice."),
    ("account", "如何修改账户密码", "请问在哪里修改我的账户密码？"),
    ("calls", "Calls to Hong Kong drop", "Calls to Hong Kong drop after about a minute."),
    ("other", "需要上个月的通话明细", "请提供上个月的通话明细，公司报销用。"),
    ("calls", "通话有回声", "通话时对方听到回声，很影响使用。"),
    ("balance", "Balance went down without calls", "My balance is lower than I expected this week."),
)
REPLIES = (
    "您好，我们已经检查了您的账户，请再试一次。",
    "Thank you, we checked your account; please try again now.",
    "已为您核实，问题已经处理。",
    "We are looking into it with the carrier and will update you.",
)


@dataclass
class _Sub:
    id: int
    number: str
    secret: str
    balance: int  # seconds, kept from what the services answered
    closed: bool = False
    portal: bool = False


@dataclass
class _Agent:
    owner: Actor
    seller: Actor | None  # who sells its cards and records its remittances (a clerk, else the owner)
    responder: Actor  # who answers its tickets (its support user, else the owner)
    parent: _Agent | None
    brand: str = ""
    ecards: list[tuple[str, str]] = field(default_factory=list)  # unsold e-cards (serial, secret)
    recharge: list[tuple[str, str, int]] = field(default_factory=list)  # unsold recharge cards, with batch
    sold: list[tuple[str, str]] = field(default_factory=list)  # sold recharge cards, not yet redeemed
    subs: list[_Sub] = field(default_factory=list)
    pending: list[tuple[int, bool]] = field(default_factory=list)  # remittances to decide: (id, confirm)
    calls: list[dict[str, Any]] = field(default_factory=list)  # today's call records, rated in the evening

    @property
    def id(self) -> int:
        return self.owner.agent_id  # type: ignore[return-value]

    @property
    def level(self) -> int:
        return self.owner.agent_level


class _Timeline:
    """Events in time order, each run with the clock set back to its time."""

    def __init__(self, limit: dt.datetime) -> None:
        self.limit = limit  # nothing happens after this (a little before the real now)
        self._heap: list[tuple[dt.datetime, int, Callable[[], Awaitable[None]]]] = []
        self._seq = itertools.count()

    def at(self, when: dt.datetime, action: Callable[[], Awaitable[None]]) -> None:
        if when <= self.limit:
            heapq.heappush(self._heap, (when, next(self._seq), action))

    async def run_until(self, until: dt.datetime) -> None:
        while self._heap and self._heap[0][0] <= until:
            when, _seq, action = heapq.heappop(self._heap)
            with set_back(dt.datetime.now(dt.UTC) - when):
                await action()


async def demo_actors_from_users(address: str = ADDRESS) -> dict[str, Actor]:
    """An Actor for every active user, by user name, read from the users table (no login, so no
    password or second factor is needed: for building demo data only)."""
    rows = await User.select(
        User.id,
        User.username,
        User.role,
        User.agent,
        User.agent.path.as_alias("path"),
        User.agent.level.as_alias("level"),
    ).where(User.is_active == True)  # noqa: E712 (SQL, not Python)
    return {
        row["username"]: Actor(
            user_id=row["id"],
            username=row["username"],
            role=row["role"],
            agent_id=row["agent"],
            agent_path=row["path"] or "",
            agent_level=row["level"] or 0,
            address=address,
        )
        for row in rows
    }


def _tree(actors: dict[str, Actor]) -> list[_Agent]:
    """The demo's agents, parents before children, from their users."""
    by_agent: dict[int, list[Actor]] = {}
    for actor in actors.values():
        if actor.agent_id is not None:
            by_agent.setdefault(actor.agent_id, []).append(actor)
    nodes: dict[int, _Agent] = {}
    for users in sorted(by_agent.values(), key=lambda us: (us[0].agent_level, us[0].agent_path)):
        owner = next((u for u in sorted(users, key=lambda u: u.user_id) if u.role == "owner"), None)
        if owner is None:
            continue
        clerk = next((u for u in users if u.role == "clerk"), owner)
        support = next((u for u in users if u.role == "support"), owner)
        parent_id = _parent_id(owner.agent_path)
        nodes[owner.agent_id] = _Agent(owner, clerk, support, nodes.get(parent_id) if parent_id else None)
    return list(nodes.values())


def _parent_id(path: str) -> int | None:
    parts = [p for p in path.split("/") if p]
    return int(parts[-2]) if len(parts) >= 2 else None


class _History:
    def __init__(self, operator: Actor, actors: dict[str, Actor], card_key: bytes, days: int) -> None:
        self.operator = operator
        self.finance = actors.get("finance") or operator
        self.support = actors.get("support") or operator
        self.card_key = card_key
        self.days = days
        self.rng = random.Random(SEED)
        self.agents = _tree(actors)
        # Whose first account a visitor may try on the portal: the first level-1 agents' and the deepest one's.
        firsts = [a for a in self.agents if a.parent is None][:2]
        self.portal_agents = [*firsts, *[a for a in self.agents[-1:] if a not in firsts]]
        self.keys = itertools.count(1)
        self.counts: Counter = Counter()
        self.zone = operator_zone()
        self.tickets: list[int] = []
        real_now = dt.datetime.now(dt.UTC)
        self.today = real_now.astimezone(self.zone).date()
        self.timeline = _Timeline(real_now - dt.timedelta(minutes=2))

    # --- helpers --------------------------------------------------------------------------------

    def key(self) -> str:
        return f"demo-history-{next(self.keys)}"

    def local(self, day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
        moment = dt.datetime.combine(day, dt.time(0, 0), tzinfo=self.zone)
        moment += dt.timedelta(hours=hour, minutes=minute, seconds=second)
        return moment.astimezone(dt.UTC)

    def around(self, day: dt.date, start_hour: float, end_hour: float) -> dt.datetime:
        seconds = self.rng.randrange(int(start_hour * 3600), int(end_hour * 3600))
        return self.local(day, 0, 0, seconds)

    async def attempt(self, what: str, action: Awaitable[Any]) -> Any:
        """Run a use case; a refusal (a rule of the product) leaves the history as it is."""
        try:
            return await action
        except DomainError:
            self.counts[f"refused {what}"] += 1
            return None

    # --- the story ------------------------------------------------------------------------------

    async def build(self) -> dict[str, Any]:
        brands = await Agent.select(Agent.id, Agent.brand_name).where(Agent.id.is_in([a.id for a in self.agents]))
        for agent in self.agents:
            agent.brand = next(row["brand_name"] for row in brands if row["id"] == agent.id)
        first = self.today - dt.timedelta(days=self.days)
        for offset in range(self.days + 1):
            day = first + dt.timedelta(days=offset)
            self.plan_day(day, offset)
            await self.timeline.run_until(self.local(day, 24))
        await self.timeline.run_until(self.timeline.limit)
        with set_back(dt.datetime.now(dt.UTC) - self.timeline.limit):
            for agent in self.agents:  # today's calls that have ended; later ones are still going on
                await self.rate(agent, until=self.timeline.limit)
        with set_back(dt.timedelta(0)):
            await self.suspicious_calls()
            await self.open_tickets_now()
            portal = await self.portal_accounts()
            states = await self.ticket_states()
        return {"days": self.days, "portal": portal, "summary": {**self.summary(), **states}}

    def plan_day(self, day: dt.date, offset: int) -> None:
        at = self.timeline.at
        if offset == 0:
            at(self.local(day, 8, 0), self.set_price_lists)
            at(self.local(day, 8, 5), self.set_call_controls)
        if offset == self.days // 2 and offset:
            at(self.local(day, 8, 10), self.promotion)
        at(self.local(day, 8, 30), self.record_remittances)
        at(self.local(day, 9, 5), self.decide_remittances)
        for index, agent in enumerate(self.agents):  # parents first: they buy before their children
            at(self.local(day, 9, 40 + 5 * index), lambda agent=agent: self.restock(agent))
        for agent in self.agents:
            for _ in range(self.rng.randint(1, 2)):
                at(self.around(day, 10.5, 19), lambda agent=agent: self.sell(agent))
            for _ in range(2):
                at(self.around(day, 11, 20), lambda agent=agent: self.recharge(agent))
            self.plan_calls(agent, day)
            at(self.local(day, 23, 10), lambda agent=agent: self.rate(agent))
            if self.rng.random() < 0.03:
                at(self.local(day, 23, 30), lambda agent=agent: self.close_one(agent))
        if self.rng.random() < 0.6:
            at(self.around(day, 8, 21), self.report_problem)

    # prices and money

    async def set_price_lists(self) -> None:
        for agent in self.agents:
            if agent.level in AGENT_LISTS and any(other.parent is agent for other in self.agents):
                await prices.save_agent_list(agent.owner, agent.id, AGENT_LISTS[agent.level])
                self.counts["price lists saved"] += 1

    async def promotion(self) -> None:
        for agent in self.agents:
            if agent.level in PROMOTION and any(other.parent is agent for other in self.agents):
                await prices.save_agent_list(agent.owner, agent.id, PROMOTION[agent.level])
                self.counts["price lists saved"] += 1

    def bundle_size(self, agent: _Agent) -> int:
        return {1: 8000, 2: 3000}.get(agent.level, 1000) + 100 * self.rng.randint(0, 10)

    async def record_remittances(self) -> None:
        """Agents short of money for their next bundle send some to their seller."""
        for agent in self.agents:
            if agent.pending:
                continue
            wallet = (await ledger.balances(agent.id))[ledger.WALLET]
            quote = await bundles.quote(agent.owner, self.bundle_size(agent))
            if wallet >= 2 * quote.total_fen:
                continue
            yuan = {1: 1500, 2: 600}.get(agent.level, 300) + 50 * self.rng.randint(0, 20)
            reference = f"{'ICBC' if agent.level == 1 else 'CCB'}{self.rng.randrange(10**8, 10**9)}"
            recorded = await remittances.record_remittance(
                agent.seller or agent.owner,
                {"amount": str(yuan), "bank_reference": reference, "remitted_on": now().date().isoformat()},
                idempotency_key=self.key(),
            )
            self.counts["remittances recorded"] += 1
            # The third one, and about one in ten, does not match the bank statement: sent again the next day.
            agent.pending.append(
                (recorded["id"], self.counts["remittances recorded"] != 3 and self.rng.random() >= 0.1)
            )

    async def decide_remittances(self) -> None:
        for agent in self.agents:
            decider = self.finance if agent.parent is None else agent.parent.owner
            for remittance_id, confirm in agent.pending:
                note = "" if confirm else "金额与银行流水不符 / amount differs from the bank statement"
                await remittances.decide_remittance(
                    decider,
                    remittance_id,
                    confirm=confirm,
                    operation_password=OP,
                    idempotency_key=self.key(),
                    note=note,
                )
                self.counts["remittances confirmed" if confirm else "remittances rejected"] += 1
            agent.pending.clear()

    async def restock(self, agent: _Agent) -> None:
        """Buy minutes when the stock runs low; print cards when few are left to sell."""
        balance = await ledger.balances(agent.id)
        stock = balance[ledger.STOCK]
        if stock < {1: 5000, 2: 2500}.get(agent.level, 800) * 60:  # above what a sub-agent buys at once
            minutes = self.bundle_size(agent)
            quote = await bundles.quote(agent.owner, minutes)
            if quote.total_fen <= balance[ledger.WALLET]:
                done = await self.attempt(
                    "bundle",
                    bundles.buy_bundle(agent.owner, minutes, operation_password=OP, idempotency_key=self.key()),
                )
                if done:
                    stock += minutes * 60
                    self.counts["bundles bought"] += 1
        # A seller keeps enough in stock for what a sub-agent buys at once.
        if any(other.parent is agent for other in self.agents):
            stock -= ({1: 3000, 2: 1000}[agent.level] + 1000) * 60
        if len(agent.ecards) < 2:
            stock -= await self.print_batch(agent, "e-card", 20, self.rng.choice((30, 60, 100)), stock)
        if len(agent.recharge) < 4:
            await self.print_batch(agent, "recharge", 30, self.rng.choice((30, 50, 100)), stock)
        if len(agent.recharge) > 8 and self.rng.random() < 0.02:  # a few damaged cards are voided
            serial = agent.recharge[-1][0]
            await cards.void_cards(
                agent.seller or agent.owner, serial, operation_password=OP, idempotency_key=self.key()
            )
            agent.recharge.pop()
            self.counts["cards voided"] += 1

    async def print_batch(self, agent: _Agent, kind: str, count: int, face: int, stock: int) -> int:
        if count * face * 60 > stock:
            return 0
        data = {"kind": kind, "count": str(count), "face_minutes": str(face), "expiry_rule": "none"}
        if kind == "e-card" and self.rng.random() < 0.5:
            data.update(expiry_rule="days_after_activation", expiry_days="365")
        data["notes"] = f"{now().astimezone(self.zone):%m-%d} {kind}"
        batch, pairs = await cards.generate_batch(agent.owner, data, card_key=self.card_key, operation_password=OP)
        if kind == "e-card":
            agent.ecards.extend(pairs)
        else:
            agent.recharge.extend((serial, secret, batch["id"]) for serial, secret in pairs)
        self.counts[f"{kind} batches"] += 1
        self.counts["cards printed"] += count
        return count * face * 60

    # cards and subscribers

    async def sell(self, agent: _Agent) -> None:
        """A customer buys an e-card (which opens an account), or a shop takes a few recharge cards."""
        seller = agent.seller or agent.owner
        if agent.ecards and (self.rng.random() < 0.16 or not agent.subs):
            serial, secret = agent.ecards.pop(0)
            await cards.activate_cards(seller, serial, idempotency_key=self.key())
            row = await Subscriber.select(Subscriber.id).where(Subscriber.account_number == serial).first()
            balance = await ledger.subscriber_balance(row["id"])
            portal = not agent.subs and agent in self.portal_agents
            agent.subs.append(_Sub(row["id"], serial, secret, balance, portal=portal))
            self.counts["accounts opened"] += 1
        elif agent.recharge and len(agent.sold) < 4:
            # A range of one batch only: its serials follow each other and are all recharge cards.
            batch = agent.recharge[0][2]
            count = min(sum(1 for card in agent.recharge if card[2] == batch), self.rng.randint(1, 3))
            sold, agent.recharge = agent.recharge[:count], agent.recharge[count:]
            await cards.activate_cards(seller, sold[0][0], sold[-1][0], idempotency_key=self.key())
            agent.sold.extend((serial, secret) for serial, secret, _batch in sold)
            self.counts["recharge cards sold"] += count

    async def recharge(self, agent: _Agent) -> None:
        """A subscriber whose balance runs low redeems a card its agent sold."""
        low = [s for s in agent.subs if not s.closed and s.balance < 20 * 60]
        if not low or not agent.sold:
            return
        sub = self.rng.choice(low)
        serial, pin = agent.sold.pop(0)
        done = await cards.redeem_card(
            serial, pin, subscriber_id=sub.id, address=f"{ADDRESS}-{sub.id}", card_key=self.card_key
        )
        sub.balance = done["balance_seconds"]
        self.counts["recharges"] += 1

    async def close_one(self, agent: _Agent) -> None:
        candidates = [s for s in agent.subs if not s.closed and not s.portal]
        if len(candidates) < 4:
            return
        sub = self.rng.choice(candidates)
        reason = self.rng.choice(("用户回国，申请销户", "moved away", "不再使用"))
        await subscribers.close_subscriber(
            agent.seller or agent.owner, sub.id, reason, operation_password=OP, idempotency_key=self.key()
        )
        sub.closed, sub.balance = True, 0
        self.counts["accounts closed"] += 1

    # calls

    # calls

    async def set_call_controls(self) -> None:
        """The operator bars premium and satellite numbers and suspends an account that calls more
        than three new countries within an hour; the first level-1 agent caps its subtree's calls
        at once and the answered minutes of its subscribers (R-22a)."""
        for prefix, reason in (("1900", "premium"), ("8817", "satellite"), ("8818", "satellite")):
            await controls.add_bar(self.operator, {"prefix": prefix, "reason": reason})
        await controls.set_rule(self.operator, {"kind": controls.COUNTRIES, "threshold": "3"})
        first = next(a for a in self.agents if a.parent is None)
        await controls.set_agent_cap(self.operator, first.owner.agent_id, "50")
        await controls.set_rule(first.owner, {"kind": controls.MINUTES, "threshold": "180"})

    async def suspicious_calls(self) -> None:
        """Minutes ago, an account (the best-funded one, deepest agents first) called one country
        after another, short calls each: the countries rule suspended it, and its review waits on
        the list."""
        found = [(a, s) for a in reversed(self.agents) for s in a.subs if not s.closed and not s.portal]
        if not found:
            return
        agent, sub = max(found, key=lambda pair: pair[1].balance)
        for index, destination in enumerate(("6591234567", "442079460000", "16502530000", "886912345678",
                                             "85366123456", "85291234567")):  # fmt: skip
            call_id = f"demo-roaming-{sub.id}-{index}"
            granted = await switch.authorize({"account": sub.number, "destination": destination, "call_id": call_id})
            if not granted["allow"]:
                self.counts["suspended by a usage rule"] += granted.get("detail") == controls.FRAUD_SUSPECTED
                return
            end = now().replace(microsecond=0)
            start, answer = end - dt.timedelta(seconds=50), end - dt.timedelta(seconds=42)
            agent.calls.append(
                {
                    "call_id": call_id,
                    "account": sub.number,
                    "destination": destination,
                    "start": start.isoformat(),
                    "answer": answer.isoformat(),
                    "end": end.isoformat(),
                }
            )
            await self.rate(agent)

    def plan_calls(self, agent: _Agent, day: dt.date) -> None:
        """Up to three calls a day per agent, each authorized when it starts."""
        for _ in range(3):
            start = self.around(day, 8, 21.5)
            self.timeline.at(start, lambda agent=agent, start=start: self.call(agent, start))

    async def call(self, agent: _Agent, start: dt.datetime) -> None:
        busy = {record["account"] for record in agent.calls}
        callers = [s for s in agent.subs if not s.closed and s.balance >= 60 and s.number not in busy]
        if not callers:
            return
        portal = [s for s in callers if s.portal]
        sub = portal[0] if portal and self.rng.random() < 0.5 else self.rng.choice(callers)
        call_id = f"demo-{start:%Y%m%d%H%M%S}-{sub.id}"
        destination = self.rng.choice(DESTINATIONS)
        granted = await switch.authorize({"account": sub.number, "destination": destination, "call_id": call_id})
        if not granted["allow"]:
            return
        start = start.replace(microsecond=0)
        answered = self.rng.random() < 0.85
        answer = start + dt.timedelta(seconds=self.rng.randint(4, 20))
        talk = min(granted["max_seconds"], int(self.rng.expovariate(1 / 300)) + 5) if answered else 0
        end = (
            answer + dt.timedelta(seconds=talk) if answered else start + dt.timedelta(seconds=self.rng.randint(15, 40))
        )
        agent.calls.append(
            {
                "call_id": call_id,
                "account": sub.number,
                "destination": destination,
                "start": start.isoformat(),
                "answer": answer.isoformat() if answered else None,
                "end": end.isoformat(),
            }
        )

    async def rate(self, agent: _Agent, until: dt.datetime | None = None) -> None:
        records = [r for r in agent.calls if until is None or dt.datetime.fromisoformat(r["end"]) <= until]
        agent.calls = []
        if not records:
            return
        results = await switch.rate_calls(records)
        by_number = {s.number: s for s in agent.subs}
        for record, result in zip(records, results, strict=True):
            if result["status"] == "rated":
                by_number[record["account"]].balance -= result["charged"]
                self.counts["calls"] += 1

    # tickets

    async def report_problem(self) -> None:
        agents = [a for a in self.agents if any(not s.closed for s in a.subs)]
        if not agents:
            return
        agent = self.rng.choice(agents)
        open_subs = [s for s in agent.subs if not s.closed]
        portal = [s for s in open_subs if s.portal]
        sub = portal[0] if portal and self.rng.random() < 0.3 else self.rng.choice(open_subs)
        category, subject, body = self.rng.choice(TICKETS)
        priority = self.rng.choices(("normal", "high", "low", "urgent"), (6, 2, 2, 1))[0]
        ticket = await tickets.open_ticket(
            {"subject": subject, "body": body, "category": category, "priority": priority}, subscriber_id=sub.id
        )
        self.tickets.append(ticket["id"])
        self.counts["tickets"] += 1
        reported, due = ticket["reported_at"], ticket["first_response_due_at"]
        # The first three tickets show each fate; then mostly answered in time.
        fate = (0.5, 0.9, 0.0)[len(self.tickets) - 1] if len(self.tickets) <= 3 else self.rng.random()
        if fate < 0.08:
            return  # nobody answers: its first response is breached once the due time passes
        if fate < 0.75:  # answered in time
            reply_at = reported + (due - reported) * self.rng.uniform(0.05, 0.6)
        else:  # answered late
            reply_at = due + dt.timedelta(minutes=self.rng.randint(20, 1200))
        reply_at = max(reply_at, reported + dt.timedelta(minutes=3))
        responder = agent.responder if self.rng.random() < 0.8 else self.support
        self.timeline.at(reply_at, lambda: self.answer(responder, ticket["id"]))
        if self.rng.random() < 0.85:
            resolve_at = reply_at + dt.timedelta(minutes=self.rng.randint(30, 60 * 30))
            self.timeline.at(resolve_at, lambda: self.resolve(responder, ticket["id"]))

    async def answer(self, responder: Actor, ticket_id: int) -> None:
        await tickets.add_staff_message(responder, ticket_id, self.rng.choice(REPLIES), public=True)

    async def resolve(self, responder: Actor, ticket_id: int) -> None:
        if await self.attempt("ticket status", tickets.set_status(responder, ticket_id, "resolved")):
            self.counts["tickets resolved"] += 1

    async def open_tickets_now(self) -> None:
        """Two tickets reported a little while ago and not answered yet: one on track and one at
        risk of missing its first-response time (now is between its warning and due times)."""
        calendar = await current_calendar()
        policy = await tickets.policy_for("normal")
        warn = policy.first_response_seconds * policy.at_risk_percent // 100
        at = now()
        candidates = [(a, s) for a in self.agents for s in a.subs if not s.closed]
        if not candidates:
            return
        for elapsed, subject in (
            (min(900, warn // 3), ("calls", "无法拨打国际长途", "今天拨打香港号码一直失败。")),
            ((warn + policy.first_response_seconds) // 2, TICKETS[2]),
        ):
            _agent, sub = self.rng.choice(candidates)
            reported = _business_time_before(calendar, at, elapsed)
            category, title, body = subject
            with set_back(dt.datetime.now(dt.UTC) - reported):
                ticket = await tickets.open_ticket(
                    {"subject": title, "body": body, "category": category, "priority": "normal"},
                    subscriber_id=sub.id,
                    reported_at=reported,
                )
            self.tickets.append(ticket["id"])
            self.counts["tickets"] += 1

    # the result

    async def portal_accounts(self) -> list[dict[str, str]]:
        accounts = []
        for agent in self.agents:
            for sub in agent.subs:
                if sub.portal:
                    await subscribers.change_subscriber_password(sub.id, PORTAL_PASSWORD)
                    accounts.append({"account_number": sub.number, "password": PORTAL_PASSWORD, "agent": agent.brand})
        return accounts

    async def ticket_states(self) -> dict[str, int]:
        """The tickets by the state of their first-response clock now (met, breached, on_track,
        at_risk) and how many are still open."""
        states: Counter = Counter()
        for ticket_id in self.tickets:
            ticket = await tickets.get_ticket(self.operator, ticket_id)
            states[f"tickets first response {tickets.clock_states(ticket)['first_response']}"] += 1
            if ticket["status"] in ("open", "pending"):
                states["tickets open"] += 1
        return dict(sorted(states.items()))

    def summary(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


def _business_time_before(calendar, end: dt.datetime, seconds: int) -> dt.datetime:
    """The latest moment from which `seconds` of business time have passed by `end`."""
    low, high = end - dt.timedelta(days=40), end
    while (high - low) > dt.timedelta(seconds=1):
        middle = low + (high - low) / 2
        if business_time_between(calendar, middle, end) >= seconds:
            low = middle
        else:
            high = middle
    return low.replace(microsecond=0)


async def build_history(operator: Actor, actors: dict[str, Actor], *, card_key: bytes, days: int = 90) -> dict:
    """Build `days` days of history up to now (see the module's docstring). Returns
    {"days", "portal": [{"account_number", "password", "agent"}], "summary": {what: count}}."""
    history = _History(operator, actors, card_key, days)
    return await history.build()


async def portal_logins() -> list[dict[str, str]]:
    """The demo's portal accounts found again on a later start, for `serve` to print them each
    time: the first account of each agent whose password is still the demo's (a few argon2 checks)."""
    from core.passwords import verify_password

    firsts = await sql.fetch("SELECT MIN(id) AS id FROM subscriber GROUP BY agent")
    rows = await Subscriber.select(
        Subscriber.account_number, Subscriber.password_hash, Subscriber.agent.brand_name.as_alias("agent")
    ).where(Subscriber.id.is_in([row["id"] for row in firsts] or [0]) & (Subscriber.status != "closed"))
    return [
        {"account_number": row["account_number"], "password": PORTAL_PASSWORD, "agent": row["agent"]}
        for row in sorted(rows, key=lambda row: row["account_number"])
        if row["password_hash"] and verify_password(row["password_hash"], PORTAL_PASSWORD)
    ]


async def load_living_demo(card_key: bytes, days: int = 90) -> dict:
    """The demo (web/demo.py) set `days` + 1 days back, then its history up to now (R-36): what
    `voipagency demo` and the first `serve` of an empty database in demo mode load."""
    from web.demo import load_demo

    if not days:
        await load_demo()
        return {"days": 0, "portal": [], "summary": {}}
    with set_back(dt.timedelta(days=days + 1)):
        await load_demo()
    actors = await demo_actors_from_users()
    return await build_history(actors["admin"], actors, card_key=card_key, days=days)
