"""The access log for auditors: who read or changed which case, when, from where."""

from __future__ import annotations

from litestar import Controller, get

from gateway.audit.schemas import AccessLogView
from gateway.audit.service import (
    AccessLog,
    CaseFilter,
    LimitFilter,
    UsernameFilter,
)
from gateway.auth import requires
from gateway.centres import centre_policy
from gateway.notebook.schemas import Instant


class AccessLogController(Controller):
    path = "/api/access-log"
    tags = ["audit"]
    guards = [requires("auditor")]
    opt = centre_policy("none")  # who read which case: case numbers, no personal value

    @get("/", summary="The access log: reads of residents' data and changes to cases",
         description="Newest first. `since` and `until` are a date (China-local midnight) "
         "or a time with its offset; the period is [since, until). Each entry names the "
         "account, its roles and centre, the action, the case number, the time (UTC), the "
         "client address and the answer's status. The log is append-only: no endpoint "
         "changes or deletes an entry; entries past the retention period are pruned.")
    async def entries(
        self,
        access_log_service: AccessLog,
        case_id: CaseFilter = None,
        username: UsernameFilter = None,
        since: Instant = None,
        until: Instant = None,
        limit: LimitFilter = 100,
    ) -> AccessLogView:
        return await access_log_service.entries(case_id, username, since, until, limit)
