"""The baseline for bundle throughput: a workflow that does to the engine what a bundle
case does (the same activities with payloads of the same sizes, scheduled in the same
workflow tasks; the same number of updates at the same points; the same number of
queries), and nothing of our own.

A bundle case's history is read into a BarePlan (`plan_of`); a BareCaseWorkflow runs it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import msgspec
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History

BARE_ACTIVITY = "bench_payload"
DONE = -1  # BareState.waiting_for once the plan has run


class Blob(msgspec.Struct, kw_only=True, frozen=True):
    """An activity's argument: padding as large as the bundle's argument, and how large
    the answer should be."""

    padding: str
    reply: int


class Batch(msgspec.Struct, kw_only=True, frozen=True, tag="batch"):
    """Activities the bundle scheduled in one workflow task: (argument, result) bytes."""

    activities: tuple[tuple[int, int], ...]


class UpdatePoint(msgspec.Struct, kw_only=True, frozen=True, tag="update"):
    """The bundle accepted an update here, with an argument of this many bytes."""

    argument: int


class BarePlan(msgspec.Struct, kw_only=True, frozen=True):
    items: tuple[Batch | UpdatePoint, ...]

    @property
    def updates(self) -> int:
        return sum(isinstance(i, UpdatePoint) for i in self.items)

    @property
    def activities(self) -> int:
        return sum(len(i.activities) for i in self.items if isinstance(i, Batch))


class BareState(msgspec.Struct, kw_only=True, frozen=True):
    """What the bare case's query and updates answer: which update it waits for."""

    waiting_for: int
    updates: int


def _size(payloads: Payloads) -> int:
    return sum(len(p.data) for p in payloads.payloads)


def plan_of(history: History) -> BarePlan:
    """The engine's work in a bundle case's history, in order."""
    items: list[Batch | UpdatePoint] = []
    scheduled: dict[int, tuple[int, int]] = {}  # event id -> (batch index, position)
    sizes: list[list[list[int]]] = []  # per batch, per activity: [argument, result]
    last_task: int | None = None
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if not (items and isinstance(items[-1], Batch)
                    and attrs.workflow_task_completed_event_id == last_task):
                items.append(Batch(activities=()))
                sizes.append([])
            last_task = attrs.workflow_task_completed_event_id
            scheduled[event.event_id] = (len(sizes) - 1, len(sizes[-1]))
            sizes[-1].append([_size(attrs.input), 0])
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs_c = event.activity_task_completed_event_attributes
            batch, at = scheduled[attrs_c.scheduled_event_id]
            sizes[batch][at][1] = _size(attrs_c.result)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            items.append(UpdatePoint(argument=_size(request.input.args)))
            last_task = None
    batches = iter(sizes)
    return BarePlan(items=tuple(
        Batch(activities=tuple((a, r) for a, r in next(batches)))
        if isinstance(item, Batch) else item
        for item in items
    ))


@activity.defn(name=BARE_ACTIVITY)
async def payload(blob: Blob) -> str:
    return "x" * blob.reply


@workflow.defn(name="BareCaseWorkflow")
class BareCaseWorkflow:
    def __init__(self) -> None:
        self._waiting_for = 0
        self._updates = 0

    @workflow.run
    async def run(self, plan: BarePlan) -> BareState:
        point = 0
        for item in plan.items:
            if isinstance(item, UpdatePoint):
                self._waiting_for = point
                await workflow.wait_condition(lambda: self._updates > self._waiting_for)
                point += 1
                continue
            await asyncio.gather(*(
                workflow.execute_activity(
                    BARE_ACTIVITY, Blob(padding="x" * max(argument - 30, 0), reply=result),
                    result_type=str, start_to_close_timeout=timedelta(seconds=10),
                )
                for argument, result in item.activities
            ))
        self._waiting_for = DONE
        return self.state()

    @workflow.query(name="state")
    def state(self) -> BareState:
        return BareState(waiting_for=self._waiting_for, updates=self._updates)

    @workflow.update(name="step")
    def step(self, padding: str) -> BareState:
        self._updates += 1
        return self.state()

    @step.validator
    def _check_step(self, padding: str) -> None:
        if self._waiting_for == DONE:
            raise ValueError("the bare case has ended")
