"""Authentication and roles: bearer tokens for the API, a session for the console.

The API (/api/...) takes `Authorization: Bearer <JWT>` only, never a cookie, so a browser
can't be tricked into calling it and it needs no CSRF token. The console takes a
session kept on the server (the cookie only names it, so logging out ends it) and, being
a cookie, CSRF tokens on every form. Both resolve to
an Account; guards on controllers check its roles. Public paths (health, metrics, the
OpenAPI document, static files, the citizen's tracking page, login) take neither.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

import msgspec
from litestar import Request, Router, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    TooManyRequestsException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AuthenticationResult, DefineMiddleware
from litestar.middleware.rate_limit import RateLimitConfig, RateLimitMiddleware
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.params import JSONBody
from litestar.security.jwt import JWTAuth, JWTAuthenticationMiddleware, Token
from litestar.security.session_auth import SessionAuth
from litestar.types import Empty, Message, Receive, Scope, ScopeSession, Send
from litestar.utils.dataclass import extract_dataclass_items

from gateway.accounts import Account, AccountBook, Role
from gateway.centres import centre_policy
from gateway.shared_state import SESSION_STORE

# Short-lived: a leaked token is soon worthless. A client renews by asking TOKEN_PATH again.
API_TOKEN_TTL = timedelta(minutes=30)
SESSION_MAX_AGE = 10 * 3600  # a working day at the window, then log in again
SERVICE_PREFIX = "service:"
# Paths open to anyone: regexes matched against the request path.
PUBLIC_PATHS = (
    "^/healthz$",
    "^/metrics",
    "^/schema",
    "^/static/",
    "^/track",
    "^/verify",
    "^/login$",
    "^/lang/",
    "^/favicon.ico$",
)
TOKEN_PATH = "/api/auth/token"
# How long a bearer token's account, once read, is believed without reading it again: a
# change made by another process (`onething account`, another gateway) is seen within it.
ACCOUNT_CACHE_SECONDS = 5.0
ACCOUNTS_REMEMBERED = 10_000
CODEC_PREFIX = "/codec"  # Temporal's remote codec (gateway.codec)
TRUSTED_PROXIES_STATE = "trusted_proxies"
BEARER = "bearer"


def redact_path(path: str) -> str:
    """A request path fit for an access log: the query string dropped and a verification
    code in /verify/<code> masked."""
    path = path.partition("?")[0]
    return re.sub(r"^/verify/[^/]+", "/verify/…", path)


def client_address(request: Request[Any, Any, Any]) -> str:
    """The client's address as the gateway was configured to trust it: the connection's
    peer, unless that peer is a trusted proxy; then the nearest X-Forwarded-For entry
    that is not itself a trusted proxy. Without trusted proxies no header is believed."""
    peer = request.client.host if request.client else "127.0.0.1"
    trusted: tuple[Any, ...] = request.app.state.get(TRUSTED_PROXIES_STATE, ())
    if not trusted or not _within(peer, trusted):
        return peer
    forwarded = [a.strip() for h in request.headers.getall("x-forwarded-for", [])
                 for a in h.split(",") if a.strip()]
    for address in reversed(forwarded):
        if not _within(address, trusted):
            return address
    return forwarded[0] if forwarded else peer


def _within(address: str, networks: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


def proxy_networks(proxies: Iterable[str]) -> tuple[Any, ...]:
    """Trusted proxies as networks: addresses or CIDR blocks ("10.0.0.0/8")."""
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


class DoorLimitMiddleware(RateLimitMiddleware):
    """Litestar's limiter with the Retry-After a refused client needs (RFC 9110 §10.2.3)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except TooManyRequestsException as exc:
            headers = dict(exc.headers or {})
            wait = headers.get(self.config.rate_limit_reset_header_key, "60")
            headers["Retry-After"] = str(max(1, int(wait)))
            raise TooManyRequestsException(detail=exc.detail, headers=headers) from None


