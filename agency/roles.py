"""Roles, the actor making a request, and what each role may do."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import N_

OPERATOR_ROLES = ("admin", "finance", "support")
AGENT_ROLES = ("owner", "clerk", "support", "viewer")

ROLE_LABELS = {
    "admin": N_("Administrator"),
    "finance": N_("Finance"),
    "support": N_("Support"),
    "owner": N_("Owner"),
    "clerk": N_("Clerk"),
    "viewer": N_("Viewer"),
}


@dataclass(frozen=True)
class Actor:
    """Who is acting. Operator staff have no agent and see the whole tree; an agent's users
    see their agent's subtree, whose root path is `agent_path`."""

    user_id: int
    username: str
    role: str
    agent_id: int | None = None
    agent_path: str = ""
    agent_level: int = 0
    address: str = ""
    session_id: int | None = None

    @property
    def is_operator(self) -> bool:
        return self.agent_id is None

    @property
    def scope_path(self) -> str:
        """The root of what this actor may see: "" (everything) for the operator."""
        return self.agent_path

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission][0 if self.is_operator else 1]


# permission -> (operator roles, agent roles)
PERMISSIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "view_agents": (OPERATOR_ROLES, AGENT_ROLES),
    "create_agent": (("admin",), ("owner", "clerk")),
    "edit_agent": (("admin",), ("owner", "clerk")),
    "change_agent_status": (("admin",), ("owner",)),
    "manage_users": (("admin",), ("owner",)),
    "view_audit": (OPERATOR_ROLES, ("owner",)),
    "view_money": (("admin", "finance"), ("owner", "clerk", "viewer")),
    "view_statistics": (("admin", "finance"), ("owner", "clerk", "viewer")),  # R-29; they show money too
    "buy_bundle": ((), ("owner",)),
    "record_remittance": ((), ("owner", "clerk")),
    "confirm_remittance": (("admin", "finance"), ("owner",)),
    "set_prices": (("admin",), ("owner",)),
    "activate_agent": (("admin", "finance"), ("owner",)),
    "adjust_balances": (("finance",), ("owner",)),  # R-11b, by the holder only (money.adjustments)
    "view_cards": (OPERATOR_ROLES, AGENT_ROLES),
    "generate_cards": ((), ("owner",)),
    "sell_cards": ((), ("owner", "clerk")),
    "manage_subscribers": (("admin", "support"), ("owner", "clerk", "support")),
    "bulk_suspend_subscribers": (("admin",), ()),  # all of an agent subtree's subscribers at once
    "view_tickets": (OPERATOR_ROLES, AGENT_ROLES),
    "answer_tickets": (("admin", "support"), ("owner", "clerk", "support")),
    "manage_calendar": (("admin",), ()),
    "set_sla_targets": (("admin", "support"), ()),  # targets per priority and queue (support.tickets.may_set_targets)
    "manage_switch": (("admin",), ()),  # switch API keys and destination rates
    # caps on calls at once, barred prefixes and usage rules (R-22a; accounts.controls)
    "manage_call_controls": (("admin",), ("owner",)),
    "review_calls": (("admin", "support"), ("owner", "clerk", "support")),  # the review list (accounts.review)
}
