"""The baseline for bundle throughput: a workflow that runs as many activities as a
bundle case does, and nothing else."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench_noop")
async def noop(n: int) -> int:
    return n


@workflow.defn(name="BareWorkflow")
class BareWorkflow:
    @workflow.run
    async def run(self, activities: int) -> int:
        total = 0
        for n in range(activities):
            total += await workflow.execute_activity(
                "bench_noop", n, result_type=int, start_to_close_timeout=timedelta(seconds=10)
            )
        return total


@workflow.defn(name="BareClerkWorkflow")
class BareClerkWorkflow:
    """The baseline for a clerk's clicks: a workflow that takes an update (a value into
    its state, answered with the state) and answers a query, and does nothing else."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        return len(self.values)

    @workflow.update(name="bench_set")
    async def set_value(self, name: str, value: str) -> dict[str, str]:
        self.values[name] = value
        return self.values

    @workflow.query(name="bench_state")
    def state(self) -> dict[str, str]:
        return self.values

    @workflow.signal(name="bench_done")
    def finish(self) -> None:
        self.done = True