def door_limit(door: str, per_minute: int) -> RateLimitConfig:
    """One door's own limit per client address: each door counts in its own store, so a
    citizen locked out of /track does not lock the clerk out of /login."""
    return RateLimitConfig(rate_limit=("minute", per_minute), store=f"limit-{door}",
                           identifier_for_request=client_address,
                           middleware_class=DoorLimitMiddleware)


# Guessing a password, a tracking code or a verification code is slowed per door.
LOGIN_LIMIT = door_limit("login", 10)
TOKEN_LIMIT = door_limit("token", 10)
TRACK_LIMIT = door_limit("track", 20)
VERIFY_LIMIT = door_limit("verify", 30)


NEW_SESSION_ID = "onething.new_session_id"


def renew_session_id(request: Request[Any, Any, Any]) -> None:
    """Give the session a fresh id when it is stored (at login): an id someone planted in
    the browser before never names a logged-in session."""
    request.scope[NEW_SESSION_ID] = True  # type: ignore[literal-required]


class ConsoleSessionBackend(ServerSideSessionBackend):
    """Litestar's server-side sessions, storing nothing for a visitor with an empty session
    (no store entry per anonymous request), ending a session that was cleared, and never
    adopting an id this gateway does not hold or was told to renew."""

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message,
        connection: ASGIConnection[Any, Any, Any, Any],
    ) -> None:
        sent = connection.cookies.get(self.config.key)
        sent = sent if sent and sent != "null" else None
        if scope_session is Empty or not scope_session:
            if sent is not None:  # logged out: delete it on the server, expire the cookie
                await super().store_in_message(Empty, message, connection)
            return
        store = self.config.get_store_from_app(connection.scope["app"])
        session_id = self.get_session_id(connection)
        renew = connection.scope.get(NEW_SESSION_ID, False)
        if session_id == sent and (renew or not await store.exists(session_id)):
            await self.delete(session_id, store=store)
            session_id = self.generate_session_id()
        await self.set(session_id=session_id, data=self.serialize_data(scope_session),
                       store=store)
        params = dict(extract_dataclass_items(self.config, exclude_none=True,
                                              include=Cookie.__dict__.keys()))
        cookie = Cookie(value=session_id, key=self.config.key, **params)
        MutableScopeHeaders.from_message(message).add("Set-Cookie", cookie.to_header(header=""))


class ConsoleSessionConfig(ServerSideSessionConfig):
    _backend_class = ConsoleSessionBackend


class BearerOnlyMiddleware(JWTAuthenticationMiddleware):
    """Litestar's JWT middleware takes whatever word precedes the token; this one takes
    `Authorization: Bearer <JWT>` only."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        scheme, _, token = connection.headers.get(self.auth_header, "").partition(" ")
        if scheme.lower() != BEARER or not token.strip():
            raise NotAuthorizedException("send Authorization: Bearer <token>")
        return await super().authenticate_request(connection)


class BearerOrSessionMiddleware(BearerOnlyMiddleware):
    """For the codec, which both programs (a bearer token) and the Temporal web UI in an
    admin's browser (the console session's cookie) call: the token when one is sent,
    else the session."""

    def __init__(
        self, *args: Any,
        session_user: Callable[[dict[str, Any], ASGIConnection[Any, Any, Any, Any]],
                               Account | None],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.session_user = session_user

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        if connection.headers.get(self.auth_header):
            return await super().authenticate_request(connection)
        session = connection.scope.get("session")
        user = self.session_user(session, connection) if isinstance(session, dict) else None
        if user is None:
            raise NotAuthorizedException(
                "log in to the console as an admin, or send Authorization: Bearer <token>")
        return AuthenticationResult(user=user, auth=None)


def _service_of(token: Token) -> Account | None:
    """A service's token carries its roles and centres; None for an account's."""
    if not token.sub.startswith(SERVICE_PREFIX):
        return None
    roles = tuple(r for r in token.extras.get("roles", ()) if isinstance(r, str))
    centres = tuple(c for c in token.extras.get("centres", ()) if isinstance(c, str))
    return Account(username=token.sub, display_name=token.sub, roles=roles,  # type: ignore[arg-type]
                   centres=centres)


def derive_key(secret: bytes, purpose: str) -> bytes:
    """One installation secret, a separate key per use: a session key never signs a token."""
    return hmac.new(secret, purpose.encode(), hashlib.sha256).digest()


class TokenRequest(msgspec.Struct, kw_only=True, frozen=True):
    username: str
    password: str


class TokenIssued(msgspec.Struct, kw_only=True, frozen=True):
    access_token: str
    token_type: str
    expires_in: int
    roles: tuple[Role, ...]


Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


class RoleGuard:
    """A guard admitting accounts with any of `roles` (admin always). A class, so the
    route table's test can tell which roles each endpoint names."""

    def __init__(self, roles: tuple[Role, ...]) -> None:
        self.roles = roles

    # Async although it awaits nothing: Litestar runs a sync guard in a thread of its own.
    async def __call__(
        self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
    ) -> None:
        user = connection.scope.get("user")
        if not isinstance(user, Account):
            raise NotAuthorizedException("log in first")
        if not user.has_any(*self.roles):
            raise PermissionDeniedException(f"this needs the role {' or '.join(self.roles)}")


