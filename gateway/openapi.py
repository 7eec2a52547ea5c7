"""The OpenAPI document as the API really answers: every problem-details status an
operation can return (one shared Problem schema), every constraint a request body's
fields carry (msgspec's own JSON Schema, nested lengths and patterns included), the
identifiers this installation knows (centres, bundles, channels) as enums, and the bodies
Litestar cannot see (the friction batch, the OCEL export).

Litestar builds the document from the handlers; this render plugin amends it once, when
it is first served."""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable
from typing import Any

import msgspec
from litestar import Request
from litestar.openapi.plugins import JsonRenderPlugin

from gateway.auth import CODEC_PREFIX, TOKEN_PATH
from gateway.errors import PROBLEM_MEDIA_TYPE, RETRY_AFTER_SECONDS, Problem

_REF = "#/components/schemas/{name}"
_DESCRIPTIONS = {
    400: "Malformed request: a wrong type or a missing field (`field` names it)",
    401: "No valid bearer token, or wrong credentials",
    403: "The account lacks the role this operation needs",
    404: "No such case or stuck point",
    409: "Not possible now: the case is closed, the step is not current, the item "
         "moved meanwhile, or (opening a case) the citizen has an open case of the bundle "
         "(`existing_case`)",
    413: "The request body is larger than this operation takes",
    415: "The body is not `application/json`",
    422: "Invalid field: too long, of the wrong shape, unknown here, or refused by the "
         "rules (`field` names it)",
    429: "Too many attempts from this client address; retry after `Retry-After` seconds",
    500: "Internal error, logged with the `trace_id` given",
    503: "Temporal or its workers are away or restarting; nothing was changed, retry after "
         "`Retry-After` seconds",
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying",
                                "schema": {"type": "integer",
                                           "example": RETRY_AFTER_SECONDS}}}
# Operations that reach Temporal (and so may answer 503): cases and the register.
_TEMPORAL_PREFIXES = ("/api/cases", "/api/worklist", "/api/cant-get-it-done")


def statuses_of(path: str, method: str) -> list[int]:
    """The problem statuses an operation may answer with."""
    codes = {400, 422, 500}
    if path != TOKEN_PATH:
        codes |= {401, 403}
    else:  # the token endpoint: wrong credentials, and a limit per client address
        codes |= {401, 429}
    if method == "post":
        codes.add(413)
    if "{" in path:
        codes.add(404)
    if "{" in path and (method == "post" or path.startswith(_TEMPORAL_PREFIXES)):
        codes.add(409)  # a case or item that closed or moved (read: a closed case)
    if path.rstrip("/") == "/api/cases" and method == "post":
        codes.add(409)  # the citizen's open case of the bundle, unless confirmed
    if path.startswith(_TEMPORAL_PREFIXES):
        codes.add(503)
    if path.startswith(CODEC_PREFIX):
        codes.add(415)  # a JSON body only: it stands where a form's CSRF token would
    return sorted(codes)


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _DESCRIPTIONS[status],
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _REF.format(name="Problem")}}},
    }
    if status in (429, 503):
        response["headers"] = _RETRY_AFTER
    return response


def _set_enums(schema: dict[str, Any], enums: dict[str, list[str]]) -> None:
    properties = schema.get("properties", {})
    for name, values in enums.items():
        if name in properties and values:
            properties[name]["enum"] = values


def amend(
    document: dict[str, Any],
    *,
    bodies: Iterable[type],
    enums: dict[str, list[str]],
    request_bodies: dict[tuple[str, str], str],
    response_bodies: dict[tuple[str, str], str],
) -> dict[str, Any]:
    """`document` with the problems, the bodies' full schemas and the installation's
    identifiers. `bodies` are the request (and extra response) types whose msgspec schema
    replaces Litestar's; `enums` the allowed values of body properties and query
    parameters by name; `request_bodies` and `response_bodies` name the schema of an
    operation (path, method) whose handler reads or writes raw bytes."""
    amended = copy.deepcopy(document)
    components = amended.setdefault("components", {}).setdefault("schemas", {})
    body_types = list(bodies)
    _, schemas = msgspec.json.schema_components([Problem, *body_types], ref_template=_REF)
    components.update(schemas)
    for kind in body_types:
        _set_enums(components[kind.__name__], enums)
    for path, operations in amended.get("paths", {}).items():
        if not path.startswith(("/api/", f"{CODEC_PREFIX}/")):
            continue
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status in [s for s in responses if s[0] in "45"]:
                del responses[status]  # Litestar's guess, not what the API sends
            for status in statuses_of(path, method):
                responses[str(status)] = _problem_response(status)
            for parameter in operation.get("parameters", []):
                values = enums.get(parameter.get("name", ""))
                if values and parameter.get("in") == "query":
                    parameter.setdefault("schema", {})["enum"] = values
            if (name := request_bodies.get((path, method))) is not None:
                operation["requestBody"] = {"required": True, "content": {
                    "application/json": {"schema": {"$ref": _REF.format(name=name)}}}}
            if (name := response_bodies.get((path, method))) is not None:
                for status, response in responses.items():
                    if status.startswith("2"):
                        response["content"] = {"application/json": {
                            "schema": {"$ref": _REF.format(name=name)}}}
    return amended


class AmendedJsonRenderPlugin(JsonRenderPlugin):
    """Serves /schema/openapi.json amended by `amend` (computed once, on first request)."""

    def __init__(
        self,
        *,
        bodies: Iterable[type],
        enums: dict[str, Collection[str]],
        request_bodies: dict[tuple[str, str], str] | None = None,
        response_bodies: dict[tuple[str, str], str] | None = None,
    ) -> None:
        super().__init__()
        self._bodies = tuple(bodies)
        self._enums = enums  # read when first served: the accounts' centres by then
        self._request_bodies = request_bodies or {}
        self._response_bodies = response_bodies or {}
        self._rendered: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._rendered is None:
            enums = {name: sorted(values) for name, values in self._enums.items()}
            amended = amend(openapi_schema, bodies=self._bodies, enums=enums,
                            request_bodies=self._request_bodies,
                            response_bodies=self._response_bodies)
            self._rendered = self.render_json(request, amended)
        return self._rendered
