"""The access log in the console, for auditors: who read or changed which case, when and
from where, filtered by case, account and period. The work is gateway.audit.service's,
as for the JSON API."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.response import Template

from gateway.audit.service import (
    AccessLog,
    CaseFilter,
    InstantFilter,
    LimitFilter,
    UsernameFilter,
)
from gateway.auth import requires
from gateway.centres import centre_policy
from gateway.console.pages import N_, Refusal, page, problem_field, refusal_words

ACTION_WORDS = {
    "read_case": N_("Read the case"),
    "read_notice": N_("Read the one-time notice"),
    "read_history": N_("Read the decoded history"),
    "decode_payloads": N_("Decoded payloads for the Temporal UI"),
    "encode_payloads": N_("Encoded payloads for the Temporal UI"),
    "open_case": N_("Opened the case"),
    "submit_fields": N_("Entered form values"),
    "record_material": N_("Recorded a material"),
    "record_trip": N_("Recorded a return visit"),
    "record_milestone": N_("Recorded a milestone"),
    "write_note": N_("Wrote a notebook entry"),
    "close_case": N_("Closed the case"),
    "serve_elsewhere": N_("Served the case from another centre"),
    "search": N_("Searched by ID number"),
    "read_worklist": N_("Read the worklist"),
}


class AccessLogPage(Controller):
    path = "/console/access-log"
    guards = [requires("auditor")]
    opt = centre_policy("none")  # who read which case: case numbers, no personal value

    @get("/")
    async def access_log(
        self,
        request: Request[Any, Any, Any],
        access_log_service: AccessLog,
        case_id: CaseFilter = None,
        username: UsernameFilter = None,
        since: InstantFilter = None,
        until: InstantFilter = None,
        limit: LimitFilter = 200,
    ) -> Template:
        typed = {"case_id": case_id or "", "username": username or "", "since": since or "",
                 "until": until or ""}
        try:
            view = await access_log_service.entries(case_id, username, since, until, limit)
        except ProblemDetailsException as exc:
            refusal = Refusal(form="filters", field=problem_field(exc),
                              message=refusal_words(request, exc), typed=typed)
            return page(request, "access_log.html", status_code=exc.status_code, entries=(),
                        refusal=refusal, typed=typed, words=ACTION_WORDS, limit=limit)
        return page(request, "access_log.html", entries=view.entries, refusal=None,
                    typed=typed, words=ACTION_WORDS, limit=limit)
