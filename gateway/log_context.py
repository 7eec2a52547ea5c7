"""The case a request is about, bound to every log line written while it is served (the
handlers', Temporal's client's, uvicorn's access line): the path's case number, or the
case a request has just opened (named for the access log, gateway.audit)."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bound_contextvars

from gateway.audit.recorder import CASE_OF_REQUEST

CASE_PARAMETER = "case_id"


class CaseLogContextMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        named = (scope.get("path_params") or {}).get(CASE_PARAMETER)
        if named is not None:
            with bound_contextvars(case_id=str(named)):
                await next_app(scope, receive, send)
            return

        async def send_naming_opened(message: Message) -> None:
            opened = scope.get(CASE_OF_REQUEST)
            if message["type"] == "http.response.start" and isinstance(opened, str):
                with bound_contextvars(case_id=opened):
                    await send(message)
                return
            await send(message)

        await next_app(scope, receive, send_naming_opened)
