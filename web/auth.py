"""Who is asking (session cookie or API token), CSRF, and the access policy every route declares.

Every route handler states its policy in `opt["access"]`: PUBLIC, AUTHENTICATED, or a
permission of `agency.roles.PERMISSIONS`. The app-wide `route_guard` refuses a route without
one, and a test walks every route to make sure none is missing. Which *rows* a user may see is
decided again in the domain services (R-1); the guard is only the first gate."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.enums import ParamType, ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.params import ParameterKwarg
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.typing import FieldDefinition

from accounts.portal import subscriber_for_session
from accounts.switch import key_for_token
from agency import twofactor
from agency.roles import Actor
from agency.sessions import actor_for_api_token, actor_for_session
from core.db import MAX_PAGE
from core.errors import N_, Forbidden, ValidationFailed
from web import i18n
from web.settings import Settings

PUBLIC = "public"
AUTHENTICATED = "authenticated"
SUBSCRIBER = "subscriber"  # a subscriber logged in to the portal, initial password replaced
SUBSCRIBER_ANY = "subscriber_any"  # a subscriber logged in, possibly still on the initial password
SWITCH = "switch"  # a softswitch with a live switch API key
SWITCH_PATH = "/api/switch/"
STATIC_PATH = "/static/"
SESSION_COOKIE = "vs_session"
SUBSCRIBER_COOKIE = "vs_sub"
CSRF_COOKIE = "vs_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
BEFORE_TWO_FACTOR = "before_two_factor"  # opt: open to a session that must still set up two-factor login
TWO_FACTOR_SETUP_PATH = "/account/two-factor"


class CsrfRejected(Exception):
    """A state-changing request without a valid CSRF token."""


class PasswordChangeRequired(Exception):
    """A subscriber still on the e-card's initial password must replace it first (R-16)."""


class TwoFactorSetupRequired(Forbidden):
    """A session of a user whose role requires two-factor login, not set up yet (issue 11.10)."""

    message = N_("Your role requires two-factor login: set it up under My account first.")


def access(policy: str, *, before_two_factor: bool = False) -> dict[str, Any]:
    """`opt` for a route handler: `@get("/x", opt=access("view_agents"))`. `before_two_factor`:
    also open to a session whose user must set up two-factor login first (the set-up itself)."""
    return {"access": policy, BEFORE_TWO_FACTOR: True} if before_two_factor else {"access": policy}


async def route_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The app's one guard: every request's checks at the edge, in this order. One guard, not
    one for each: Litestar copies the route handler for every guard it calls, a shallow copy of a
    large object that took an eighth of a balance check's CPU with three. Async although it
    awaits nothing: Litestar runs a sync guard in a worker thread, a thread hop on every request."""
    refuse_nul(connection)
    refuse_out_of_range(connection, handler)
    check_access(connection, handler)


def check_access(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    policy = handler.opt.get("access")
    if policy is None and connection.scope["method"] == "OPTIONS":
        return  # Litestar's automatic OPTIONS answer only lists the allowed methods
    if policy is None:
        raise PermissionDeniedException("this route declares no access policy")
    if policy == PUBLIC:
        return
    if policy == SWITCH:
        if connection.scope.get("switch") is None:
            raise NotAuthorizedException()
        return
    if policy in (SUBSCRIBER, SUBSCRIBER_ANY):
        subscriber = connection.scope.get("subscriber")
        if subscriber is None:
            raise NotAuthorizedException()
        if policy == SUBSCRIBER and subscriber["must_change_password"]:
            raise PasswordChangeRequired()
        return
    actor: Actor | None = connection.scope.get("user")
    if actor is None:
        raise NotAuthorizedException()
    if connection.scope.get("two_factor_setup") and not handler.opt.get(BEFORE_TWO_FACTOR):
        raise TwoFactorSetupRequired()
    if policy != AUTHENTICATED and not actor.can(policy):
        raise PermissionDeniedException()


# Integer path and query parameters, checked at the edge for every route: a database id is
# 1 <= id < 2**31 (PostgreSQL's integer), a page number at most the last page fetch_page serves.
ID_RANGE = (1, 2**31 - 1)
INT_RANGES = {"page": (1, MAX_PAGE)}
_INT_QUERY = "int_query_params"  # handler.opt cache: the query names of the handler's int parameters


def _is_int(field: FieldDefinition) -> bool:
    options = [t for t in field.inner_types if not t.is_none_type] if field.is_optional else [field]
    return any(t.annotation is int for t in options)


def _int_query_names(handler: BaseRouteHandler) -> tuple[str, ...]:
    """The query names of the handler's int (or optional int) parameters, found once."""
    names = handler.opt.get(_INT_QUERY)
    if names is None:
        in_path = {part[1:].split(":")[0] for path in handler.paths for part in path.split("/") if part[:1] == "{"}
        dependencies = handler.resolve_dependencies()
        found = []
        for name, field in handler.parsed_fn_signature.parameters.items():
            kwarg = field.kwarg_definition
            if not _is_int(field) or name in in_path or name in dependencies:
                continue
            if kwarg is None:
                found.append(name)
            elif isinstance(kwarg, ParameterKwarg) and kwarg.param_type is ParamType.QUERY:
                found.append(kwarg.name or name)
        names = handler.opt[_INT_QUERY] = tuple(found)
    return names


