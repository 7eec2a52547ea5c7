"""Reading the access log, shared by the API and the console page."""

from __future__ import annotations

import asyncio
from typing import Annotated

from litestar.di import NamedDependency
from litestar.params import Parameter

from friction.store import AccessLogStore, FrictionStore
from friction.store.access_log import MAX_ENTRIES
from gateway.audit.schemas import AccessLogView
from gateway.notebook.service import parse_instant

# The filters, as the API and the page take them.
CaseFilter = Annotated[str | None, Parameter(max_length=64)]
UsernameFilter = Annotated[str | None, Parameter(max_length=32)]
InstantFilter = Annotated[str | None, Parameter(max_length=40)]
LimitFilter = Annotated[int, Parameter(ge=1, le=MAX_ENTRIES)]


class AccessLogService:
    def __init__(self, store: AccessLogStore) -> None:
        self.store = store

    async def entries(
        self,
        case_id: str | None = None,
        username: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 100,
    ) -> AccessLogView:
        """The entries matching the filters, newest first; a bad instant is a 422 naming
        `since` or `until`."""
        start, end = parse_instant("since", since), parse_instant("until", until)
        found = await asyncio.to_thread(
            self.store.access_entries, case_id=case_id or None, username=username or None,
            since=start, until=end, limit=limit,
        )
        return AccessLogView(entries=tuple(found), limit=limit)


def provide_access_log_service(store: NamedDependency[FrictionStore]) -> AccessLogService:
    return AccessLogService(store)


# A handler takes the service as `access_log_service: AccessLog`.
AccessLog = NamedDependency[AccessLogService]
