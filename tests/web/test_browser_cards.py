"""Issue acceptance in headless Chromium: an agent generates a batch, downloads its PDF (the first
page is rendered to PNG and must not be blank) and activates a range; a subscriber on a 375 px
phone logs in with an e-card, replaces the initial password, recharges and sees the new balance.
No secret may appear in the server's log."""
from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess

from tests.conftest import missing_dependency
from tests.web.conftest import (
    ARTIFACTS,
    PHONE_WIDTH,
    new_desk_context,
    new_phone_context,
    portal_first_login,
    staff_page,
)
from web.demo import DEMO_OPERATION_PASSWORD


def generate(page, base: str, kind: str, count: int, minutes: int) -> str:
    page.goto(base + "/cards/batches")
    page.click("details summary")
    page.select_option("select[name=kind]", kind)
    page.fill("input[name=count]", str(count))
    page.fill("input[name=face_minutes]", str(minutes))
    page.fill("#batch-form input[name=operation_password]", DEMO_OPERATION_PASSWORD)
    page.click("#batch-form button[type=submit]")
    page.wait_for_url(re.compile(r"/cards/batches/\d+$"))
    return page.url


def csv_export(page, batch_url: str) -> list[list[str]]:
    response = page.request.get(batch_url + "/export?format=csv")
    return list(csv.reader(io.StringIO(response.text().lstrip("\ufeff"))))[1:]


def secrets_export(page, batch_url: str, file_format: str, path):
    """The batch's one export with the secrets, from its page's form; the file saved at `path`."""
    page.goto(batch_url)
    page.select_option("#secrets-form select[name=format]", file_format)
    page.click("#secrets-form button[type=submit]")  # first what the file holds, and a confirmation
    page.fill("#confirm-form input[name=operation_password]", DEMO_OPERATION_PASSWORD)
    with page.expect_download() as download:
        page.click("#confirm-form button[type=submit]")
    download.value.save_as(path)
    return path


def secrets_csv(page, batch_url: str, path) -> list[list[str]]:
    text = secrets_export(page, batch_url, "csv", path).read_text(encoding="utf-8")
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))[1:]


def not_blank(png: bytes) -> float:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    dark = sum(image.histogram()[:200])  # pixels darker than light grey
    return dark / (image.width * image.height)


def test_batch_pdf_activation_and_subscriber_recharge(server, browser, tmp_path):
    from playwright.sync_api import expect

    if shutil.which("pdftoppm") is None:
        missing_dependency("pdftoppm (Debian's poppler-utils) is needed to render the card sheet")
    ARTIFACTS.mkdir(exist_ok=True)
    base = server.url
    agent_context = new_desk_context(browser, accept_downloads=True)
    phone_context = new_phone_context(browser)
    secrets: list[str] = []
    try:
        agent = staff_page(agent_context, base, "pearl")

        # A batch of 10 recharge cards: its first export is the PDF sheet, with the PINs.
        batch_url = generate(agent, base, "recharge", 10, 30)
        agent.screenshot(path=str(ARTIFACTS / "cards-01-batch.png"), full_page=True)
        pdf = secrets_export(agent, batch_url, "pdf", tmp_path / "sheet.pdf")
        assert pdf.read_bytes().startswith(b"%PDF")
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                       check=True)
        png = next(tmp_path.glob("page*.png")).read_bytes()
        (ARTIFACTS / "cards-02-sheet-page1.png").write_bytes(png)
        assert not_blank(png) > 0.01, "the first page of the card sheet is blank"
        # Later exports carry no secrets.
        assert all(len(row) == 4 for row in csv_export(agent, batch_url))
        # Activate the whole range from the batch page.
        agent.goto(batch_url)  # the download left the browser on the export's confirmation page
        agent.click("#activate-form button[type=submit]")
        expect(agent.locator("#confirm-summary")).to_contain_text("10")  # first the summary
        agent.click("#confirm-form button[type=submit]")
        expect(agent.locator("#flash")).to_contain_text("10")
        agent.goto(batch_url)
        expect(agent.locator("#state-counts")).to_contain_text("10")

        # An e-card and a recharge card for the subscriber (their secrets from the one CSV export).
        ecard_url = generate(agent, base, "e-card", 1, 20)
        (serial, initial_password, *_rest), = secrets_csv(agent, ecard_url, tmp_path / "ecard.csv")
        card_url = generate(agent, base, "recharge", 1, 50)
        (card_serial, pin, *_rest2), = secrets_csv(agent, card_url, tmp_path / "card.csv")
        secrets += [initial_password, pin]
        for first in (serial, card_serial):
            agent.goto(base + "/cards")
            agent.click("details summary")
            agent.fill("details input[name=serial_from]", first)
            agent.click("details form button[type=submit]:not([formaction])")
            expect(agent.locator(".flash")).to_be_visible()

        # The subscriber, on a phone.
        phone = portal_first_login(phone_context, base, serial, initial_password, "phone-pass-1",
                                   screenshot=str(ARTIFACTS / "cards-03-portal-password.png"))
        expect(phone.locator("#portal-balance")).to_contain_text("20")
        phone.fill("input[name=serial]", card_serial)
        phone.fill("input[name=pin]", pin)
        phone.click("form[action='/portal/recharge'] button[type=submit]")
        expect(phone.locator("#portal-balance")).to_contain_text("70")
        phone.screenshot(path=str(ARTIFACTS / "cards-04-portal-recharged.png"), full_page=True)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE_WIDTH + 1, f"the portal is {width}px wide on a phone"
    finally:
        agent_context.close()
        phone_context.close()
    log = server.log_text()
    assert '"POST /portal/recharge HTTP/1.1"' in log, "no access log: the search below would prove nothing"
    assert not any(secret in log for secret in secrets), "a card secret appears in the server's log"
