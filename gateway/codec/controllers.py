"""POST /codec/decode and /codec/encode, Temporal's remote codec protocol: what the
Temporal web UI (started with --ui-codec-endpoint <gateway>/codec) and `temporal
--codec-endpoint` call to show sealed payloads. Admins only, by bearer token or by their
console session; each call is recorded in the access log."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.exceptions import HTTPException
from litestar.params import JSONBody

from gateway.audit.recorder import access
from gateway.auth import requires
from gateway.codec.schemas import PayloadsBody
from gateway.codec.service import Codec

CODEC_PATH = "/codec"
_WHO = ("Admins only: `Authorization: Bearer <token>` of an admin account, or the "
        "admin's console session cookie (from the Temporal UI's origin, with "
        "credentials). Each call is recorded in the access log.")


def _json_only(request: Request[Any, Any, Any]) -> None:
    # A cross-site form cannot send JSON: with the session cookie accepted here, this
    # stands where the console's CSRF token would.
    if request.content_type[0] != "application/json":
        raise HTTPException(status_code=415, detail="send Content-Type: application/json")


class CodecController(Controller):
    path = CODEC_PATH
    tags = ["codec"]
    guards = [requires("admin")]

    @post("/decode", status_code=200, opt=access("decode_payloads"),
          summary="Open sealed Temporal payloads (remote codec protocol)", description=_WHO)
    async def decode(
        self, request: Request[Any, Any, Any], data: JSONBody[PayloadsBody], codec_service: Codec
    ) -> PayloadsBody:
        _json_only(request)
        return await codec_service.decode(data)

    @post("/encode", status_code=200, opt=access("encode_payloads"),
          summary="Seal Temporal payloads (remote codec protocol)", description=_WHO)
    async def encode(
        self, request: Request[Any, Any, Any], data: JSONBody[PayloadsBody], codec_service: Codec
    ) -> PayloadsBody:
        _json_only(request)
        return await codec_service.encode(data)
