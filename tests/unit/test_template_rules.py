"""Rules every template keeps (issue 13.5 and 13.8), read from the template files: figures go
through one filter each, and every table scrolls inside its own box on a phone, never the page."""
from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"


def template_lines():
    for template in sorted(TEMPLATES.rglob("*.html")):
        for line_number, line in enumerate(template.read_text().splitlines(), 1):
            yield f"{template.relative_to(TEMPLATES)}:{line_number}", line


def test_templates_print_figures_through_one_filter():
    """No template writes the currency sign before a bare figure ("¥{{ x|money }}" gives
    "¥-1.00"), nor turns seconds into minutes by hand (ungrouped): `yuan` and `minutes` do."""
    problems = []
    for where, line in template_lines():
        if re.search(r"¥\s*\{\{", line) or re.search(r"¥%\(\w+\)s", line):
            problems.append(f"{where}: a ¥ before a figure: use |yuan")
        if re.search(r"//\s*60\b", line):
            problems.append(f"{where}: seconds // 60: use |minutes")
        if re.search(r"\|money(?!\|replace)", line):
            problems.append(f"{where}: |money outside a form field: use |yuan")
    assert problems == [], "\n".join(problems)


def test_every_table_sits_in_a_box_of_its_own():
    """A table is the first thing inside a <div class="table-wrap"> (app.css: it scrolls sideways
    there), or nested in a table that is."""
    problems = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text()
        for table in re.finditer(r"<table\b", text):
            before = text[: table.start()]
            wrapped = re.search(r'<div class="table-wrap">\s*$', before)
            nested = before.count("<table") > before.count("</table>")
            if not (wrapped or nested):
                problems.append(f"{template.relative_to(TEMPLATES)}:{before.count(chr(10)) + 1}")
    assert problems == [], "tables outside a .table-wrap: " + ", ".join(problems)
