"""Words users understand (issue 13, class 1): no page of any role shows an internal code (an
enumerated value, an audit action, a snake_case word) or, on a Chinese page, English text stored
by the system (the ticket acknowledgement, journal memos, job errors); nor Chinese catalog text
on an English page. Every page each demo role reaches from its dashboard is walked in both
languages, over the demo's living history, and its visible text (not its attributes) checked."""

from __future__ import annotations

import ast
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from agency.tables import AuditEntry, User
from cards.tables import CardJob
from core.clock import now
from core.errors import N_
from core.stored_text import message
from money.tables import JournalTransaction
from support.tables import TicketMessage
from tests.helpers import csrf, web_login
from tests.web.routes import endpoints
from web import i18n, labels
from web.demo import DEMO_PASSWORD
from web.demo_history import PORTAL_PASSWORD, load_living_demo

REPO = Path(__file__).resolve().parents[2]
DOMAIN_PACKAGES = ("agency", "money", "accounts", "cards", "support", "stats")
PER_PATTERN = 1  # pages visited per route and query shape (one ticket page, not all of them)
SKIPPED = ("/api/", "/static/", "/schema", "/logout", "/portal/logout", "/language", "/metrics")
SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
SEPARATORS = re.compile(r"\s*[·|:：]\s*|\s*\n\s*")


def audit_actions_in_code() -> set[str]:
    """Every action string the packages pass to agency.audit (record, record_refusal), read from
    the source, so that a new action without a label fails test_every_code_has_a_label."""
    found = set()
    for package in DOMAIN_PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constants = {
                target.id: node.value.value
                for node in ast.walk(tree)
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                for target in node.targets
                if isinstance(target, ast.Name) and target.id.endswith("_ACTION")
            }
            for node in ast.walk(tree):
                func = getattr(node, "func", None)
                name = getattr(func, "attr", getattr(func, "id", ""))
                if not isinstance(node, ast.Call) or name not in ("record", "record_refusal") or len(node.args) < 2:
                    continue
                argument = node.args[1]
                candidates = [argument.body, argument.orelse] if isinstance(argument, ast.IfExp) else [argument]
                for value in candidates:
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        found.add(value.value)
                    elif isinstance(value, ast.Name) and value.id in constants:
                        found.add(constants[value.id])
                    elif isinstance(value, ast.JoinedStr):  # f"ledger.{kind}": every kind it takes
                        found.update({"ledger.adjustment", "ledger.penalty"})
    return {action for action in found if "{" not in action}


