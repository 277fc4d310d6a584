"""Issue 13 (phone layout, works offline, accessibility) in headless Chromium on a 375 px phone, in
one flow: every demo role (an agent owner, operator admin, finance and support, a portal
subscriber; the last two in the dark theme) walks the pages of its menu; the subscriber also opens
a ticket, and sees its agent's hotline and service hours there and at home. On every page the
menu is folded away, `main` starts in the top quarter of the screen, nothing scrolls sideways, an
agent sees its wallet and stock in the header, no receipt, order or account number is broken
across lines, and axe-core finds no serious or critical violation; the menu opens and leads on.
The API docs load with every request off this site refused. Screenshots (the first screen of
each page) go to test-artifacts/.

axe-core is vendored in tests/web/vendor (npm package axe-core, its licence beside it). It is
added as an init script, which Chromium runs outside the page's Content-Security-Policy, so the
pages keep their strict policy, and a CSP violation still fails the test (conftest)."""
from __future__ import annotations

import re
from pathlib import Path

from tests.web.conftest import ARTIFACTS, PHONE_WIDTH, new_phone_context, portal_first_login, staff_page
from tests.web.test_browser_support import make_subscriber

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PHONE_HEIGHT = 812  # new_phone_context's screen
# The demo roles (web/demo.py) and the pages each visits besides the links of its menu.
STAFF = {
    "owner": ("huaxin", ["/agents/1", "/agents/1/users", "/cards"]),
    "admin": ("admin", ["/agents/1", "/bundles/1", "/support/report", "/support/calendar", "/cards"]),
    "finance": ("finance", []),
    "support": ("support", []),
}
DARK = {"support", "subscriber"}  # these walk in the phone's dark theme
# The agent of make_subscriber's subscriber, the demo's Pearl River Telecom: its hotline and service hours.
HOTLINE, SERVICE_HOURS = "400 5555 0201", "Mon-Sat 08:00-20:00"


