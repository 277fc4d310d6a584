"""CSV and XLSX downloads of tabular data (R-17).

A spreadsheet reads a cell that starts with `=`, `+`, `-` or `@` as a formula (and some also after
a leading tab or carriage return), so text someone typed, an agent's brand name or a memo, could
run `=HYPERLINK(…)` or worse in the reader's spreadsheet. In a CSV, every text cell that starts so
is written with a leading `'`, which spreadsheets show as text. In an XLSX, such a cell is a text
cell (never a formula) with Excel's quote prefix, the stored form of that leading `'`: it shows
the text exactly as typed. Numbers are not touched: ints, floats and Decimals written as numbers,
and text that is a plain number such as "-1,200.50" (the journal's amounts), which no spreadsheet
runs."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence

from litestar.response import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?[0-9][0-9,]*(\.[0-9]+)?")


def looks_like_formula(value: object) -> bool:
    """Text that a spreadsheet would read as a formula (numbers written as numbers never are)."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS) and PLAIN_NUMBER.fullmatch(value) is None


def safe_cell(value: object) -> object:
    """A CSV cell as a spreadsheet may show it without running it: `'` before formula-like text."""
    return "'" + value if looks_like_formula(value) else value


def _xlsx_cell(sheet, value: object) -> object:
    if not looks_like_formula(value):
        return value
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # openpyxl makes text that starts with "=" a formula; this is text
    cell.quotePrefix = True
    return cell


def table_response(filename: str, file_format: str, header: Sequence[str], rows: list[Sequence[object]]) -> Response:
    """A download of `rows` as CSV (UTF-8 with BOM, so Excel reads Chinese) or XLSX; text that a
    spreadsheet would read as a formula is neutralised (see the module's docstring)."""
    if file_format == "xlsx":
        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        for row in (header, *rows):
            sheet.append([_xlsx_cell(sheet, cell) for cell in row])
        buffer = io.BytesIO()
        book.save(buffer)
        return Response(
            buffer.getvalue(),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
        )
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([safe_cell(cell) for cell in header])
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return Response(
        "\ufeff" + text.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )
