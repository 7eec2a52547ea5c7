"""The allowance for residents aged 80+ made proactive (免申即享): the monthly match finds
exactly the residents due and not yet paid, opens one case each under a keyed case number,
opens nothing twice, and each case runs the review chain of 3 + 2 + 5 working days from a
grid worker's confirmation to the payment. The Schedule that runs the match monthly is
made idempotently."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime, timedelta

import httpx
import msgspec
import pytest
from conftest import ServedApp, bundle_start, known_values, time_skipping_calendar
from litestar.testing import AsyncTestClient
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleRange
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.worker import create_worker
from deploy.allowance import ensure_allowance_schedule, run_allowance_match
from deploy.local import free_port
from deploy.settings import AGENCIES
from deploy.sim.agencies import create_app as create_agency_sim
from deploy.sim.clerk import ClerkHabits, TemporalDesk, serve_case, wait_for
from deploy.sim.population import Citizen, generate
from friction.sqlite_store import SqliteFrictionStore
from gateway.cases.service import new_case_id
from kernel.case_number import CASE_ID_PATTERN, allowance_case_id
from kernel.china_time import CHINA_TZ, end_of_day, local_date
from kernel.events import ExtraWait
from kernel.pseudonym import keyed_ref
from workflows.allowance_case import (
    ALLOWANCE_BUNDLE,
    MATCH_WORKFLOW,
    MEMO_PERSON_REF,
    SCHEDULE_ID,
    AllowanceMatchInput,
    AllowanceMatchSummary,
)
from workflows.bundle import BundleWorkflow
from workflows.calendar_source import load_calendar
from workflows.case import SA_BUNDLE, SA_CENTRE
from workflows.definition import Catalogue
from workflows.operator_view import case_memo

TODAY = local_date(datetime.now(UTC))  # China's today: the schedule's month is China's
MONTH = f"{TODAY:%Y-%m}"
NEXT_MONTH = f"{date(TODAY.year + TODAY.month // 12, TODAY.month % 12 + 1, 1):%Y-%m}"
REVIEW_CHAIN = {"grid-worker-confirmation": 3, "civil-affairs-review": 2, "allowance-payment": 5}


def due_and_unpaid(people: Iterable[Citizen], month: str) -> set[str]:
    """The oracle, from the definition: 80 or over on some day of the month (born in or
    before that month 80 years earlier) and not paid by civil affairs."""
    year, mon = (int(p) for p in month.split("-"))
    return {
        p.id_number for p in people
        if (int(p.birth_date[:4]), int(p.birth_date[5:7])) <= (year - 80, mon)
        and not p.allowance_paid
    }


@pytest.fixture(scope="module")
def residents() -> list[Citizen]:
    return generate(seed=80, size=8, elderly=30, today=TODAY)


@pytest.fixture(scope="module")
async def elder_sim(residents: list[Citizen]) -> AsyncIterator[ServedApp]:
    async with ServedApp(create_agency_sim(residents), free_port()) as served:
        yield served


@pytest.fixture
async def sim(elder_sim: ServedApp) -> ServedApp:
    """The simulator as the population file has it: nobody paid by an earlier test."""
    async with httpx.AsyncClient() as http:
        (await http.post(f"{elder_sim.url}/admin/reset")).raise_for_status()
    return elder_sim


@pytest.fixture
def key() -> bytes:
    # Each test names its cases with its own key, so no two tests' cases share an id.
    return f"allowance-test-{uuid.uuid4().hex}".encode()


@pytest.fixture
def centre() -> str:
    return f"allowance-{uuid.uuid4().hex[:8]}"


@contextlib.asynccontextmanager
async def allowance_worker(
    client: Client, sim: ServedApp, store: SqliteFrictionStore, task_queue: str, key: bytes
) -> AsyncIterator[Worker]:
    async with httpx.AsyncClient(timeout=10) as http:
        worker = create_worker(
            client, agency_urls={a: f"{sim.url}/{a}" for a in AGENCIES}, store=store,
            http=http, task_queue=task_queue, pseudonym_key=key,
        )
        async with worker:
            yield worker


async def running_cases(client: Client, centre: str) -> set[str]:
    query = f"{SA_CENTRE} = '{centre}' AND ExecutionStatus = 'Running'"
    return {e.id async for e in client.list_workflows(query)}


async def until_listed(client: Client, centre: str, expected: set[str]) -> None:
    """Visibility lags: wait until the centre's running cases are listed as expected."""
    for _ in range(150):
        if await running_cases(client, centre) == expected:
            return
        await asyncio.sleep(0.1)
    assert await running_cases(client, centre) == expected