def axe_problems(page) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`)"
    )
    return list(found)


# What check() reads of the page, in one round trip.
LAYOUT = """() => {
  const shown = (selector) => Boolean(document.querySelector(selector)?.checkVisibility());
  const balances = document.getElementById("header-balances");
  return {
    width: document.documentElement.scrollWidth,
    mainTop: document.querySelector("main").getBoundingClientRect().top + window.scrollY,
    toggleShown: shown("[data-menu-toggle]"),
    menuShown: shown("#site-menu"),
    broken: [...document.querySelectorAll(".ref")].filter(e => e.getClientRects().length > 1).map(e => e.textContent),
    balances: balances && balances.checkVisibility() ? balances.innerText : (balances ? "" : null),
  };
}"""


class Walk:
    """One role's walk over its pages, keeping every problem found (all are reported at the end)."""

    def __init__(self, page, base: str, role: str, agent: bool) -> None:
        self.page, self.base, self.role, self.agent = page, base, role, agent
        if role in DARK:  # the page on screen was drawn light: draw it again, or axe would measure
            page.emulate_media(color_scheme="dark")  # its colours halfway through the theme's transitions
            page.reload()
        self.problems: list[str] = []
        self.shots = 0

    def check(self, label: str) -> None:
        """The layout and accessibility checks of the page on screen, and its screenshot."""
        page = self.page
        where = f"{self.role} {page.url.removeprefix(self.base)}"
        self.shots += 1
        slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "home"
        page.screenshot(path=str(ARTIFACTS / f"phone-{self.role}-{self.shots:02d}-{slug}.png"))  # the first screen
        seen = page.evaluate(LAYOUT)
        if seen["width"] > PHONE_WIDTH + 1:
            self.problems.append(f"{where}: the page is {seen['width']}px wide")
        if seen["mainTop"] > PHONE_HEIGHT / 4:
            self.problems.append(f"{where}: main starts {seen['mainTop']:.0f}px down")
        if not seen["toggleShown"] or seen["menuShown"]:
            self.problems.append(f"{where}: the menu is not folded behind its button")
        if seen["broken"]:
            self.problems.append(f"{where}: numbers broken across lines: {seen['broken']}")
        if self.agent and "¥" not in (seen["balances"] or ""):
            self.problems.append(f"{where}: no wallet and stock in the header")
        if not self.agent and seen["balances"] is not None:
            self.problems.append(f"{where}: a wallet in the header of a user without one")
        self.problems += [f"{where}: axe {problem}" for problem in axe_problems(page)]

    def menu_links(self) -> list[str]:
        """Opens the menu, checks it shows, and returns its links (the role's main pages)."""
        from playwright.sync_api import expect

        toggle = self.page.locator("[data-menu-toggle]")
        toggle.click()
        expect(self.page.locator("#site-menu")).to_be_visible()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        return self.page.locator("#site-menu a").evaluate_all("links => links.map(a => a.getAttribute('href'))")

    def walk(self, extra: list[str]) -> None:
        """The home page; through the open menu, the first of its other links; then every other page."""
        self.check("home")
        links = [href for href in self.menu_links() if href not in ("/", "/portal")]
        self.page.click(f"#site-menu a[href='{links[0]}']")  # the open menu leads on
        self.page.wait_for_url(self.base + links[0])
        self.check(links[0])
        for path in [*links[1:], *extra]:
            self.page.goto(self.base + path)
            self.check(path)


def test_every_role_on_a_phone_menu_layout_and_accessibility(server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    base = server.url
    problems: list[str] = []
    serial, initial = make_subscriber(base)
    for role, (username, extra) in STAFF.items():
        context = new_phone_context(browser)
        context.add_init_script(path=str(AXE))
        try:
            walk = Walk(staff_page(context, base, username), base, role, agent=role == "owner")
            walk.walk(extra)
            problems += walk.problems
            if role == "admin":
                problems += api_docs_offline(context, base)
        finally:
            context.close()

    context = new_phone_context(browser)
    context.add_init_script(path=str(AXE))
    try:
        page = context.new_page()
        for path in ("/login", "/portal/login"):  # as anyone sees them
            page.goto(base + path)
            problems += [f"{path}: axe {problem}" for problem in axe_problems(page)]
        walk = Walk(portal_first_login(context, base, serial, initial, "phone-pass-3"), base, "subscriber", agent=False)
        walk.walk(["/portal/history"])
        agent_contact_on_phone(walk)
        problems += walk.problems
    finally:
        context.close()
    assert not problems, "\n".join(problems)


# The portal's hotline link and service hours as the phone shows them.
CONTACT = """() => [...document.querySelectorAll("#portal-hotline, #portal-service-hours")].map(e => {
  const box = e.getBoundingClientRect();
  return {id: e.id, text: e.textContent, href: e.getAttribute("href"), shown: e.checkVisibility(),
          left: box.left, right: box.right};
})"""


def agent_contact_on_phone(walk: Walk) -> None:
    """On the portal's home, its tickets and a ticket it opens, the subscriber sees its agent's
    hotline (a tel: link) and service hours, inside the phone's width."""
    page = walk.page
    page.goto(walk.base + "/portal")
    contact_seen(walk, "home")
    page.goto(walk.base + "/portal/tickets")
    contact_seen(walk, "tickets")
    page.fill("input[name=subject]", "接通后听不到声音")
    page.fill("textarea[name=body]", "拨打任何号码都没有声音")
    page.click("form[action='/portal/tickets'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/portal/tickets/\d+$"))
    walk.check("ticket")
    contact_seen(walk, "ticket")


def contact_seen(walk: Walk, label: str) -> None:
    seen = {e["id"]: e for e in walk.page.evaluate(CONTACT)}
    hotline, hours = seen.get("portal-hotline"), seen.get("portal-service-hours")
    where = f"{walk.role} {label}"
    if not hotline or hotline["text"] != HOTLINE or hotline["href"] != "tel:" + HOTLINE.replace(" ", ""):
        walk.problems.append(f"{where}: no hotline link to {HOTLINE}: {hotline}")
    if not hours or SERVICE_HOURS not in hours["text"]:
        walk.problems.append(f"{where}: no service hours {SERVICE_HOURS}: {hours}")
    for shown in (e for e in (hotline, hours) if e):
        if not shown["shown"] or shown["left"] < 0 or shown["right"] > PHONE_WIDTH:
            walk.problems.append(f"{where}: #{shown['id']} not in sight: {shown}")


def api_docs_offline(context, base: str) -> list[str]:
    """The API docs (Swagger UI) render with every request off this site refused, and the
    favicon is served."""
    from playwright.sync_api import expect

    outside: list[str] = []

    def only_this_site(route) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page = context.new_page()
    page.route("**/*", only_this_site)
    page.goto(base + "/schema")
    expect(page.locator("#swagger-ui .info .title")).to_contain_text("voipagency API", timeout=30_000)
    expect(page.locator("#swagger-ui .opblock").first).to_be_visible(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "phone-admin-api-docs.png"))
    icon = page.locator("link[rel=icon]").get_attribute("href")
    served = page.request.get(base + icon)
    problems = [f"API docs: a request off the site: {url}" for url in outside]
    if served.status != 200 or "svg" not in served.headers.get("content-type", ""):
        problems.append(f"the favicon {icon} answers {served.status}")
    page.close()
    return problems
