"""Record the saved histories in histories/ by running the tests that make those cases.

Run by hand, from the repository root, with the code whose behaviour the histories are to
pin (before a change to the engine, never after it):

    python tests/workflows/record_histories.py            # every scenario below
    python tests/workflows/record_histories.py NAME ...   # only these

Each scenario names a test, a workflow type and which workflow of that type the test
started (0: its first). The tests run as usual, their assertions included; every workflow
a test starts through a client, and every child those start, has its history fetched
before the test's server shuts down. Only the scenarios asked for are written. The cases
are the tests' synthetic citizens (the simulator's generated population), never real
people. test_replay.py replays every file in histories/.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

HERE = Path(__file__).parent
HISTORIES = HERE / "histories"

# name -> (test node id under tests/workflows/, workflow type, which of that type: its
# index in start order, or LONGEST: the one with the most events)
LONGEST = -1
SCENARIOS: dict[str, tuple[str, str, int]] = {
    # Material rules: every finding at once, papers, a return visit that reads the records
    # again, the lease's dates typed; completed.
    "permit_first_review": (
        "test_residence_permit.py::"
        "test_the_first_review_names_every_deficiency_and_one_return_completes",
        "BundleWorkflow", 0),
    # Three rejections by the agency: piecemeal rejections, repeat trips, the case failed
    # and registered as can't get it done (a child workflow).
    "permit_three_rejections": (
        "test_residence_permit.py::"
        "test_the_old_window_takes_three_trips_and_the_notebook_shows_why",
        "BundleWorkflow", 0),
    # Return trips one a day: the third visit stated by the clerk as another the same
    # day (again_today with its reason), recorded once the limits were in.
    "permit_trip_stated_again_today": (
        "test_residence_permit.py::"
        "test_the_old_window_takes_three_trips_and_the_notebook_shows_why",
        "BundleWorkflow", 0),
    "cgid_from_bundle": (
        "test_residence_permit.py::"
        "test_the_old_window_takes_three_trips_and_the_notebook_shows_why",
        "CantGetItDoneWorkflow", 0),
    # The service window: a submission cut off by the closing margin, held to the next
    # opening and judged again that day; a case the window closed on while the clerk
    # served it.
    "permit_window_cut_off": (
        "test_residence_permit.py::"
        "test_closing_time_is_friction_and_the_case_continues_at_the_next_opening",
        "BundleWorkflow", 0),
    "permit_window_closed_on_clerk": (
        "test_residence_permit.py::"
        "test_closing_time_is_friction_and_the_case_continues_at_the_next_opening",
        "BundleWorkflow", 1),
    # Can't be completed today: closed as not eligible; withdrawn.
    "permit_not_eligible": (
        "test_close_case.py::"
        "test_a_case_the_citizen_cannot_complete_today_closes_as_not_eligible",
        "BundleWorkflow", 0),
    "permit_withdrawn": (
        "test_close_case.py::"
        "test_a_citizen_withdraws_and_a_case_without_a_failed_rule_is_not_closed_as_such",
        "BundleWorkflow", 0),
    # A published calendar (signal) moving an open step's SLA, which then breaches.
    "calendar_published_sla": (
        "test_calendar_years.py::"
        "test_a_schedule_published_while_the_case_is_open_moves_its_deadline",
        "BundleWorkflow", 0),
    # Task steps with milestones, notifications, SLA and milestone breaches.
    "repair_missed_promises": (
        "test_service_bundles.py::test_every_missed_promise_is_an_extra_wait_of_its_own"
        "[public-repair-urgent-repair-wait0]",
        "BundleWorkflow", 0),
    "mediation_missed_promises": (
        "test_service_bundles.py::test_every_missed_promise_is_an_extra_wait_of_its_own"
        "[property-mediation-three-party-meeting-wait4]",
        "BundleWorkflow", 0),
    "allowance_case_notified": (
        "test_allowance.py::test_a_proactive_case_runs_the_review_chain_to_payment",
        "BundleWorkflow", LONGEST),  # the match's child the test serves to its end
    # Prefilled values typed again (the reentry-over-prefill patch) and corrections.
    "reentry_over_prefill": (
        "test_bundle_clerk.py::"
        "test_a_prefilled_value_typed_again_is_a_reentry_and_a_different_one_a_correction",
        "BundleWorkflow", 0),
    # The can't-get-it-done register: escalations, a published calendar, an answer.
    "cgid_escalations": (
        "test_cant_get_it_done.py::"
        "test_escalates_as_the_deadline_nears_and_again_when_it_passes_unanswered",
        "CantGetItDoneWorkflow", 0),
    "cgid_calendar_published": (
        "test_cant_get_it_done.py::"
        "test_a_calendar_published_while_registered_moves_the_escalation_not_yet_reached",
        "CantGetItDoneWorkflow", 0),
    "cgid_resolved": (
        "test_cant_get_it_done.py::test_task_force_resolves_the_case_and_the_register_records_it",
        "CantGetItDoneWorkflow", 0),
    # The monthly allowance match: children started, continued as new (4 cases a run).
    "allowance_match": (
        "test_allowance.py::test_the_match_opens_one_case_per_due_resident_and_never_twice",
        "AllowanceMatchWorkflow", 0),
}


class Recorder:
    """A pytest plugin: remembers the workflows each test starts and fetches their
    histories (and their children's) when a worker stops and before a server shuts
    down, so each holds what the test did."""

    def __init__(self) -> None:
        self.test = ""
        self.started: list[tuple[str, Client, str, str | None]] = []  # test, client, id, run
        # test -> (workflow id, run id) -> its history as last fetched, in start order
        self.histories: dict[str, dict[tuple[str, str | None], WorkflowHistory]] = {}

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.test = item.nodeid.split("tests/workflows/")[-1]

    def pytest_configure(self, config: pytest.Config) -> None:
        recorder = self
        start = Client.start_workflow
        shutdown = WorkflowEnvironment.shutdown
        worker_exit = Worker.__aexit__

        @functools.wraps(start)
        async def start_workflow(client: Client, *args: Any, **kwargs: Any) -> Any:
            handle: WorkflowHandle[Any, Any] = await start(client, *args, **kwargs)
            recorder.started.append(
                (recorder.test, client, handle.id, handle.first_execution_run_id))
            return handle

        @functools.wraps(shutdown)
        async def shutdown_env(env: WorkflowEnvironment) -> None:
            await recorder.fetch(env.client)
            await shutdown(env)

        @functools.wraps(worker_exit)
        async def exit_worker(worker: Worker, *exc: Any) -> Any:
            await recorder.fetch(worker.client)
            return await worker_exit(worker, *exc)

        Client.start_workflow = start_workflow  # type: ignore[method-assign]
        WorkflowEnvironment.shutdown = shutdown_env  # type: ignore[method-assign]
        Worker.__aexit__ = exit_worker  # type: ignore[method-assign]

    async def fetch(self, client: Client) -> None:
        """(Again) the histories the current test started on this client's server."""
        for test, started_by, workflow_id, run_id in list(self.started):
            if test == self.test and started_by.service_client is client.service_client:
                await self._fetch(client, workflow_id, run_id)

    async def _fetch(self, client: Client, workflow_id: str, run_id: str | None) -> None:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        self.histories.setdefault(self.test, {})[(workflow_id, run_id)] = history
        for event in history.events:
            if event.HasField("start_child_workflow_execution_initiated_event_attributes"):
                child = event.start_child_workflow_execution_initiated_event_attributes
                await self._fetch(client, child.workflow_id, None)

    def pick(self, test: str, workflow_type: str, index: int) -> WorkflowHistory:
        of_type = [h for h in self.histories.get(test, {}).values()
                   if h.events[0].workflow_execution_started_event_attributes
                   .workflow_type.name == workflow_type]
        if len(of_type) <= index or not of_type:
            raise LookupError(f"{test} started no {workflow_type} #{index}")
        if index == LONGEST:
            return max(of_type, key=lambda h: len(h.events))
        return of_type[index]


def main(names: list[str]) -> int:
    wanted = {n: SCENARIOS[n] for n in names} if names else SCENARIOS
    tests = sorted({test for test, _, _ in wanted.values()})
    recorder = Recorder()
    code = pytest.main(["-q", "-p", "no:logging", "-p", "no:cacheprovider",
                        *(str(HERE / t) for t in tests)], plugins=[recorder])
    if code != 0:
        print("the tests failed: no history written", file=sys.stderr)
        return int(code)
    HISTORIES.mkdir(exist_ok=True)
    for name, (test, workflow_type, index) in sorted(wanted.items()):
        history = recorder.pick(test, workflow_type, index)
        (HISTORIES / f"{name}.json").write_text(history.to_json(), encoding="utf-8")
        print(f"{name}: {len(history.events)} events")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
