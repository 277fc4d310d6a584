"""CSV and XLSX downloads of tabular data (R-17)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from litestar.response import Response
from openpyxl import Workbook

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def table_response(filename: str, file_format: str, header: Sequence[str], rows: list[Sequence[object]]) -> Response:
    """A download of `rows` as CSV (UTF-8 with BOM, so Excel reads Chinese) or XLSX."""
    if file_format == "xlsx":
        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(list(header))
        for row in rows:
            sheet.append(list(row))
        buffer = io.BytesIO()
        book.save(buffer)
        return Response(
            buffer.getvalue(),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
        )
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return Response(
        "\ufeff" + text.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )
