"""Every Temporal Schedule the product keeps, made or brought up to date by `onething
setup`: created when missing, updated only when its spec, policy or action differ, so a
second run changes nothing. Whether an operator paused one is kept."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

ScheduleChange = Literal["created", "updated", "unchanged"]


async def ensure_schedule(
    client: Client, schedule_id: str, wanted: Schedule, arg_types: Sequence[type] = ()
) -> ScheduleChange:
    """Make `schedule_id` run `wanted`; `arg_types` decode its workflow's arguments for
    the comparison (they are sealed payloads on the server)."""
    try:
        await client.create_schedule(schedule_id, wanted)
    except ScheduleAlreadyRunningError:
        pass
    else:
        return "created"
    handle = client.get_schedule_handle(schedule_id)
    current = (await handle.describe()).schedule
    if await _same(client, current, wanted, arg_types):
        return "unchanged"

    def update(described: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(
            schedule=dataclasses.replace(wanted, state=described.description.schedule.state))

    await handle.update(update)
    return "updated"


async def _same(client: Client, current: Schedule, wanted: Schedule,
                arg_types: Sequence[type]) -> bool:
    if current.spec._to_proto() != wanted.spec._to_proto():
        return False
    if current.policy._to_proto() != wanted.policy._to_proto():
        return False
    have, want = current.action, wanted.action
    if not (isinstance(have, ScheduleActionStartWorkflow)
            and isinstance(want, ScheduleActionStartWorkflow)):
        return False
    plain = ("workflow", "id", "task_queue", "execution_timeout", "run_timeout",
             "task_timeout", "retry_policy")
    if any(getattr(have, f) != getattr(want, f) for f in plain):
        return False
    return await _decoded(client, have, arg_types) == list(want.args) and (
        await _text(client, have.static_summary) == want.static_summary)


async def _decoded(client: Client, action: ScheduleActionStartWorkflow,
                   arg_types: Sequence[type]) -> list[Any]:
    payloads = list(action.args)
    if not payloads:
        return []
    return await client.data_converter.decode(payloads, list(arg_types) or None)


async def _text(client: Client, summary: object) -> str | None:
    if summary is None or isinstance(summary, str):
        return summary
    [decoded] = await client.data_converter.decode([summary], [str])  # type: ignore[list-item]
    return str(decoded)
