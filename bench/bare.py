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