def _number(text: str) -> float | int | None:
    """The number a query value spells (as lax as the parsing of parameters), or None."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)  # "1e30"; a 5,000-digit number becomes inf
        except ValueError:
            return None  # not a number: the parameter's own parsing refuses it


def refuse_nul(connection: ASGIConnection) -> None:
    """Refuses (400) a NUL character in the path or a query parameter: no field holds one, and
    PostgreSQL cannot store or compare one (the fuzzer found filters that reached it)."""
    if "\x00" in connection.scope["path"] or (
        connection.scope.get("query_string")
        and any("\x00" in name or "\x00" in value for name, value in connection.query_params.multi_items())
    ):
        raise ValidationFailed({"query": N_("The format is not valid.")})


def refuse_out_of_range(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Refuses (400, ValidationFailed) an integer path or query parameter out of its range,
    before any handler or query sees it: no id reaches the database as an overflow."""
    errors: dict[str, str] = {}
    values: list[tuple[str, object]] = [
        (name, value) for name, value in connection.path_params.items() if type(value) is int
    ]
    if connection.scope.get("query_string"):
        query = connection.query_params
        values += [(name, _number(raw)) for name in _int_query_names(handler) for raw in query.getall(name, [])]
    for name, value in values:
        low, high = INT_RANGES.get(name, ID_RANGE)
        if value is not None and not low <= value <= high:  # type: ignore[operator]
            errors[name] = N_("The number is out of range.")
    if errors:
        raise ValidationFailed(errors)


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else ""


def host_allowed(host_header: str, allowed: tuple[str, ...]) -> bool:
    """The Host header's name, without its port, against the allowed names ("*" allows any;
    "*.example.com" allows its subdomains)."""
    if "*" in allowed:
        return True
    name = host_header.rsplit("]", 1)[0] + "]" if host_header.startswith("[") else host_header.split(":")[0]
    name = name.lower()
    return bool(name) and any(
        name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])) for pattern in allowed
    )


class AllowedHostsMiddleware(ASGIMiddleware):
    """Refuses requests for a host name this deployment does not serve (Host header attacks)."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, settings: Settings) -> None:
        self.allowed = tuple(h.lower() for h in settings.allowed_hosts)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if not host_allowed(Request(scope).headers.get("host", ""), self.allowed):
            raise ValidationException("invalid host header")
        await next_app(scope, receive, send)


class LanguageMiddleware(ASGIMiddleware):
    """Picks the request's language (cookie, then Accept-Language) for gettext."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request: Request = Request(scope)
        i18n.set_language(
            i18n.negotiate(request.cookies.get(i18n.LANGUAGE_COOKIE), request.headers.get("accept-language"))
        )
        await next_app(scope, receive, send)


