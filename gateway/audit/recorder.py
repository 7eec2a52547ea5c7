"""Recording accesses in one place: a handler declares what its request is,
`opt={ACCESS: "read_case"}`, and this middleware appends who, roles, centre, what, which
case, when, from where and the answer's status to the access log before the answer goes
out. If the log cannot be written the answer is refused (503): a read of a resident's
data is never served unrecorded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from friction.store import ACCESS_ACTIONS, AccessAction, AccessEntry, AccessLogStore
from gateway.accounts import Account
from gateway.auth import client_address

log = logging.getLogger(__name__)

ACCESS = "access"  # the handler's opt key naming its action
CASE_OF_REQUEST = "onething.audited_case"  # a case the request names outside its path
_REFUSED = (b'{"status":503,"title":"Service Unavailable",'
            b'"detail":"the access log could not be written"}')


def access(action: AccessAction) -> dict[str, Any]:
    """A handler's `opt` declaring what its requests are recorded as."""
    if action not in ACCESS_ACTIONS:
        raise ValueError(f"access: one of {', '.join(ACCESS_ACTIONS)}")
    return {ACCESS: action}


def audited_case(request: Request[Any, Any, Any], case_id: str) -> None:
    """Name the case a request acts on when its path does not (a case just opened)."""
    request.scope[CASE_OF_REQUEST] = case_id  # type: ignore[literal-required]


class AccessLogMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(
        self, store: AccessLogStore, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.store = store
        self.clock = clock

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        handler = scope.get("route_handler")
        action = handler.opt.get(ACCESS) if handler is not None else None
        if action is None:
            await next_app(scope, receive, send)
            return
        refused = False

        async def recorded(message: Message) -> None:
            nonlocal refused
            if refused:
                return  # the rest of an answer that was replaced by the refusal
            if message["type"] == "http.response.start":
                entry = self.entry(scope, action, message["status"])
                if entry is not None:
                    try:
                        await asyncio.to_thread(self.store.record_access, entry)
                    except Exception:
                        log.exception("access log: %s on case %s not recorded",
                                      entry.action, entry.case_id)
                        refused = True
                        start: HTTPResponseStartEvent = {
                            "type": "http.response.start", "status": 503,
                            "headers": [(b"content-type", b"application/problem+json"),
                                        (b"content-length", str(len(_REFUSED)).encode())],
                        }
                        await send(start)
                        await send({"type": "http.response.body", "body": _REFUSED,
                                    "more_body": False})
                        return
            await send(message)

        await next_app(scope, receive, recorded)

    def entry(self, scope: Scope, action: AccessAction, status: int) -> AccessEntry | None:
        """The entry for an authenticated request; None for an anonymous one, which the
        handler's guard refused before it could read anything."""
        user = scope.get("user")
        if not isinstance(user, Account):
            return None
        params = scope.get("path_params") or {}
        case_id = params.get("case_id") or scope.get(CASE_OF_REQUEST)
        return AccessEntry(
            at=self.clock(), username=user.username, roles=tuple(user.roles),
            centre=user.centre, action=action,
            case_id=str(case_id) if case_id else None,
            client=client_address(Request(scope)), status=status,
        )
