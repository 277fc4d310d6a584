"""The printable PDF sheet of cards (R-17): pages, text, and a rendered page checked pixel by pixel.

Rendering uses poppler's pdftoppm/pdftotext (Debian's poppler-utils); the Chinese brand needs a CJK font
for poppler to substitute for the non-embedded STSong-Light (Debian's fonts-noto-cjk). The first page is
kept as test-artifacts/card-sheet.png."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import segno
from PIL import Image

from cards.codes import make_serial
from cards.sheets import (
    DIGITS_FONT,
    FONT,
    MARGIN,
    PADDING,
    PAGE_WIDTH,
    QR_BOX,
    QR_QUIET_MODULES,
    SheetCard,
    card_origin,
    card_sheet_pdf,
    group_digits,
    qr_content,
    qr_origin,
)
from tests.conftest import missing_dependency

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TITLE = "华信通讯"
LABELS = {
    "serial": "序列号",
    "pin": "充值密码",
    "password": "初始密码",
    "minutes": "分钟",
    "expires": "有效期至",
    "page": "第 {page} / {pages} 页",
}
PIN = "1234567890123456"
PASSWORD = "6543210987654321"
RECHARGE = SheetCard(make_serial("86", 123), PIN, 100, "2027-01-31", "recharge")
ECARD = SheetCard(make_serial("86", 124), PASSWORD, 500, "激活后 365 天", "e-card")
SERIAL_ONLY = SheetCard(make_serial("86", 125), None, 1000, "—", "recharge")
ELEVEN = [RECHARGE, ECARD, SERIAL_ONLY] + [
    SheetCard(make_serial("86", 200 + n), f"{n:016d}", 50, "2027-01-31", "recharge") for n in range(8)
]
DPI = 200


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b", pdf))


def poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        missing_dependency(f"{tool} not found (Debian package poppler-utils)")
    return path


def has_cjk_font() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    return bool(subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True, check=False).stdout.strip())


@pytest.fixture(scope="module")
def sheet() -> bytes:
    return card_sheet_pdf(ELEVEN, title=TITLE, labels=LABELS)


@pytest.fixture(scope="module")
def first_page(sheet, tmp_path_factory) -> Image.Image:
    """Page 1 rendered at DPI, as 8-bit grey; a copy goes to test-artifacts/card-sheet.png."""
    pdftoppm = poppler("pdftoppm")
    folder = tmp_path_factory.mktemp("sheet")
    (folder / "sheet.pdf").write_bytes(sheet)
    subprocess.run(
        [pdftoppm, "-r", str(DPI), "-png", "-f", "1", "-l", "1", "-singlefile", "sheet.pdf", "page"],
        cwd=folder,
        check=True,
        timeout=60,
    )
    png = folder / "page.png"
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(png, ARTIFACTS / "card-sheet.png")
    return Image.open(png).convert("L")


def to_pixels(x_pt: float, y_pt_from_bottom: float, image: Image.Image) -> tuple[int, int]:
    scale = image.width / PAGE_WIDTH
    return round(x_pt * scale), round(image.height - y_pt_from_bottom * scale)


def dark_count(image: Image.Image, threshold: int = 128) -> int:
    return sum(image.point(lambda value: 255 if value < threshold else 0).histogram()[255:])


def test_qr_content_carries_the_pin_of_recharge_cards_only():
    assert qr_content(RECHARGE) == f"VA1:RECHARGE:{RECHARGE.serial}:{PIN}"
    assert qr_content(ECARD) == ECARD.serial  # an initial password never goes into a QR code
    assert qr_content(SERIAL_ONLY) == SERIAL_ONLY.serial


def test_secrets_are_grouped_in_fours():
    assert group_digits(PIN) == "1234 5678 9012 3456"
    assert group_digits("12345") == "1234 5"


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        SheetCard(make_serial("86", 1), None, 100, "—", "gift")


def test_ten_cards_a_page(sheet):
    assert sheet.startswith(b"%PDF-")
    assert sheet.rstrip().endswith(b"%%EOF")
    assert page_count(sheet) == 2
    assert page_count(card_sheet_pdf(ELEVEN[:10], title=TITLE, labels=LABELS)) == 1
    assert page_count(card_sheet_pdf(iter([RECHARGE]), title="Acme", labels=LABELS)) == 1
    assert page_count(card_sheet_pdf([], title=TITLE, labels=LABELS)) == 1  # an empty sheet, not a broken file


def test_all_text_is_in_the_two_built_in_fonts(sheet):
    """No font file is needed: STSong-Light (CID) for words, Helvetica for digits, nothing else."""
    fonts = set(re.findall(rb"/BaseFont /([\w-]+)", sheet))
    assert fonts == {FONT.encode(), DIGITS_FONT.encode()}


def test_text_of_the_first_page(sheet, tmp_path):
    pdftotext = poppler("pdftotext")
    (tmp_path / "sheet.pdf").write_bytes(sheet)
    text = subprocess.run(
        [pdftotext, "-f", "1", "-l", "1", "-enc", "UTF-8", "sheet.pdf", "-"],
        cwd=tmp_path,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    assert text.count(TITLE) == 10
    assert group_digits(PIN) in text and group_digits(PASSWORD) in text
    assert "充值密码" in text and "初始密码" in text
    for card in (RECHARGE, ECARD, SERIAL_ONLY):
        assert card.serial in text
    assert "激活后 365 天" in text and "1,000" in text
    assert "第1/2页" in re.sub(r"\s", "", text)  # pdftotext may drop the spaces of small text
    assert group_digits(ELEVEN[10].secret) not in text  # card 11 is on page 2


def test_rendered_page_is_not_blank(first_page):
    ink = dark_count(first_page, threshold=200)
    assert ink > 0.03 * first_page.width * first_page.height


def test_chinese_title_renders_as_four_different_glyphs(first_page):
    """Without a CJK font poppler draws the same empty box for every Chinese character."""
    if not has_cjk_font():
        missing_dependency("no CJK font for poppler (Debian package fonts-noto-cjk)")
    x = MARGIN + PADDING
    baseline = first_page.height * 72 / DPI - MARGIN - PADDING - 12  # first card's title, from the bottom
    inks = []
    for index in range(len(TITLE)):  # STSong-Light's CJK glyphs are 1 em (13 pt) wide
        left, top = to_pixels(x + 13 * index, baseline + 11, first_page)
        right, bottom = to_pixels(x + 13 * (index + 1), baseline - 3, first_page)
        inks.append(dark_count(first_page.crop((left, top, right, bottom))))
    assert min(inks) > 50, inks
    assert (max(inks) - min(inks)) / max(inks) > 0.1, inks


@pytest.mark.parametrize("slot", [0, 1, 2])
def test_qr_code_is_drawn_module_by_module(first_page, slot):
    """Sample the centre of every module of the rendered QR code and compare with segno's matrix."""
    card = ELEVEN[slot]
    matrix = segno.make(qr_content(card), error="m", micro=False).matrix
    size = len(matrix)
    module = QR_BOX / (size + 2 * QR_QUIET_MODULES)
    box_x, box_y = qr_origin(*card_origin(slot))
    left = box_x + QR_QUIET_MODULES * module
    top = box_y + QR_BOX - QR_QUIET_MODULES * module
    wrong = []
    for row in range(-1, size + 1):  # one module of the quiet zone all round must be light
        for column in range(-1, size + 1):
            expected = 0 <= row < size and 0 <= column < size and bool(matrix[row][column])
            centre = to_pixels(left + (column + 0.5) * module, top - (row + 0.5) * module, first_page)
            pixel = first_page.getpixel(centre)
            if (pixel < 128) != expected:
                wrong.append((row, column))
    assert not wrong, wrong[:20]
