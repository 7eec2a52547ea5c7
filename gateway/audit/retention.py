"""The access log's retention: entries older than the retention period are pruned when
the gateway starts and once a day while it runs. Several gateways may prune at once; a
DELETE of rows already gone removes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from friction.store import AccessLogStore

log = logging.getLogger(__name__)

# PIPL names no period; three years matches what an audit of the service usually looks
# back over. A setting (ONETHING_ACCESS_LOG_RETENTION_DAYS) changes it.
DEFAULT_RETENTION = timedelta(days=3 * 365 + 1)
PRUNE_EVERY_SECONDS = 24 * 3600.0


class AccessLogRetention:
    def __init__(
        self,
        store: AccessLogStore,
        keep: timedelta = DEFAULT_RETENTION,
        every: float = PRUNE_EVERY_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if keep <= timedelta(0) or every <= 0:
            raise ValueError("keep and every: more than 0")
        self._store = store
        self._keep = keep
        self._every = every
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def prune_once(self) -> int:
        pruned = await asyncio.to_thread(self._store.prune_access_log, self._clock() - self._keep)
        if pruned:
            log.info("access log: %d entries past the retention period pruned", pruned)
        return pruned

    async def _run(self) -> None:
        while True:
            try:
                await self.prune_once()
            except Exception:
                # A database hiccup must not end the schedule; the next day tries again.
                log.exception("access log pruning failed")
            await asyncio.sleep(self._every)
