"""A stand-in for BundleWorkflow after its last allowed rejection, importing the register
as bundle.py does, so the test runs it in the same sandbox."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.cant_get_it_done import register_from_bundle
    from workflows.case import CaseStart

STEP = "flexible-insurance-enrollment"


@workflow.defn(name="TestFailingBundleCase")
class FailingBundleCase:
    @workflow.run
    async def run(self, start: CaseStart) -> None:
        await register_from_bundle(start, step=STEP, department="social-insurance")
        # Registering again (a retried step, a clerk first) names the same case.
        await register_from_bundle(start, step=STEP, department="social-insurance")
