"""Enumerating the app's routes for tests that must cover every one of them."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Litestar

from web.auth import SWITCH

# The integer query parameters most routes share; a handler taking one of them lists it in
# Endpoint.int_query.
INT_QUERY_PARAMS = ("page", "per_page", "limit", "agent_id", "under")
# Integers no id, page number or size may be: beyond PostgreSQL's integer (2**31 - 1), beyond a
# 64-bit integer, far beyond both, and negative.
OUT_OF_RANGE = (2**31, 2**63, 10**30, -1, -(2**63))


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # with Litestar placeholders, e.g. /agents/{agent_id:int}
    access: object
    int_query: tuple[str, ...] = ()  # the INT_QUERY_PARAMS the handler takes

    def url(self, **ids: int) -> str:
        """The path with the given ids; placeholders not given get 1."""
        url = self.path
        for name in self.params:
            url = url.replace(f"{{{name}:int}}", str(ids.get(name, 1)))
        return url

    @property
    def tenant_params(self) -> set[str]:
        """Ids that pick a tenant's data (a price level is not one). The switch API has no tenant:
        a switch key serves the accounts of the whole tree, and no user's credentials open it
        (test_switch_api.py, test_sip_credentials_web.py)."""
        return set() if self.access == SWITCH else self.params - {"level"}

    @property
    def params(self) -> set[str]:
        return {part[1:-1].split(":")[0] for part in self.path.split("/") if part.startswith("{")}

    @property
    def int_params(self) -> set[str]:
        """The placeholders of integers, e.g. agent_id in /agents/{agent_id:int}."""
        return {part[1:-1].split(":")[0] for part in self.path.split("/") if part.endswith(":int}")}


def endpoints(app: Litestar) -> list[Endpoint]:
    """Every method of every route, except Litestar's automatic OPTIONS answers, static files
    and the OpenAPI documents."""
    found = []
    for route in app.routes:
        if route.path.startswith(("/static", "/schema")):
            continue
        for handler in getattr(route, "route_handlers", []):
            parameters = getattr(handler, "parsed_fn_signature", None)
            names = set(parameters.parameters) if parameters else set()
            for method in handler.http_methods:
                if method in ("OPTIONS", "HEAD"):
                    continue
                endpoint = Endpoint(method, route.path, handler.opt.get("access"))
                int_query = tuple(n for n in INT_QUERY_PARAMS if n in names and n not in endpoint.params)
                found.append(Endpoint(method, route.path, endpoint.access, int_query))
    return sorted(set(found), key=lambda e: (e.path, e.method))
