"""The notebook over HTTP: ingest from channels outside Temporal, and the backlog."""

from __future__ import annotations

import asyncio
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import Parameter

from friction.ingest import BatchResult, decode_batch, ingest
from friction.store import FrictionStore
from gateway.errors import problem
from gateway.schemas import Backlog

MAX_BATCH_BYTES = 1_000_000


class FrictionController(Controller):
    path = "/api/friction"
    tags = ["friction"]

    @post("/events", status_code=200, summary="Ingest a batch of friction events")
    async def ingest_events(self, request: Request, store: NamedDependency[FrictionStore]) -> BatchResult:
        raw = await request.body()
        if len(raw) > MAX_BATCH_BYTES:
            raise problem(413, "Batch too large", f"at most {MAX_BATCH_BYTES} bytes")
        try:
            events, errors = decode_batch(raw)
        except ValueError as exc:
            raise problem(400, "Malformed batch", str(exc), field="events") from exc
        result = await asyncio.to_thread(ingest, store, events)
        return BatchResult(stored=result.stored, duplicates=result.duplicates, rejected=errors)

    @get("/backlog", summary="Stuck points ranked by the time they cost")
    async def backlog(
        self,
        store: NamedDependency[FrictionStore],
        bundle: Annotated[str | None, Parameter(max_length=64)] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
    ) -> Backlog:
        points = await asyncio.to_thread(store.stuck_points, bundle=bundle, limit=limit)
        return Backlog(stuck_points=tuple(points))
