"""Printable PDF sheets of cards (R-17), pure: no database, no HTTP.

An A4 page holds a grid of 2 × 5 cards, each a bordered rectangle (cut along the borders) with the
agent's brand, the face value in minutes, the serial, the secret when the export carries it (recharge
PIN or e-card initial password, grouped in fours), the expiry text and a QR code.

The QR code of a recharge card whose PIN is printed reads "VA1:RECHARGE:<serial>:<pin>", so a phone
can scan it into the portal. Given the portal's address, an e-card's QR code opens the portal's login
with the account number filled in (its initial password is never put in a QR code), and every card
says where to log in or recharge, in the portal's words; otherwise the QR code is just the serial.
QR codes are drawn as vector rectangles, one per horizontal run of dark modules, all in one path per
code: no image files, small and fast.

Words (brand, labels, expiry) use reportlab's built-in CID font STSong-Light, so the brand may be
Chinese; digits (serial, secret, face value) use Helvetica, whose equal-width digits read better. Both
are standard PDF fonts: no font file, none embedded. A viewer substitutes a CJK font for STSong-Light
(Acrobat's Asian font pack; poppler through fontconfig, e.g. Debian's fonts-noto-cjk)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

FONT = "STSong-Light"  # every word: the brand, labels, expiry text
DIGITS_FONT = "Helvetica"  # serial, secret, face value: equal-width digits, clearer than the CID font's
COLUMNS = 2
ROWS = 5
CARDS_PER_PAGE = COLUMNS * ROWS

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 10 * mm
GAP = 2 * mm  # between cards, so a cut along one border does not shave its neighbour
FOOTER = 6 * mm
CARD_WIDTH = (PAGE_WIDTH - 2 * MARGIN - (COLUMNS - 1) * GAP) / COLUMNS
CARD_HEIGHT = (PAGE_HEIGHT - 2 * MARGIN - FOOTER - (ROWS - 1) * GAP) / ROWS
PADDING = 3.5 * mm
QR_BOX = 34 * mm  # QR code including its quiet zone of 4 modules
QR_QUIET_MODULES = 4
TEXT_WIDTH = CARD_WIDTH - PADDING - QR_BOX - 1 * mm  # text stops 1 mm short of the QR code's quiet zone

QR_PREFIX = "VA1:RECHARGE:"
KINDS = ("recharge", "e-card")

_font_registered = False
_DARK_TO_1 = bytes(0 if value == 0 else 1 for value in range(256))
_DARK_RUN = re.compile(b"\x01+")


@dataclass(frozen=True)
class SheetCard:
    serial: str  # e.g. "860000000123" + Luhn digit (13 digits)
    secret: str | None  # 16-digit PIN / initial password; None for later exports (serials only)
    face_minutes: int
    expires: str  # already formatted text, e.g. "2027-01-31" or "激活后 365 天" or "—"
    kind: str  # "recharge" or "e-card"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown card kind {self.kind!r}")


def qr_content(card: SheetCard, portal_url: str = "") -> str:
    """What a card's QR code says: serial and PIN for a recharge card printed with its PIN; the
    portal's login for this account for an e-card, when the portal's address is known; else the serial."""
    if card.kind == "recharge" and card.secret:
        return f"{QR_PREFIX}{card.serial}:{card.secret}"
    if card.kind == "e-card" and portal_url:
        return f"{portal_url.rstrip('/')}/login?account_number={card.serial}"
    return card.serial


def group_digits(text: str, size: int = 4) -> str:
    """'1234567890123456' → '1234 5678 9012 3456'."""
    return " ".join(text[i : i + size] for i in range(0, len(text), size))


def card_sheet_pdf(
    cards: Iterable[SheetCard], *, title: str, labels: dict[str, str], portal_url: str = ""
) -> bytes:
    """A4 PDF, 10 cards per page, page numbers in the footer.

    `labels` holds the translated words: "serial", "pin", "password", "minutes", "expires", "page",
    and, with `portal_url` (the subscriber portal's address, e.g. "https://agency.example.com/portal"),
    "account_number" (an e-card's serial is its account number) and the patterns "log_in" and
    "recharge_at" with {url} ("Log in at {url}"). The page label may be a pattern with {page} and
    {pages} ("第 {page} / {pages} 页"); otherwise the footer reads "<page> n / total"."""
    cards = list(cards)
    _register_font()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(title)
    canvas.setCreator("voipagency")
    pages = max(1, -(-len(cards) // CARDS_PER_PAGE))
    for page in range(pages):
        chunk = cards[page * CARDS_PER_PAGE : (page + 1) * CARDS_PER_PAGE]
        for slot, card in enumerate(chunk):
            _draw_card(canvas, *card_origin(slot), card, title, labels, portal_url)
        _draw_footer(canvas, page + 1, pages, labels)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def card_origin(slot: int) -> tuple[float, float]:
    """Lower left corner, in points, of the card in slot 0…9 of a page (left to right, top to bottom)."""
    column, row = slot % COLUMNS, slot // COLUMNS
    return MARGIN + column * (CARD_WIDTH + GAP), PAGE_HEIGHT - MARGIN - (row + 1) * CARD_HEIGHT - row * GAP


def qr_origin(card_x: float, card_y: float) -> tuple[float, float]:
    """Lower left corner of the QR_BOX square (QR code and quiet zone) of the card at (card_x, card_y)."""
    return card_x + CARD_WIDTH - QR_BOX, card_y + (CARD_HEIGHT - QR_BOX) / 2


def _register_font() -> None:
    global _font_registered
    if not _font_registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _font_registered = True


@lru_cache(maxsize=1024)
def _fitted(text: str, size: float, width: float, font: str = FONT, smallest: float = 5.0) -> tuple[float, str]:
    """The largest font size ≤ size (never below smallest) at which text fits in width, and the text,
    cut with an ellipsis when even the smallest size is too wide."""
    measured = pdfmetrics.stringWidth(text, font, size)
    if measured <= width:
        return size, text
    size = max(smallest, size * width / measured)
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return size, text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return size, text + "…"


def _text(canvas: Canvas, x: float, y: float, text: str, size: float, width: float, font: str = FONT) -> None:
    size, text = _fitted(text, size, width, font)
    canvas.setFont(font, size)
    canvas.drawString(x, y, text)


def _draw_card(
    canvas: Canvas, x: float, y: float, card: SheetCard, title: str, labels: dict[str, str], portal_url: str = ""
) -> None:
    canvas.setLineWidth(0.6)
    canvas.setStrokeGray(0.55)
    canvas.rect(x, y, CARD_WIDTH, CARD_HEIGHT, stroke=1, fill=0)
    canvas.setFillGray(0)

    left = x + PADDING
    top = y + CARD_HEIGHT - PADDING
    width = TEXT_WIDTH

    _text(canvas, left, top - 12, title, 13, width)

    minutes = f"{card.face_minutes:,}"
    canvas.setFont(DIGITS_FONT, 22)
    canvas.drawString(left, top - 40, minutes)
    number_width = pdfmetrics.stringWidth(minutes, DIGITS_FONT, 22)
    _text(canvas, left + number_width + 4, top - 40, labels["minutes"], 11, max(10.0, width - number_width - 4))

    serial_label = labels["serial"]
    if card.kind == "e-card" and portal_url:
        serial_label = labels.get("account_number", serial_label)  # what the portal's login asks for
    canvas.setFillGray(0.35)
    _text(canvas, left, top - 56, serial_label, 7, width)
    canvas.setFillGray(0)
    _text(canvas, left, top - 68, card.serial, 11, width, DIGITS_FONT)

    if card.secret:
        label = labels["pin"] if card.kind == "recharge" else labels["password"]
        canvas.setFillGray(0.35)
        _text(canvas, left, top - 82, label, 7, width)
        canvas.setFillGray(0)
        _text(canvas, left, top - 96, group_digits(card.secret), 13, width, DIGITS_FONT)

    canvas.setFillGray(0.35)
    if portal_url:
        where = labels.get("log_in" if card.kind == "e-card" else "recharge_at", "{url}")
        shown = portal_url.split("://", 1)[-1].rstrip("/")  # the scheme is noise on paper
        _text(canvas, left, y + PADDING + 11, where.format(url=shown), 7, width)
    _text(canvas, left, y + PADDING + 1, f"{labels['expires']}  {card.expires}", 8, width)
    canvas.setFillGray(0)

    _draw_qr(canvas, *qr_origin(x, y), QR_BOX, qr_content(card, portal_url))


def _draw_qr(canvas: Canvas, x: float, y: float, box: float, content: str) -> None:
    """A QR code whose quiet zone fills box×box at (x, y).

    The page is scaled to one unit per module (y downwards) and each horizontal run of dark modules
    becomes one integer rectangle, all filled at once: writing the operators directly is ~10× faster
    than reportlab's path object, which formats every float in Python."""
    matrix = segno.make(content, error="m", micro=False).matrix
    module = box / (len(matrix) + 2 * QR_QUIET_MODULES)
    operators = []
    for row_index, row in enumerate(matrix):
        line = row.translate(_DARK_TO_1)
        for run in _DARK_RUN.finditer(line):
            operators.append(f"{run.start()} {row_index} {run.end() - run.start()} 1 re")
    canvas.saveState()
    canvas.translate(x + QR_QUIET_MODULES * module, y + box - QR_QUIET_MODULES * module)
    canvas.scale(module, -module)
    canvas.addLiteral("\n".join(operators) + "\nf")
    canvas.restoreState()


def _draw_footer(canvas: Canvas, page: int, pages: int, labels: dict[str, str]) -> None:
    label = labels["page"]
    text = label.format(page=page, pages=pages) if "{page}" in label else f"{label} {page} / {pages}"
    canvas.setFillGray(0.35)
    canvas.setFont(FONT, 8)
    canvas.drawCentredString(PAGE_WIDTH / 2, MARGIN, text)
    canvas.setFillGray(0)
