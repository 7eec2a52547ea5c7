"""Cross-origin calls to the codec from the Temporal web UI's origin, with credentials,
and from nowhere else. Litestar's CORS configuration applies to a whole app; the codec
alone is open to that origin, so its rules (CORSConfig) are applied on its router here:
no console page or API answer is readable by the UI's scripts."""

from __future__ import annotations

from litestar.config.cors import CORSConfig
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

# What the Temporal UI sends: JSON, the namespace, and a bearer token where configured.
CODEC_HEADERS = ["content-type", "x-namespace", "authorization"]


def codec_cors(origins: tuple[str, ...]) -> CORSConfig:
    return CORSConfig(allow_origins=list(origins), allow_methods=["POST", "OPTIONS"],
                      allow_headers=CODEC_HEADERS, allow_credentials=True)


class CodecCorsMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, config: CORSConfig) -> None:
        self.config = config

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        origin = Headers.from_scope(scope).get("origin")
        allowed = origin is not None and self.config.is_origin_allowed(origin)
        if scope.get("method") == "OPTIONS" and origin is not None:
            await self._preflight(scope, send, origin if allowed else None)
            return
        if not allowed or origin is None:
            await next_app(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                headers.update(self.config.simple_headers)
                headers["Access-Control-Allow-Origin"] = origin
                headers["Vary"] = "Origin"
            await send(message)

        await next_app(scope, receive, with_cors)

    async def _preflight(self, scope: Scope, send: Send, origin: str | None) -> None:
        asked = Headers.from_scope(scope).get("access-control-request-method", "POST")
        if origin is None or asked not in self.config.allow_methods:
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        headers = {**self.config.preflight_headers, "Access-Control-Allow-Origin": origin}
        await send({"type": "http.response.start", "status": 204,
                    "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