async def terminate(client: Client, case_ids: Iterable[str]) -> None:
    async def one(case_id: str) -> None:
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(case_id).terminate("test over")

    await asyncio.gather(*(one(c) for c in case_ids))


# -- the population and the simulator ----------------------------------------------------


def test_the_population_holds_residents_on_every_side_of_the_rule(
    residents: list[Citizen],
) -> None:
    working_age = generate(seed=80, size=8, today=TODAY)
    assert residents[:8] == working_age  # the elderly come after, changing nobody
    assert residents == generate(seed=80, size=8, elderly=30, today=TODAY)
    due = due_and_unpaid(residents, MONTH)
    by_birth = {p.birth_date: p for p in residents}
    last_day = date.fromisoformat(f"{NEXT_MONTH}-01") - timedelta(days=1)
    turns_80_this_month = by_birth[last_day.replace(year=last_day.year - 80).isoformat()]
    turns_80_next_month = by_birth[f"{int(NEXT_MONTH[:4]) - 80}-{NEXT_MONTH[5:]}-01"]
    assert turns_80_this_month.id_number in due
    assert turns_80_next_month.id_number not in due
    assert turns_80_next_month.id_number in due_and_unpaid(residents, NEXT_MONTH)
    paid_80_plus = [p for p in residents if p.allowance_paid]
    assert paid_80_plus and not due & {p.id_number for p in paid_80_plus}
    assert all(int(p.birth_date[:4]) <= TODAY.year - 80 for p in paid_80_plus)
    assert 5 <= len(due) < len(residents) - 8


async def test_civil_affairs_lists_who_is_due_and_finance_paying_takes_them_off(
    residents: list[Citizen],
) -> None:
    due = due_and_unpaid(residents, MONTH)
    async with AsyncTestClient(app=create_agency_sim(residents)) as client:
        listed = await client.get("/civil-affairs/allowance-candidates",
                                  params={"as_of": MONTH})
        assert listed.status_code == 200
        assert listed.json() == {"as_of": MONTH, "candidates": sorted(due)}
        for bad in ("2026-13", "202603", "2026-3x"):
            refused = await client.get("/civil-affairs/allowance-candidates",
                                       params={"as_of": bad})
            assert refused.status_code == 400, bad
            assert refused.json()["field"] == "as_of"

        first, second = sorted(due)[:2]
        # A finance approval that pays no allowance pays nobody; one that does, pays.
        for key, citizen, outputs in (("k1", second, ["subsidy.claim_no"]),
                                      ("k2", first, ["allowance.payment_no"])):
            paid = await client.post(
                "/finance/submissions", headers={"Idempotency-Key": key},
                json={"case_id": f"C-{key}", "step": "allowance-payment",
                      "form": {"id_number": citizen}, "outputs": outputs})
            assert paid.json()["status"] == "approved"
            assert paid.json()["receipt"].startswith("CZ-")
        after = await client.get("/civil-affairs/allowance-candidates",
                                 params={"as_of": MONTH})
        assert after.json()["candidates"] == sorted(due - {first})


