"""The activity behind the verifier's schedule (workflows.verifier): the notebook's check
of every deployed fix, through friction.notebook, against the worker's store."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from temporalio import activity

from friction import notebook
from friction.store import BacklogStore
from friction.verification import VerificationPolicy
from workflows.verifier import RUN_VERIFIER, VerifierMove, VerifierRun

log = logging.getLogger(__name__)


class VerifierCalls:
    """`policy` judges each fix (default: VerificationPolicy()); `clock` is when the
    verdicts are made (now, unless a test pins it)."""

    def __init__(self, store: BacklogStore, policy: VerificationPolicy | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self._store = store
        self._policy = policy or VerificationPolicy()
        self._clock = clock or (lambda: datetime.now(UTC))

    @activity.defn(name=RUN_VERIFIER)
    async def run_verifier(self) -> VerifierRun:
        # Several runs may overlap (a trigger by hand during a scheduled one): each move
        # is saved only if the item still has the status its verifier read.
        made = await asyncio.to_thread(
            notebook.run_verifier, self._store, self._policy, self._clock())
        for t in made:
            log.info("verifier: %s %s -> %s", t.fingerprint, t.from_status, t.to_status)
        return VerifierRun(moved=tuple(
            VerifierMove(fingerprint=t.fingerprint, from_status=t.from_status,
                         to_status=t.to_status) for t in made))
