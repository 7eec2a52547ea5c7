"""Activities that hand friction events and case records to the notebook's store.

The event ids are fixed by the workflow (case id and sequence), so a retried activity or
a replayed workflow stores each event once.
"""

from __future__ import annotations

import asyncio

from temporalio import activity

from friction.events import CaseRecord
from friction.ingest import ingest
from friction.store import FrictionStore
from workflows import ports


class FrictionCalls:
    def __init__(self, store: FrictionStore) -> None:
        self._store = store

    @activity.defn(name=ports.RECORD_FRICTION)
    async def record_friction(self, batch: ports.FrictionBatch) -> None:
        # The store is synchronous; keep the worker's event loop free while it writes.
        await asyncio.to_thread(ingest, self._store, list(batch.events))

    @activity.defn(name=ports.RECORD_CASE)
    async def record_case(self, record: CaseRecord) -> None:
        await asyncio.to_thread(self._store.upsert_case, record)