def test_case_numbers_are_keyed_and_shaped_like_every_case_number() -> None:
    citizen = "320213194603310017"
    one = allowance_case_id(MONTH, citizen, b"k1")
    assert re.match(CASE_ID_PATTERN, one)
    assert one.startswith(f"{MONTH.replace('-', '')}01-")
    assert one == allowance_case_id(MONTH, citizen, b"k1")
    assert one != allowance_case_id(MONTH, citizen, b"k2")
    assert one[9:] != allowance_case_id(NEXT_MONTH, citizen, b"k1")[9:]
    assert one != allowance_case_id(MONTH, "320213194603310025", b"k1")
    with pytest.raises(ValueError):
        allowance_case_id(MONTH, citizen, b"")
    # The gateway's numbers come from the same shared code and have the same shape.
    assert re.match(CASE_ID_PATTERN, new_case_id(datetime.now(UTC), None))
    assert new_case_id(datetime.now(UTC), "k") == new_case_id(datetime.now(UTC), "k")


# -- the match on the dev server -----------------------------------------------------------


async def test_the_match_opens_one_case_per_due_resident_and_never_twice(
    dev_env: WorkflowEnvironment,
    sim: ServedApp,
    residents: list[Citizen],
    store: SqliteFrictionStore,
    task_queue: str,
    key: bytes,
    centre: str,
) -> None:
    client = dev_env.client
    due = due_and_unpaid(residents, MONTH)
    expected = {allowance_case_id(MONTH, c, key): c for c in due}
    opened: set[str] = set()
    try:
        async with allowance_worker(client, sim, store, task_queue, key):
            # Four cases a run: the match continues as new until every candidate is done.
            first = await run_allowance_match(client, task_queue, MONTH, centre, cases_per_run=4)
            opened |= set(first.opened_cases)
            assert (first.month, first.candidates, first.opened, first.already_open) == (
                MONTH, len(due), len(due), 0)
            assert set(first.opened_cases) == set(expected)
            assert len(first.opened_cases) == len(due)
            await until_listed(client, centre, set(expected))

            for case_id, citizen in expected.items():
                assert re.match(CASE_ID_PATTERN, case_id)
                handle = client.get_workflow_handle(case_id)
                described = await handle.describe()
                attrs = described.typed_search_attributes
                assert attrs.get(SearchAttributeKey.for_keyword(SA_BUNDLE)) == ALLOWANCE_BUNDLE
                assert attrs.get(SearchAttributeKey.for_keyword(SA_CENTRE)) == centre
                memo = await described.memo()
                # The operator's view (bundle, centre) and the person's keyed reference.
                assert memo == {**case_memo(Catalogue.load().default(ALLOWANCE_BUNDLE), centre),
                                MEMO_PERSON_REF: keyed_ref(citizen, key)}
                shown = f"{case_id} {attrs} {memo}"
                assert citizen not in shown and citizen[6:14] not in case_id
                # The dossier is filled once the case's look-ups have answered.
                progress = await wait_for(TemporalDesk(handle), lambda p: p.awaiting != "lookup")
                assert progress.bundle == ALLOWANCE_BUNDLE
                assert progress.dossier["identity.id_number"].value == citizen

            # The same month again: everyone due has a case already, nothing opens.
            again = await run_allowance_match(client, task_queue, MONTH, centre)
            opened |= set(again.opened_cases)
            assert (again.candidates, again.opened, again.already_open) == (len(due), 0, len(due))
            # A case closed this month (the grid worker found the resident gone) is not
            # opened again this month: its number is never reused.
            closed = sorted(expected)[0]
            await client.get_workflow_handle(closed).terminate("resident moved away")
            await until_listed(client, centre, set(expected) - {closed})
            third = await run_allowance_match(client, task_queue, MONTH, centre)
            assert (third.candidates, third.opened, third.already_open) == (len(due), 0, len(due))
            await until_listed(client, centre, set(expected) - {closed})

            # Next month: new are who turns 80 then and whose case was closed; this month's
            # open cases have other numbers, and their memo keeps them from opening twice.
            due_next = due_and_unpaid(residents, NEXT_MONTH)
            newly_due = due_next - due
            assert newly_due
            to_open = newly_due | {expected[closed]}
            following = await run_allowance_match(client, task_queue, NEXT_MONTH, centre)
            opened |= set(following.opened_cases)
            assert (following.candidates, following.opened, following.already_open) == (
                len(due_next), len(to_open), len(due) - 1)
            assert set(following.opened_cases) == {
                allowance_case_id(NEXT_MONTH, c, key) for c in to_open}
            await until_listed(client, centre,
                               set(expected) - {closed} | set(following.opened_cases))
    finally:
        await terminate(client, opened)


