"""The baseline for a clerk's clicks (bench/clerk_latency.py): the engine's own update,
query and start, with nothing of the product around them."""

from __future__ import annotations

from temporalio import workflow


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