def requires(*roles: Role) -> Guard:
    """A guard admitting accounts with any of `roles` (admin always)."""
    return RoleGuard(roles)


def current_account(request: Request[Any, Any, Any]) -> Account:
    user = request.scope.get("user")
    if not isinstance(user, Account):
        raise NotAuthorizedException("log in first")
    return user


def caller_key(way_in: str, account: Account, idempotency_key: str | None) -> str | None:
    """An idempotency key names a request of one caller: another caller's same key (or
    the same caller's through another way in, "api" or "console") is another request."""
    return f"{way_in}:{account.username}:{idempotency_key}" if idempotency_key else None


class RecentAccounts:
    """The accounts bearer tokens named in the last ACCOUNT_CACHE_SECONDS. Every API
    request names one: reading the store each time costs a thread and a read per click.
    A change through this process's book (its generation) is seen at once; an unknown
    or inactive account is never remembered, so it is asked about each time."""

    def __init__(self, accounts: AccountBook, seconds: float = ACCOUNT_CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._accounts = accounts
        self._seconds = seconds
        self._clock = clock
        self._seen: dict[str, tuple[float, int, Account]] = {}

    async def get(self, username: str) -> Account | None:
        now, generation = self._clock(), self._accounts.generation
        seen = self._seen.get(username)
        if seen is not None and seen[0] > now and seen[1] == generation:
            return seen[2]
        account = await asyncio.to_thread(self._accounts.get, username)
        if account is None:
            self._seen.pop(username, None)
            return None
        if len(self._seen) >= ACCOUNTS_REMEMBERED:
            self._seen.clear()  # a flood of accounts: start again rather than grow
        self._seen[username] = (now + self._seconds, generation, account)
        return account


class GatewaySecurity:
    """The gateway's two ways in, built from the installation secret and the accounts."""

    def __init__(
        self, secret: bytes, accounts: AccountBook, *, secure_cookies: bool = True
    ) -> None:
        if len(secret) < 16:
            raise ValueError("secret: at least 16 bytes")
        self.accounts = accounts
        self.recent_accounts = RecentAccounts(accounts)
        self.secret = secret
        self.secure_cookies = secure_cookies
        self.jwt = JWTAuth[Account, Token](
            token_secret=derive_key(secret, "api-token").hex(),
            retrieve_user_handler=self._user_of_token,
            default_token_expiration=API_TOKEN_TTL,
            authentication_middleware_class=BearerOnlyMiddleware,
            # Applied to the API's router only (api_router): the console has its session.
            exclude=[f"^{TOKEN_PATH}$"],
        )
        self.session = SessionAuth[Account, Any](
            # The session lives in the app's "sessions" store, the cookie holds its id:
            # clearing it at logout ends it, whoever kept a copy of the cookie.
            session_backend_config=ConsoleSessionConfig(
                store=SESSION_STORE,
                key="onething-session",
                max_age=SESSION_MAX_AGE,
                httponly=True,
                secure=secure_cookies,
                samesite="lax",
                exclude=["^/api/"],
            ),
            retrieve_user_handler=self._user_of_session,
            # The codec authenticates on its own router (bearer token or this session).
            exclude=["^/api/", f"^{CODEC_PREFIX}/", *PUBLIC_PATHS],
        )

    def api_router(self, *handlers: Any) -> Router:
        """The API's handlers behind bearer-token authentication, with the token endpoint."""
        return Router(
            path="/",
            route_handlers=[self._token_handler(), *handlers],
            middleware=[self.jwt.middleware],
            security=[self.jwt.security_requirement],
        )

    def codec_router(self, *handlers: Any, middleware: Sequence[Any] = ()) -> Router:
        """The codec's handlers behind a bearer token or the console's session."""
        jwt = self.jwt.middleware
        either = DefineMiddleware(BearerOrSessionMiddleware, *jwt.args,
                                  session_user=self._user_of_session, **jwt.kwargs)
        return Router(path="/", route_handlers=list(handlers), middleware=[*middleware, either],
                      security=[self.jwt.security_requirement])

    @property
    def csrf_secret(self) -> str:
        return derive_key(self.secret, "csrf").hex()

    def mint_token(
        self, subject: str, roles: tuple[Role, ...] = (), ttl: timedelta = API_TOKEN_TTL,
        centres: tuple[str, ...] = (),
    ) -> str:
        """A bearer token; a service subject ("service:<name>") carries its roles and the
        centres it works for in the token (EVERY_CENTRE: a city-wide service), an
        account's roles and centres are read afresh (at most ACCOUNT_CACHE_SECONDS old)."""
        return self.jwt.create_token(
            identifier=subject, token_expiration=ttl,
            token_extras={"roles": list(roles), "centres": list(centres)},
        )

    def account_of_token(self, encoded: str) -> Account | None:
        """The account a bearer token names, if it is valid and unexpired (for the CLI,
        which takes a token instead of a password)."""
        from litestar.exceptions import NotAuthorizedException as Refused

        try:
            token = self.jwt.token_cls.decode(
                encoded_token=encoded.strip(), secret=self.jwt.token_secret,
                algorithm=self.jwt.algorithm)
        except Refused:
            return None
        service = _service_of(token)
        return service if service is not None else self.accounts.get(token.sub)

    async def _user_of_token(
        self, token: Token, _: ASGIConnection[Any, Any, Any, Any]
    ) -> Account | None:
        # Async, so Litestar calls it on the loop rather than in a thread of its own.
        service = _service_of(token)
        return service if service is not None else await self.recent_accounts.get(token.sub)

    def _user_of_session(
        self, session: dict[str, Any], _: ASGIConnection[Any, Any, Any, Any]
    ) -> Account | None:
        username = session.get("username")
        return self.accounts.get(username) if isinstance(username, str) else None

    def _token_handler(self) -> Any:
        security = self

        @post(TOKEN_PATH, tags=["auth"], summary="Exchange a username and password for a token",
              status_code=200, security=[], middleware=[TOKEN_LIMIT.middleware],
              opt=centre_policy("none"),
              description=(
                  f"A bearer token, valid for `expires_in` seconds "
                  f"({int(API_TOKEN_TTL.total_seconds())}). Send it as "
                  "`Authorization: Bearer <access_token>`; no other scheme is accepted. "
                  "To renew, ask this endpoint again with the password before the token "
                  "expires; an expired token is answered 401. At most "
                  f"{TOKEN_LIMIT.rate_limit[1]} tries a minute per client address "
                  "(429 with Retry-After)."))
        async def issue_token(data: JSONBody[TokenRequest]) -> TokenIssued:
            account = security.accounts.authenticate(data.username, data.password)
            if account is None:
                raise NotAuthorizedException("unknown username or wrong password")
            return TokenIssued(
                access_token=security.mint_token(account.username),
                token_type=BEARER,
                expires_in=int(API_TOKEN_TTL.total_seconds()),
                roles=account.roles,
            )

        return issue_token