class TextOfPage(HTMLParser):
    """The text a reader sees: data outside script, style and textarea (typed input), per node."""

    HIDDEN = {"script", "style", "textarea", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[str] = []
        self.links: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self._hidden += 1
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href") and "download" not in attributes:
            self.links.append(attributes["href"])

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.nodes.append(data.strip())


def _catalog_patterns(language: str, min_words: int) -> re.Pattern:
    """One pattern finding any message of `language`'s catalog whose translation differs: the
    English text on a Chinese page (language "en": the msgids), or the reverse."""
    from babel.messages.pofile import read_po

    with i18n.catalog_path("zh_CN").open("rb") as f:
        catalog = read_po(f, locale="zh_CN")
    alternatives = []
    for item in catalog:
        if not item.id or not isinstance(item.id, str) or not item.string or item.string == item.id:
            continue
        text = item.id if language == "en" else item.string
        literal = re.sub(r"%\([a-z_]+\)[sd]", " ", text)
        if language == "en" and len(re.findall(r"[A-Za-z]{2,}", literal)) < min_words:
            continue
        if language != "en" and len(re.findall(r"[\u4e00-\u9fff]", literal)) < min_words:
            continue
        parts = re.split(r"%\([a-z_]+\)[sd]", text)
        alternatives.append(".{1,80}?".join(re.escape(part) for part in parts))
    alternatives.sort(key=len, reverse=True)
    return re.compile("|".join(alternatives))


ENGLISH_MESSAGE = _catalog_patterns("en", min_words=3)
CHINESE_MESSAGE = _catalog_patterns("zh_CN", min_words=5)


async def stored_english() -> re.Pattern:
    """Text the system stored for people (automatic ticket messages, journal memos other than a
    person's reason, job errors), as stored and as rendered in English: none may show in Chinese."""
    stored = [row["body"] for row in await TicketMessage.select(TicketMessage.body).where(
        TicketMessage.author_kind == "system")]
    stored += [row["memo"] for row in await JournalTransaction.select(JournalTransaction.memo).where(
        JournalTransaction.kind.not_in(["adjustment", "penalty"]))]
    stored += [row["error"] for row in await CardJob.select(CardJob.error)]
    texts = {text for raw in stored if raw for text in (raw, labels.stored(raw, "en")) if re.search("[a-z]{3}", text)}
    assert texts, "the demo stores no text for people to read"
    return re.compile("|".join(re.escape(text) for text in sorted(texts, key=len, reverse=True)))


def problems_of(text_nodes: list[str], language: str, codes: set[str], actions: set[str],
                stored: re.Pattern) -> list[str]:
    """What is wrong with a page's text nodes, each problem with the node it is in."""
    found = []
    dotted = [a for a in actions if "." in a]
    for node in text_nodes:
        problems = [f"code {s!r}" for s in SEPARATORS.split(node) if s and (s in codes or s in actions)]
        problems += [f"snake_case {w!r}" for w in SNAKE.findall(node)]
        problems += [f"action {a!r}" for a in dotted if re.search(rf"(?<![\w.]){re.escape(a)}(?![\w.])", node)]
        if language == "zh-CN" and (english := ENGLISH_MESSAGE.search(node) or stored.search(node)):
            problems.append(f"English text {english.group(0)!r}")
        if language == "en" and (chinese := CHINESE_MESSAGE.search(node)):
            problems.append(f"Chinese text {chinese.group(0)!r}")
        found += [f"{problem} in {node[:80]!r}" for problem in problems]
    return found


def _pattern(url: str) -> tuple[str, tuple[str, ...]]:
    parts = urlsplit(url)
    return re.sub(r"\d+", "N", parts.path), tuple(sorted(k for k, _v in parse_qsl(parts.query)))


async def walk(client: httpx.AsyncClient, starts: list[str], language: str, *checks) -> tuple[dict, int]:
    """Visit every page reachable from `starts` (PER_PATTERN per route shape); {url: problems}."""
    queue, seen, per_pattern, failures, visited = list(starts), set(), Counter(), {}, 0
    while queue:
        url = queue.pop(0)
        if url in seen or per_pattern[_pattern(url)] >= PER_PATTERN:
            continue
        seen.add(url)
        per_pattern[_pattern(url)] += 1
        response = await client.get(url, headers={"Accept-Language": language})
        if response.status_code >= 500:
            failures[url] = [f"status {response.status_code}"]
        if response.status_code != 200 or "text/html" not in response.headers.get("content-type", ""):
            continue
        visited += 1
        page = TextOfPage()
        page.feed(response.text)
        if found := problems_of(page.nodes, language, *checks):
            failures[url] = sorted(set(found))
        for href in page.links:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith(SKIPPED):
                continue
            if dict(parse_qsl(parts.query)).get("format") in ("csv", "xlsx", "pdf"):
                continue
            queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return failures, visited


async def _history_to_show(app) -> tuple[list[dict], list[str]]:
    """The demo's living history, plus what it does not make: a background job that failed, and
    audit entries of rarer actions with before/after values."""
    result = await load_living_demo(b"k" * 32, days=8)
    owner = await User.select(User.id, User.agent).where(User.username == "huaxin").first()
    jobs = await CardJob.insert(
        CardJob(agent=owner["agent"], requested_by=owner["id"], size=30000, status="failed", started_at=now(),
                finished_at=now(), error=message(N_("Only an active agent can generate cards."))),
        CardJob(agent=owner["agent"], requested_by=owner["id"], size=25000, status="failed", started_at=now(),
                finished_at=now(), error="interrupted"),  # as rows written before messages were stored
    ).returning(CardJob.id)
    ticket = await TicketMessage.select(TicketMessage.ticket).where(TicketMessage.author_kind == "system").first()
    await TicketMessage.insert(  # the acknowledgement as rows written before messages were stored kept it
        TicketMessage(ticket=ticket["ticket"], author_kind="system", public=True, created_at=now(),
                      body="We have received your report and will answer within our service hours."),
    )
    await AuditEntry.insert(
        AuditEntry(at=now(), username="admin", role="admin", action="subscriber.close", target_type="subscriber",
                   target_id="1", before={"status": "active"}, after={"status": "closed", "reason": "moved away"}),
        AuditEntry(at=now(), username="admin", role="admin", action="agent.suspend", target_type="agent",
                   target_id="2", scope_path="", before={"status": "active"}, after={"status": "suspended"}),
    )
    return result["portal"], [f"/cards/jobs/{job['id']}" for job in jobs]


async def one_user_per_role() -> list[str]:
    """A demo user of each role, operator and agent apart, and the owner of the deepest agent
    (whose pages have ancestors above and nothing below)."""
    rows = await User.select(User.username, User.role, User.agent.level.as_alias("level")).order_by(User.id)
    chosen = {(row["level"] is None, row["role"]): row["username"] for row in reversed(rows)}
    deepest = max((row for row in rows if row["role"] == "owner"), key=lambda row: row["level"])
    return sorted({*chosen.values(), deepest["username"]})


def _starts(app) -> list[str]:
    """The dashboard and every page route without an id in its path."""
    return ["/", *sorted({e.path for e in endpoints(app) if e.method == "GET" and "{" not in e.path
                          and not e.path.startswith(SKIPPED) and e.path not in ("/login", "/portal/login")})]


def test_every_code_has_a_label():
    """Each audit action of the code, and each status, kind and rule the domain lists, has a label."""
    from cards.services import EXPIRY_RULES, KINDS
    from money.wallets import TRANSACTION_KINDS
    from support.reports import DIMENSIONS
    from support.tickets import CATEGORIES, PRIORITIES, STATUSES

    missing = audit_actions_in_code() - set(labels.LABELS["audit_action"])
    assert missing == set(), f"audit actions without a label in web/labels.py: {sorted(missing)}"
    for values, table in [(EXPIRY_RULES, "expiry_rule"), (KINDS, "card_kind"), (TRANSACTION_KINDS, "journal_kind"),
                          (PRIORITIES, "ticket_priority"), (CATEGORIES, "ticket_category"),
                          (STATUSES, "ticket_status"), (DIMENSIONS, "report_dimension")]:
        assert set(values) <= set(labels.LABELS[table]), table
    i18n.set_language("en")
    assert labels.expiry("days_after_activation", days=180) == "180 days after activation"
    i18n.set_language("zh_CN")
    assert labels.expiry("days_after_activation", days=180) == "激活后 180 天"


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_stored_text_and_audit_changes_read_in_the_readers_language(language):
    """What the system stored is rendered in the reader's language, rows from before included;
    an audit entry's before/after becomes rows of changed fields with labels."""
    i18n.set_language(language)
    chinese = language == "zh_CN"
    order = message(N_("Order %(number)s: %(minutes)s minutes"), number="BO1", minutes=8600)
    assert labels.stored(order) == ("订单 BO1：8,600 分钟" if chinese else "Order BO1: 8,600 minutes")
    assert labels.stored("BO1: 8600 min") == labels.stored(order)  # a memo written before, the same words
    assert labels.stored("interrupted") == labels.stored(message(
        N_("The server stopped while the batch was being generated.")))
    assert labels.stored("complaint not answered (TK-42)") == "complaint not answered (TK-42)"  # as typed
    assert labels.stored(order, "en") == "Order BO1: 8,600 minutes"  # what the JSON API gives, whoever asks
    rows = labels.changes({"target_type": "subscriber", "before": {"status": "active", "reason": "x"},
                           "after": {"status": "closed", "reason": "x", "returned_seconds": 60_000}})
    assert rows == [
        {"field": "状态" if chinese else "Status", "before": "正常" if chinese else "In service",
         "after": "已销户" if chinese else "Account closed"},
        {"field": "退回分钟数" if chinese else "Minutes returned", "before": "", "after": "1,000"},
    ]
    assert labels.label("pending", "ticket_status") != labels.label("pending", "remittance_status")
    assert labels.label("closed", "ticket_status") == ("已关闭" if chinese else "Closed")


async def test_no_page_of_any_role_shows_a_code_or_text_of_the_other_language(db, app, client):
    # One language a database (the walk takes half a minute): Chinese on SQLite, English on
    # PostgreSQL; what a page says does not depend on the database its figures come from.
    language = "zh-CN" if db["kind"] == "sqlite" else "en"
    portal, job_pages = await _history_to_show(app)
    usernames = [row["username"] for row in await User.select(User.username).order_by(User.id)]
    codes = labels.every_code() - set(usernames)  # "admin", "support": names people chose, not codes
    actions = audit_actions_in_code() | set(labels.LABELS["audit_action"])
    checks = (codes, actions, await stored_english())
    failures, visited = {}, 0
    starts = _starts(app) + job_pages  # a job's page is reached by the redirect that starts it, not by a link
    for username in await one_user_per_role():
        client.cookies.clear()
        response = await web_login(client, username, DEMO_PASSWORD)
        assert response.status_code == 303, (username, response.text[:300])
        found, count = await walk(client, [s for s in starts if not s.startswith("/portal")], language,
                                  *checks)
        failures.update({f"{username} {url}": problems for url, problems in found.items()})
        visited += count
    for account in portal:
        client.cookies.clear()
        token = await csrf(client)
        response = await client.post("/portal/login", data={"account_number": account["account_number"],
                                                            "password": PORTAL_PASSWORD, "csrf_token": token})
        assert response.status_code == 303, response.text[:300]
        found, count = await walk(client, ["/portal", "/portal/history", "/portal/tickets"], language,
                                  *checks)
        failures.update({f"portal {url}": problems for url, problems in found.items()})
        visited += count
    assert visited > 200, visited
    written = {row["action"] for row in await AuditEntry.select(AuditEntry.action).distinct()}
    assert written - set(labels.LABELS["audit_action"]) == set(), "audit actions without a label"
    report = "\n".join(f"{where}: {'; '.join(problems[:6])}" for where, problems in sorted(failures.items()))
    assert not failures, f"{len(failures)} pages show codes or text of the other language:\n{report}"