async def test_a_proactive_case_runs_the_review_chain_to_payment(
    dev_env: WorkflowEnvironment,
    sim: ServedApp,
    residents: list[Citizen],
    store: SqliteFrictionStore,
    task_queue: str,
    key: bytes,
    centre: str,
) -> None:
    client = dev_env.client
    calendar = load_calendar()
    due = due_and_unpaid(residents, MONTH)
    citizen = next(p for p in residents if p.id_number in sorted(due) and p.bank_account)
    case_id = allowance_case_id(MONTH, citizen.id_number, key)
    opened: set[str] = set()
    try:
        async with allowance_worker(client, sim, store, task_queue, key):
            summary = await run_allowance_match(client, task_queue, MONTH, centre)
            opened |= set(summary.opened_cases)
            assert case_id in summary.opened_cases
            handle = client.get_workflow_handle(case_id)
            desk = TemporalDesk(handle)
            # Everything is on record: the case waits on the grid worker, no clerk.
            waiting = await wait_for(desk, lambda p: p.awaiting == "worker", timeout=30)
            assert waiting.current_step == "grid-worker-confirmation"
            assert waiting.steps[0].missing_fields == ()
            final = await serve_case(desk, known_values(citizen),
                                     ClerkHabits(worker="网格员周"), timeout=30)

            assert final.status == "completed"
            assert [s.status for s in final.steps] == ["approved"] * 3
            assert final.fields_prefilled == final.fields_total  # nobody typed anything
            for step in final.steps:
                assert step.started_at is not None and step.due_on is not None
                working_days = REVIEW_CHAIN[step.id]
                assert step.due_on == calendar.add_working_days(
                    local_date(step.started_at), working_days), step.id
                assert calendar.working_days_between(
                    local_date(step.started_at), step.due_on) == working_days
            visit = final.steps[0].milestones[0]
            assert (visit.id, visit.actor) == ("confirmed", "网格员周")
            assert visit.evidence_ref and visit.due_at == end_of_day(calendar.add_working_days(
                local_date(final.steps[0].started_at), 3))
            assert final.dossier["allowance.payment_no"].value.startswith("CZ-")
            assert final.dossier["allowance.approval_no"].value.startswith("MZ-")
            assert [n.event for n in final.notifications] == [
                "step_started", "step_approved", "step_started", "step_approved",
                "case_completed"]

            # Paid now: next time round civil affairs no longer lists the resident.
            again = await run_allowance_match(client, task_queue, MONTH, centre)
            assert (again.candidates, again.opened, again.already_open) == (
                len(due) - 1, 0, len(due) - 1)
            record = next(c for c in store.iter_cases() if c.case_id == case_id)
            assert (record.status, record.channel, record.clerk_minutes) == (
                "completed", "proactive", 0)
    finally:
        await terminate(client, opened)


# -- the schedule ----------------------------------------------------------------------------


