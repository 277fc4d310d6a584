"""Enumerating the app's routes for tests that must cover every one of them."""
from __future__ import annotations

from dataclasses import dataclass

from litestar import Litestar


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # with Litestar placeholders, e.g. /agents/{agent_id:int}
    access: object

    def url(self, **ids: int) -> str:
        """The path with the given ids; placeholders not given get 1."""
        url = self.path
        for name in self.params:
            url = url.replace(f"{{{name}:int}}", str(ids.get(name, 1)))
        return url

    @property
    def tenant_params(self) -> set[str]:
        """Ids that pick a tenant's data (a price level is not one)."""
        return self.params - {"level"}

    @property
    def params(self) -> set[str]:
        return {part[1:-1].split(":")[0] for part in self.path.split("/") if part.startswith("{")}


def endpoints(app: Litestar) -> list[Endpoint]:
    """Every method of every route, except Litestar's automatic OPTIONS answers, static files
    and the OpenAPI documents."""
    found = []
    for route in app.routes:
        if route.path.startswith(("/static", "/schema")):
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods:
                if method in ("OPTIONS", "HEAD"):
                    continue
                found.append(Endpoint(method, route.path, handler.opt.get("access")))
    return sorted(set(found), key=lambda e: (e.path, e.method))
