"""Pages of long lists: rows a page holds, pages a total fills (the JSON page is answers.Page)."""

from __future__ import annotations

PER_PAGE = 50


def page_count(total: int, per_page: int = PER_PAGE) -> int:
    """The pages `total` rows fill; at least one, so an empty list reads "page 1 of 1"."""
    return max(1, -(-total // per_page))