async def test_the_monthly_schedule_is_made_once_and_runs_the_match(
    dev_env: WorkflowEnvironment,
    sim: ServedApp,
    residents: list[Citizen],
    store: SqliteFrictionStore,
    task_queue: str,
    key: bytes,
    centre: str,
) -> None:
    client = dev_env.client
    handle = client.get_schedule_handle(SCHEDULE_ID)
    opened: set[str] = set()
    try:
        assert await ensure_allowance_schedule(client, task_queue, "somewhere-else") == "created"
        assert await ensure_allowance_schedule(client, task_queue, centre) == "updated"

        described = await handle.describe()
        (monthly,) = described.schedule.spec.calendars
        assert tuple(monthly.day_of_month) == (ScheduleRange(1),)
        assert tuple(monthly.hour) == (ScheduleRange(2),)
        assert tuple(monthly.minute) == (ScheduleRange(0),)
        assert tuple(monthly.month) == (ScheduleRange(1, 12),)
        assert described.schedule.spec.time_zone_name == "Asia/Shanghai"
        for upcoming in described.info.next_action_times[:3]:
            local = upcoming.astimezone(CHINA_TZ)
            assert (local.day, local.hour, local.minute) == (1, 2, 0)
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert (action.workflow, action.task_queue) == (MATCH_WORKFLOW, task_queue)
        # The second call updated the action: the centre is the one it named.
        (args,) = await client.data_converter.decode(action.args,  # type: ignore[arg-type]
                                                     [AllowanceMatchInput])
        assert args == AllowanceMatchInput(centre=centre)

        for _ in range(100):  # the list of schedules lags behind, like all visibility
            listed = [s.id async for s in await client.list_schedules()]
            if SCHEDULE_ID in listed:
                break
            await asyncio.sleep(0.1)
        assert listed.count(SCHEDULE_ID) == 1

        # A run of the schedule names its month from the time it was due.
        due = due_and_unpaid(residents, MONTH)
        async with allowance_worker(client, sim, store, task_queue, key):
            await handle.trigger()
            for _ in range(150):
                recent = (await handle.describe()).info.recent_actions
                if recent:
                    break
                await asyncio.sleep(0.1)
            run_id = recent[0].action.workflow_id  # type: ignore[attr-defined]
            summary = await client.get_workflow_handle(
                run_id, result_type=AllowanceMatchSummary).result()
            opened |= set(summary.opened_cases)
        assert (summary.month, summary.candidates, summary.opened) == (MONTH, len(due), len(due))
        assert await running_cases(client, "somewhere-else") == set()
    finally:
        await terminate(client, opened)
        with contextlib.suppress(RPCError):
            await handle.delete()


# -- the grid worker's clock on the time-skipping server -------------------------------------


async def test_a_missed_confirmation_visit_is_an_extra_wait(
    time_env: WorkflowEnvironment,
    sim: ServedApp,
    residents: list[Citizen],
    store: SqliteFrictionStore,
    task_queue: str,
    key: bytes,
) -> None:
    definition = Catalogue.load().default(ALLOWANCE_BUNDLE)
    citizen = next(p for p in residents
                   if p.id_number in due_and_unpaid(residents, MONTH) and p.bank_account)
    start = msgspec.structs.replace(
        bundle_start(definition, citizen, allowance_case_id(MONTH, citizen.id_number, key),
                     calendar=time_skipping_calendar()),
        channel="proactive")
    async with allowance_worker(time_env.client, sim, store, task_queue, key):
        handle = await time_env.client.start_workflow(
            BundleWorkflow.run, start, id=start.case_id, task_queue=task_queue,
            execution_timeout=timedelta(days=60))
        for _ in range(100):
            progress = await handle.query(BundleWorkflow.progress)
            if progress.awaiting == "worker":
                break
            await asyncio.sleep(0.05)
        assert progress.awaiting == "worker"
        started = progress.steps[0].started_at
        assert started is not None
        await time_env.sleep(timedelta(days=12))  # 3 working days and any weekend between
        for _ in range(100):
            waits = [e for e in store.events_for_case(start.case_id) if isinstance(e, ExtraWait)]
            if len(waits) == 2:
                break
            await asyncio.sleep(0.05)
        await handle.terminate()

    # The calendar the case carried, for the time-skipping server's (shifted) years.
    due_at = end_of_day(start.calendar.add_working_days(local_date(started), 3))
    missed = next(w for w in waits if w.milestone == "confirmed")
    assert (missed.scope, missed.agency, missed.sla_working_days, missed.due_at) == (
        "step", "community", 3, due_at)
    assert missed.channel == "proactive"
    assert missed.actual_seconds is not None
    assert missed.actual_seconds >= (due_at - started).total_seconds()
    assert missed.calendar == start.calendar.id
    step = next(w for w in waits if w.milestone is None)
    assert (step.sla_working_days, step.due_at) == (3, due_at)
    # The notebook refers to the resident by case number only.
    for event in store.events_for_case(start.case_id):
        assert citizen.id_number not in msgspec.json.encode(event).decode()