class AuthMiddleware(ASGIMiddleware):
    """Puts the Actor (or None) into scope["user"]; scope["auth"] says how it was found.
    scope["two_factor_setup"] marks a session whose user's role requires two-factor login, not
    set up yet (not in demo mode, whose demo staff log in with a password only): the access guard
    opens it only the set-up routes, and a page asked for is the set-up page instead. API tokens
    are a factor of their own: they stay as they are."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, settings: Settings) -> None:
        self.policy = settings.session_policy()
        self.two_factor_required = not settings.demo

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["path"].startswith(STATIC_PATH):  # public files: no session lookup (three per page view)
            scope["user"], scope["subscriber"], scope["auth"] = None, None, None  # type: ignore[typeddict-unknown-key]
            await next_app(scope, receive, send)
            return
        request: Request = Request(scope)
        address = client_address(scope)
        actor, kind = None, None
        authorization = request.headers.get("authorization", "")
        if scope["path"].startswith(SWITCH_PATH):  # switch keys only, never a user's credentials
            bearer = authorization.lower().startswith("bearer ")
            key = await key_for_token(authorization[7:].strip()) if bearer else None
            scope["user"], scope["subscriber"], scope["switch"] = None, None, key  # type: ignore[typeddict-unknown-key]
            scope["auth"] = "token"  # type: ignore[typeddict-unknown-key]
            await next_app(scope, receive, send)
            return
        if authorization.lower().startswith("bearer "):
            actor = await actor_for_api_token(authorization[7:].strip(), address=address)
            kind = "token" if actor else None
        elif token := request.cookies.get(SESSION_COOKIE):
            actor = await actor_for_session(token, address=address, policy=self.policy)
            kind = "session" if actor else None
        scope["user"] = actor
        scope["auth"] = kind  # type: ignore[typeddict-unknown-key]
        if kind == "session" and await self._setup_pending(actor):
            scope["two_factor_setup"] = True  # type: ignore[typeddict-unknown-key]
            handler = scope.get("route_handler")
            opt = handler.opt if handler is not None else {}
            staff_page = opt.get("access") not in (None, PUBLIC, SUBSCRIBER, SUBSCRIBER_ANY, SWITCH)
            if (
                scope["method"] == "GET"
                and not scope["path"].startswith("/api/")
                and staff_page
                and not opt.get(BEFORE_TWO_FACTOR)
            ):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 303,
                        "headers": [(b"location", TWO_FACTOR_SETUP_PATH.encode()), (b"content-length", b"0")],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
        subscriber = None
        if scope["path"].startswith(("/portal", "/api/v1/portal")) and (
            token := request.cookies.get(SUBSCRIBER_COOKIE)
        ):
            subscriber = await subscriber_for_session(token, self.policy)
        scope["subscriber"] = subscriber  # type: ignore[typeddict-unknown-key]
        await next_app(scope, receive, send)

    async def _setup_pending(self, actor: Actor | None) -> bool:
        """Whether this user must still set up two-factor login (one look-up, for admins and
        finance staff only)."""
        return (
            self.two_factor_required
            and actor is not None
            and twofactor.required(actor)
            and not await twofactor.is_enabled(actor.user_id)
        )


def csrf_binding(cookies: Mapping[str, str]) -> str:
    """What a CSRF token is bound to: the browser's staff and subscriber session cookies (empty
    before login). A token issued to one session, or before login, is worthless in another."""
    return f"{cookies.get(SESSION_COOKIE, '')}|{cookies.get(SUBSCRIBER_COOKIE, '')}"


def _sign(secret: str, nonce: str, binding: str) -> str:
    message = f"csrf\0{nonce}\0{binding}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def new_csrf_token(secret: str, binding: str = "") -> str:
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_sign(secret, nonce, binding)}"


def valid_csrf_token(secret: str, token: str | None, binding: str = "") -> bool:
    if not token or "." not in token or len(token) > 200:
        return False
    nonce, signature = token.rsplit(".", 1)
    return hmac.compare_digest(signature, _sign(secret, nonce, binding))


def _binding_after(cookies: Mapping[str, str], headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The binding the browser will have once it has applied this response's Set-Cookie headers
    (a login sets a session cookie, a logout deletes it)."""
    names = (SESSION_COOKIE, SUBSCRIBER_COOKIE)
    after = {name: cookies.get(name, "") for name in names}
    for key, value in headers:
        if key.lower() != b"set-cookie":
            continue
        first, _sep, attributes = value.decode("latin-1").partition(";")
        name, _eq, cookie_value = first.strip().partition("=")
        if name in names:
            deleted = cookie_value in ("", '""') or "max-age=0" in attributes.lower().replace(" ", "")
            after[name] = "" if deleted else cookie_value
    return csrf_binding(after)


class CsrfMiddleware(ASGIMiddleware):
    """Signed double-submit token bound to the session: a cookie, echoed in the X-CSRF-Token
    header (htmx sends it from hx-headers on <body>) or the csrf_token form field. The signature
    covers the session cookies (`csrf_binding`), so a token only works in the session it was
    issued to; a response that logs in or out (sets or deletes a session cookie) rotates it.
    API-token requests are exempt: a browser never attaches a bearer token by itself."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, settings: Settings) -> None:
        self.secret = settings.secret_key
        self.secure = settings.secure_cookies

    def _cookie_header(self, token: str) -> tuple[bytes, bytes]:
        value = f"{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if self.secure else "")
        return b"set-cookie", value.encode()

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request: Request = Request(scope, receive)
        if scope["path"].startswith(SWITCH_PATH):  # no browser, no cookies: nothing to protect
            await next_app(scope, receive, send)
            return
        cookies = request.cookies
        binding = csrf_binding(cookies)
        cookie = cookies.get(CSRF_COOKIE)
        valid_cookie = valid_csrf_token(self.secret, cookie, binding)
        if valid_cookie:  # also for the refusal's error page, whose forms (log out, language) need it
            scope["csrf_token"] = cookie  # type: ignore[typeddict-unknown-key]
        if scope["method"] not in SAFE_METHODS and scope.get("auth") != "token":
            sent = request.headers.get(CSRF_HEADER)
            if not sent and request.content_type[0] in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.form()  # cached in the scope: the handler reads it again
                sent = form.get(CSRF_FIELD)
            if not (valid_cookie and isinstance(sent, str) and hmac.compare_digest(sent, cookie or "")):
                raise CsrfRejected()
        token = cookie if valid_cookie and cookie else new_csrf_token(self.secret, binding)
        scope["csrf_token"] = token  # type: ignore[typeddict-unknown-key]

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                issued = token
                after = _binding_after(cookies, headers)
                if after != binding:  # logged in or out: the old token must not outlive its session
                    issued = new_csrf_token(self.secret, after)
                if issued != cookie:
                    headers.append(self._cookie_header(issued))
                message["headers"] = headers
            await send(message)

        await next_app(scope, receive, send_with_cookie)


def session_cookie_header(settings: Settings, token: str | None, key: str = SESSION_COOKIE) -> dict[str, Any]:
    """Arguments for Response.set_cookie; an empty token deletes the cookie."""
    return dict(
        key=key,
        value=token or "",
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        max_age=settings.session_max_hours * 3600 if token else 0,
    )
