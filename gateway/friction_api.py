"""The notebook over HTTP: ingest from channels outside Temporal. The backlog and the rest
of the notebook's loop are in gateway.notebook_api."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency

from friction.ingest import BatchResult, decode_batch, ingest
from friction.store import FrictionStore
from gateway.auth import requires
from gateway.errors import problem

MAX_BATCH_BYTES = 1_000_000


class FrictionController(Controller):
    path = "/api/friction"
    tags = ["friction"]
    # Online channels send their friction as services; clerks' consoles may too.
    guards = [requires("channel", "clerk")]

    @post("/events", status_code=200, summary="Ingest a batch of friction events")
    async def ingest_events(
        self, request: Request[Any, Any, Any], store: NamedDependency[FrictionStore]
    ) -> BatchResult:
        raw = await request.body()
        if len(raw) > MAX_BATCH_BYTES:
            raise problem(413, "Batch too large", f"at most {MAX_BATCH_BYTES} bytes")
        try:
            events, errors = decode_batch(raw)
        except ValueError as exc:
            raise problem(400, "Malformed batch", str(exc), field="events") from exc
        result = await asyncio.to_thread(ingest, store, events)
        return BatchResult(stored=result.stored, duplicates=result.duplicates, rejected=errors)
