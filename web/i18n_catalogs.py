"""Refresh the translation catalogs: `python -m web.i18n_catalogs`.

Extracts every marked string (gettext `_`, `N_`, templates) into web/locale/messages.pot,
merges it into the zh_CN and en catalogs, and fills the English catalog with the message ids
themselves (English is the source language). Chinese entries left empty are then listed; the
test suite fails while any exists."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "web" / "locale"
POT = LOCALE / "messages.pot"


def catalog_path(language: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / "messages.po"


def main() -> int:
    pybabel = [sys.executable, "-m", "babel.messages.frontend"]
    subprocess.run(
        [
            *pybabel,
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "N_",
            "-o",
            str(POT),
            "--no-location",
            "--omit-header",
            "--sort-output",
            "agency",
            "accounts",
            "cards",
            "support",
            "web",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    for language in ("zh_CN", "en"):
        subprocess.run(
            [
                *pybabel,
                "update",
                "-i",
                str(POT),
                "-d",
                str(LOCALE),
                "-l",
                language,
                "--no-fuzzy-matching",
                "--ignore-obsolete",
                "--omit-header",
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    en = catalog_path("en")
    with en.open("rb") as f:
        catalog = read_po(f, locale="en")
    for message in catalog:
        if message.id and not message.string:
            message.string = message.id
    with en.open("wb") as f:
        write_po(f, catalog, omit_header=True, no_location=True, sort_output=True)
    missing = missing_translations("zh_CN")
    for text in missing:
        print(f"zh_CN: untranslated: {text}")
    return 1 if missing else 0


def missing_translations(language: str) -> list[str]:
    with catalog_path(language).open("rb") as f:
        catalog = read_po(f, locale=language)
    return [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]


if __name__ == "__main__":
    sys.exit(main())
