"""What the JSON API modules share about bodies and answers.

Every `/api/v1` handler declares the type of its answer (a msgspec Struct, or a `Page` of one),
so that `/schema` documents each field. Services return dicts; `answer` and `answers` turn them
into the declared type, dropping keys the type does not name (internal columns stay inside). Not strict, so
that SQLite's 0/1 reads as a boolean as PostgreSQL's true/false does."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Generic, TypeVar

import msgspec

T = TypeVar("T")


class Page(msgspec.Struct, Generic[T]):
    """One page of a long list; `total` tells a client how many pages follow."""

    items: list[T]
    total: int
    page: int


def answer(kind: type[T], value: Any) -> T:
    return msgspec.convert(value, kind, strict=False)


def answers(kind: type[T], rows: list[Any]) -> list[T]:
    return msgspec.convert(rows, list[kind], strict=False)


def page_of(kind: type[T], rows: list[Any], total: int, page: int) -> Page[T]:
    return Page(items=answers(kind, rows), total=total, page=page)


def present(data: Any) -> dict[str, Any]:
    """The fields of a PATCH body that the client sent (the others are None)."""
    return {k: v for k, v in asdict(data).items() if v is not None}
