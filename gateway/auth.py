"""Authentication and roles: bearer tokens for the API, a session for the console.

The API (/api/...) takes `Authorization: Bearer <JWT>` only, never a cookie, so a browser
can't be tricked into calling it and it needs no CSRF token. The console takes an
encrypted session cookie and, being a cookie, CSRF tokens on every form. Both resolve to
an Account; guards on controllers check its roles. Public paths (health, metrics, the
OpenAPI document, static files, the citizen's tracking page, login) take neither.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import msgspec
from litestar import Request, Router, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.params import JSONBody
from litestar.security.jwt import JWTAuth, Token
from litestar.security.session_auth import SessionAuth

from gateway.accounts import Account, AccountBook, Role

API_TOKEN_TTL = timedelta(hours=12)
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
# Guessing a password or a tracking code is slowed per client address.
GUESS_LIMIT = RateLimitConfig(rate_limit=("minute", 30))


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


Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]


def requires(*roles: Role) -> Guard:
    """A guard admitting accounts with any of `roles` (admin always)."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        if not isinstance(user, Account):
            raise NotAuthorizedException("log in first")
        if not user.has_any(*roles):
            raise PermissionDeniedException(f"this needs the role {' or '.join(roles)}")

    return guard


def current_account(request: Request[Any, Any, Any]) -> Account:
    user = request.scope.get("user")
    if not isinstance(user, Account):
        raise NotAuthorizedException("log in first")
    return user


def caller_key(way_in: str, account: Account, idempotency_key: str | None) -> str | None:
    """An idempotency key names a request of one caller: another caller's same key (or
    the same caller's through another way in, "api" or "console") is another request."""
    return f"{way_in}:{account.username}:{idempotency_key}" if idempotency_key else None


class GatewaySecurity:
    """The gateway's two ways in, built from the installation secret and the accounts."""

    def __init__(self, secret: bytes, accounts: AccountBook) -> None:
        if len(secret) < 16:
            raise ValueError("secret: at least 16 bytes")
        self.accounts = accounts
        self.secret = secret
        self.jwt = JWTAuth[Account, Token](
            token_secret=derive_key(secret, "api-token").hex(),
            retrieve_user_handler=self._user_of_token,
            default_token_expiration=API_TOKEN_TTL,
            # Applied to the API's router only (api_router): the console has its session.
            exclude=[f"^{TOKEN_PATH}$"],
        )
        self.session = SessionAuth[Account, Any](
            session_backend_config=CookieBackendConfig(
                secret=derive_key(secret, "console-session"),
                key="onething-session",
                max_age=SESSION_MAX_AGE,
                httponly=True,
                samesite="lax",
                exclude=["^/api/"],
            ),
            retrieve_user_handler=self._user_of_session,
            exclude=["^/api/", *PUBLIC_PATHS],
        )

    def api_router(self, *handlers: Any) -> Router:
        """The API's handlers behind bearer-token authentication, with the token endpoint."""
        return Router(
            path="/",
            route_handlers=[self._token_handler(), *handlers],
            middleware=[self.jwt.middleware],
            security=[self.jwt.security_requirement],
        )

    @property
    def csrf_secret(self) -> str:
        return derive_key(self.secret, "csrf").hex()

    def mint_token(
        self, subject: str, roles: tuple[Role, ...] = (), ttl: timedelta = API_TOKEN_TTL
    ) -> str:
        """A bearer token; a service subject ("service:<name>") carries its roles in the
        token, an account's roles are read afresh on every request."""
        return self.jwt.create_token(
            identifier=subject, token_expiration=ttl, token_extras={"roles": list(roles)}
        )

    def _user_of_token(self, token: Token, _: ASGIConnection[Any, Any, Any, Any]) -> Account | None:
        if token.sub.startswith(SERVICE_PREFIX):
            roles = tuple(r for r in token.extras.get("roles", ()) if isinstance(r, str))
            return Account(username=token.sub, display_name=token.sub, roles=roles)  # type: ignore[arg-type]
        return self.accounts.get(token.sub)

    def _user_of_session(
        self, session: dict[str, Any], _: ASGIConnection[Any, Any, Any, Any]
    ) -> Account | None:
        username = session.get("username")
        return self.accounts.get(username) if isinstance(username, str) else None

    def _token_handler(self) -> Any:
        security = self

        @post(TOKEN_PATH, tags=["auth"], summary="Exchange a username and password for a token",
              status_code=200, security=[], middleware=[GUESS_LIMIT.middleware])
        async def issue_token(data: JSONBody[TokenRequest]) -> TokenIssued:
            account = security.accounts.authenticate(data.username, data.password)
            if account is None:
                raise NotAuthorizedException("unknown username or wrong password")
            return TokenIssued(
                access_token=security.mint_token(account.username),
                token_type="bearer",
                expires_in=int(API_TOKEN_TTL.total_seconds()),
                roles=account.roles,
            )

        return issue_token
