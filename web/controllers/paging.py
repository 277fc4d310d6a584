"""Pages of long lists, alike in HTML and JSON: rows a page holds, pages a total fills, one page's shape."""

from __future__ import annotations

from typing import Any

PER_PAGE = 50


def page_count(total: int, per_page: int = PER_PAGE) -> int:
    """The pages `total` rows fill; at least one, so an empty list reads "page 1 of 1"."""
    return max(1, -(-total // per_page))


def json_page(rows: list[dict[str, Any]], total: int, page: int) -> dict[str, Any]:
    """One page of a JSON list, with the total that tells a client how many pages follow."""
    return {"items": rows, "total": total, "page": page}
