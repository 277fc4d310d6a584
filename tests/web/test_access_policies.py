"""Every route declares an access policy; a route without one is refused by the guard."""
from litestar import get

from agency.roles import PERMISSIONS
from tests.web.routes import endpoints
from web.auth import AUTHENTICATED, PUBLIC, SUBSCRIBER, SUBSCRIBER_ANY, SWITCH
from web.settings import Settings

KNOWN_POLICIES = {PUBLIC, AUTHENTICATED, SUBSCRIBER, SUBSCRIBER_ANY, SWITCH, *PERMISSIONS}
EXPECTED_PUBLIC = {("GET", "/login"), ("POST", "/login"), ("POST", "/language"), ("GET", "/healthz"),
                   ("GET", "/readyz"), ("GET", "/metrics"),  # /metrics checks its own bearer token
                   ("GET", "/portal/login"), ("POST", "/portal/login")}


def test_every_route_declares_a_known_policy(tmp_path):
    from web.app import create_app

    app = create_app(Settings.from_env({"VOIPAGENCY_DB_PATH": str(tmp_path / "x.sqlite3")}))
    found = endpoints(app)
    assert len(found) > 40
    missing = [f"{e.method} {e.path}" for e in found if e.access not in KNOWN_POLICIES]
    assert missing == [], f"routes without a declared access policy: {missing}"
    public = {(e.method, e.path) for e in found if e.access == PUBLIC}
    assert public == EXPECTED_PUBLIC


async def test_route_without_policy_is_refused(db, settings):
    import httpx

    from web.app import create_app

    @get("/undeclared", sync_to_thread=False)
    def undeclared() -> str:
        return "secret"

    app = create_app(settings, engine=db["engine"])
    app.register(undeclared)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
        response = await client.get("/undeclared")
    assert response.status_code == 403 and "secret" not in response.text
