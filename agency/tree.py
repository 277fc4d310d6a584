"""Pure helpers for the materialized path of the agent tree."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agency.roles import Actor

SEGMENT_WIDTH = 8


def child_path(parent_path: str, agent_id: int) -> str:
    """ "/00000001/" + 7 -> "/00000001/00000007/"; zero padding keeps siblings in id order."""
    return f"{parent_path or '/'}{agent_id:0{SEGMENT_WIDTH}d}/"


def subtree_bounds(path: str) -> tuple[str, str]:
    """[low, high) such that low <= p < high holds exactly for `path` and its descendants.
    '/' sorts just below '0', so replacing the trailing '/' by '0' is the first string past
    the subtree: a B-tree range scan on both SQLite and PostgreSQL, unlike LIKE."""
    return path, path[:-1] + "0"


def ids_in_path(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


def is_within(path: str, root: str) -> bool:
    """True when `path` is `root` or below it; the root "" (the operator) holds everything."""
    return path.startswith(root)


def in_subtree(actor: Actor, path_column):
    """The query condition "this row's agent lies in the actor's subtree" on an agent path column
    (often reached through a foreign key, e.g. Card.agent.path); None for the operator, who
    sees everything."""
    if actor.is_operator:
        return None
    low, high = subtree_bounds(actor.scope_path)
    return (path_column >= low) & (path_column < high)
