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

from web.i18n import LANGUAGES, LOCALE_DIR, catalog_path

ROOT = Path(__file__).resolve().parent.parent
POT = LOCALE_DIR / "messages.pot"


PYBABEL = [sys.executable, "-m", "babel.messages.frontend"]


def extract(pot: Path) -> None:
    """Write every marked string of the project's packages into the template `pot`."""
    subprocess.run(
        [
            *PYBABEL,
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "N_",
            "-o",
            str(pot),
            "--no-location",
            "--omit-header",
            "--sort-output",
            "core",
            "agency",
            "stats",
            "money",
            "accounts",
            "cards",
            "support",
            "web",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def main() -> int:
    extract(POT)
    for language in LANGUAGES:
        subprocess.run(
            [
                *PYBABEL,
                "update",
                "-i",
                str(POT),
                "-d",
                str(LOCALE_DIR),
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
