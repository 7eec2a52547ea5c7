"""The verifier on a schedule: every so often the gateway judges each deployed fix by the
data (friction.notebook.run_verifier), so that reading the backlog writes nothing and
still shows a verdict no older than one period.

A fix is also judged the moment a person deploys it (notebook.transition with the
policy), and `onething notebook verify` runs the same check from cron or by hand. Several
gateways may run it at once: each move is saved only if the item still has the status
its verifier read (optimistic concurrency), so the first one wins and the rest skip it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from friction import notebook
from friction.store import BacklogStore
from friction.verification import VerificationPolicy

log = logging.getLogger(__name__)

VERIFY_EVERY_SECONDS = 300.0


class VerifierSchedule:
    """run_verifier every `every` seconds while the app runs (started and stopped by its
    lifespan hooks)."""

    def __init__(self, store: BacklogStore, policy: VerificationPolicy, every: float) -> None:
        if every <= 0:
            raise ValueError("every: a period in seconds, more than 0")
        self._store = store
        self._policy = policy
        self._every = every
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

    async def run_once(self) -> None:
        made = await asyncio.to_thread(
            notebook.run_verifier, self._store, self._policy, datetime.now(UTC)
        )
        for t in made:
            log.info("verifier: %s %s -> %s", t.fingerprint, t.from_status, t.to_status)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.run_once()
            except Exception:
                # A database hiccup must not end the schedule; the next period tries again.
                log.exception("verifier run failed")
